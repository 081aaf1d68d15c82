"""Stage specs: one model per stage kind, tagged by `kind`, with its typed inputs and output.

A spec names its inputs by reference (a model or data name, or an earlier stage id). `INPUTS` maps
those fields to the artifact type they must carry; the compiler checks it before anything runs.
Fields in `NON_RESULT` (and `id`, `resources`, the input fields) stay out of the fingerprint.

What a stage kind is lives on its spec class, as the upper-case class variables of `StageSpec`
(version, light, sampling, report curves, ...): the runners, the report and the compiler read them
there, so a new kind is a spec here, a module in `stages/` and one line in `stages/registry.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import Field, model_validator

from schemas._base import Schema
from schemas.artifacts import ArtifactType
from schemas.data import DataSpec
from schemas.models import ModelSpec
from schemas.names import StageId
from schemas.resources import Resources
from schemas.rollout_scaling import RolloutScaling


class Curve(NamedTuple):
    """A training curve the report plots from a stage's TensorBoard scalars."""

    suffix: str
    """File name suffix of the plot (`<stage>-<suffix>.png`)."""
    tag: str
    """TensorBoard scalar tag."""
    label: str
    """Y axis label."""
    parts: str = ""
    """A glob of further tags drawn thinner beside `tag`, e.g. `train/rewards/*/mean` (the reward's parts)."""
    note: str = ""
    """What the curve tells a researcher, one sentence under the plot."""


class StageSpec(Schema):
    """What every stage has: its kind, an id unique in the recipe, and resources."""

    kind: str
    """The stage kind (each subclass narrows it to its own name)."""
    id: StageId
    """Unique name of the stage; later stages refer to its output by it."""
    resources: Resources = Resources()
    """Processes, strategy, accelerators (never part of the fingerprint)."""
    matrix: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    """Fan out into one branch per combination of values, e.g. `{lr: [1e-5, 1e-4]}`; stages that use
    this one fan out with it, and list inputs (evaluate's `models`) take every branch."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {}
    OUTPUT: ClassVar[ArtifactType]
    OUTPUTS: ClassVar[dict[str, ArtifactType]] = {}
    """Named outputs besides the main one (split: `mastered`, `injection`, `heldout`). Each is an artifact
    of its own, referenced as `<stage id>.<name>`, fingerprinted, planned and committed like any other; the
    stage writes each into `ctx.out/<name>/`, laid out like an artifact of its type."""
    NON_RESULT: ClassVar[frozenset[str]] = frozenset()
    DISTRIBUTED: ClassVar[bool] = False
    """Whether the stage can run as several processes (the training stages)."""
    INPUT_KINDS: ClassVar[dict[str, str]] = {}
    """Inputs that must come from one stage kind (a replay buffer exists only in a grpo output)."""
    INPUT_PATHS: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Where an input that is not a field of its own lies in the block (for located errors)."""
    VERSION: ClassVar[int] = 1
    """Version of the stage's code (`stages/<kind>.py`); part of every fingerprint of this kind. Bump it
    when that code changes what the stage produces: every cached output of the kind is redone."""
    LIGHT: ClassVar[bool] = False
    """The stage only moves files (no accelerator): on the cloud it rides on whatever machine is up."""
    SAMPLING: ClassVar[bool] = False
    """The stage samples from models and may use every GPU from one process (vLLM tensor parallelism)."""
    CURVES: ClassVar[tuple[Curve, ...]] = ()
    """Training curves the report plots for this stage."""
    REPLAY_CURVES: ClassVar[bool] = False
    """Without TensorBoard logs, the report draws reward and length curves from the stage's replay buffer."""
    METRICS_TABLE: ClassVar[bool] = False
    """The stage's `report.json` holds metrics per model (`models: {name: {accuracy, ...}}`): the report
    shows them as a table and an accuracy bar plot."""
    MEMORY: ClassVar[str | None] = None
    """The memory model the fit check estimates a training kind with (`sft` or `grpo`, sdk/fit/estimate.py);
    None for a kind that trains nothing. Every DISTRIBUTED kind needs one (the registry test checks)."""
    BATCH: ClassVar[tuple[str, str] | None] = None
    """A training kind's field that sizes the rows each step draws, and what it counts: `plan` warns when a
    dataset has fewer rows than one batch."""
    FORGETTING_TABLE: ClassVar[bool] = False
    """The stage's `report.json` holds learned / forgotten counts per model, with per-epoch histories, and
    `forgetting.png` plots them: the report shows both."""

    @model_validator(mode="after")
    def _processes_supported(self) -> StageSpec:
        if self.resources.processes > 1 and not self.DISTRIBUTED:
            raise ValueError(f"{self.kind} stages run as one process; only sft and grpo take resources.processes > 1")
        return self

    def non_result(self) -> frozenset[str]:
        """Dotted field paths that do not change the result (left out of the fingerprint)."""
        return self.NON_RESULT

    def outputs(self) -> dict[str, ArtifactType]:
        """This stage's named outputs: `OUTPUTS`, or more where the spec's own fields add some (partition's
        difficulty groups, one per `groups`)."""
        return self.OUTPUTS


class ModelStage(StageSpec):
    """Materialise a named model: build a `tiny:` one, convert a shipped one, or pin a hub id / folder."""

    kind: Literal["model"] = "model"
    model: ModelSpec
    content: str | None = None
    """Fingerprint of a local folder's files (set by the compiler)."""
    OUTPUT: ClassVar[ArtifactType] = "model"
    LIGHT: ClassVar[bool] = True

    def non_result(self) -> frozenset[str]:
        # A local folder is identified by its files, not by where it lies.
        return frozenset({"model.source"}) if self.content else frozenset()


class DatasetStage(StageSpec):
    """Materialise a named dataset into JSONL rows that carry their own verifier settings."""

    kind: Literal["dataset"] = "dataset"
    data: DataSpec
    content: str | None = None
    """Digest of a local file's bytes or a saved dataset folder's files (set by the compiler); where it lies
    is not part of the result."""
    OUTPUT: ClassVar[ArtifactType] = "dataset"
    LIGHT: ClassVar[bool] = True

    def non_result(self) -> frozenset[str]:
        mix = self.data.source == "mix"
        parts = self.data.parts if mix else [self.data]
        prefixes = [f"data.parts.{i}." for i in range(len(parts))] if mix else ["data."]
        out = set()
        for at, part in zip(prefixes, parts, strict=True):
            if self.content and _local_key(part):
                out.add(f"{at}{_local_key(part)}")
            if getattr(part, "grader", None) == "exact":  # added later: left out at its default, so caches stay
                out.add(f"{at}grader")
        return frozenset(out)


def _local_key(data: Any) -> str | None:
    """The field that holds where a local source lies (made absolute by the compiler): not part of the result."""
    if data.source in ("jsonl", "mcq"):
        return "path"
    if data.source == "hf" and data.id.startswith("/"):
        return "id"
    return None


class LoraSpec(Schema):
    """PEFT LoRA settings; by default the adapter is merged into a full model artifact."""

    r: int = Field(default=16, ge=1)
    """LoRA rank (the adapter's inner dimension)."""
    alpha: int = Field(default=32, ge=1)
    """LoRA scaling numerator: the update is scaled by alpha / r."""
    dropout: float = Field(default=0.05, ge=0, lt=1)
    """Dropout on the adapter's input during training."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Modules that get adapters: `all-linear`, or names such as `[q_proj, v_proj]`."""
    merge: bool = True
    """Merge the adapter into the weights (else the artifact keeps the adapter beside the base)."""


class CnlSpec(Schema):
    """Collaborative Neural Learning: step only along coordinates that agree in sign with the mean
    gradient on the mastered set (g_M), so to first order the mastered loss cannot rise (METHODS.md, section 4)."""

    ref_grad_every: Literal["epoch"] | Annotated[int, Field(ge=1)] = "epoch"
    """Recompute g_M at the current weights once per epoch (the paper), or every N optimizer steps."""
    ref_batch_size: int = Field(default=8, ge=1)
    """Mastered rows per forward pass while computing g_M (the mean is over rows either way)."""


class MiguSpec(Schema):
    """MIGU: in each linear layer update only the rows with the largest output magnitude (METHODS.md, section 5)."""

    keep_quantile: float = Field(default=0.7, ge=0, lt=1)
    """Rows whose summed |output| is below this quantile are frozen for the step (0.7: top 30% move)."""


class TrainingStage(StageSpec):
    """What the training stages share: a model trained on a dataset, LoRA, precision and checkpoints."""

    model: str
    """Model to train: a model name or a stage that outputs a model."""
    data: str
    """Training rows (a dataset name or a stage that outputs one)."""
    lr: float = Field(default=1e-5, gt=0)
    """Peak learning rate."""
    grad_accum: int = Field(default=1, ge=1)
    """Split each step's batch into this many sequential micro-batches (saves memory)."""
    lora: LoraSpec | None = None
    """Train a LoRA adapter instead of every weight (null: full fine-tuning)."""
    bf16: bool = False
    """Compute in bfloat16 autocast (GPUs that support it); with `dtype: float32` that is mixed precision
    over fp32 master weights, gradients and optimizer states."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """What the trained weights are held in, whatever the checkpoint's dtype: `float32` (fp32 weights,
    gradients and Adam moments: 16 bytes per parameter, the usual master-weight setup) or `bfloat16`
    (everything in bf16: half the memory, no fp32 master copy, so small updates can round away).
    The fit check counts the same bytes; DeepSpeed keeps its own fp32 master copy either way."""
    activation_checkpointing: bool = True
    """Recompute each layer's activations in the backward pass instead of keeping them: far less memory
    at long sequence lengths for about a third more compute (TRL's default)."""
    seed: int = 0
    """Seed of initialisation and data order."""
    logging_steps: int = Field(default=1, ge=1)
    """Log metrics (loss, reward, ...) every this many steps."""
    save_steps: int = Field(default=50, ge=1)
    """Trainer checkpoint interval, so an interrupted stage resumes from its last checkpoint."""
    save_minutes: float | None = Field(default=None, gt=0)
    """Also checkpoint whenever this many minutes have passed since the last save (bounds the work a
    preemption loses when steps are long)."""
    if_empty: Literal["fail", "pass"] = "fail"
    """With no training rows: `fail`, or `pass` the input model on unchanged, saying so in the stage's
    summary (CoScale-RL's pools may be empty at run time). Never part of the fingerprint."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "model"
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"logging_steps", "save_steps", "save_minutes",
                                                      "activation_checkpointing"})
    DISTRIBUTED: ClassVar[bool] = True
    CURVES: ClassVar[tuple[Curve, ...]] = (
        Curve("loss", "train/loss", "loss", note="Training loss (cross-entropy per response token); it should fall."),
        Curve("lr", "train/learning_rate", "learning rate",
              note="The schedule: warmup, then cosine, linear or constant."),
    )
    VERSION: ClassVar[int] = 2
    """2: writes `training.json` (SFT examples and RL responses behind the model)."""

    def non_result(self) -> frozenset[str]:
        added = {"dtype"} if self.dtype == "float32" else set()  # added later at what ran before: caches stay
        return self.NON_RESULT | {"if_empty"} | added


class SftStage(TrainingStage):
    """Supervised fine-tuning with TRL's SFTTrainer (full or LoRA), loss on the response only."""

    kind: Literal["sft"]
    data: str
    """Rows with `prompt` and `response` (or `target: answer`)."""
    target: Literal["response", "answer"] = "response"
    """Train on each row's `response`, or on its gold answer written with `answer_format`."""
    answer_format: str = "<answer>{answer}</answer>"
    """How `target: answer` writes each row's gold answer; `{answer}` is replaced by it."""
    epochs: float = Field(default=1.0, gt=0)
    """Passes over the data (fractions allowed); `max_steps` overrides it."""
    max_steps: int | None = Field(default=None, ge=1)
    """Stop after this many optimizer steps (overrides epochs)."""
    batch_size: int = Field(default=8, ge=1)
    """Examples per optimizer step, across all processes (the global batch, so results do not depend
    on how many processes share it)."""
    max_length: int = Field(default=1024, ge=8)
    """Longest tokenized example in tokens; longer ones are truncated."""
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    """Learning-rate schedule after warmup."""
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Fraction of the steps spent warming the learning rate up from 0."""
    weight_decay: float = Field(default=0.0, ge=0)
    """AdamW weight decay."""
    optimizer: Literal["adamw", "adam", "sgd", "momentum"] = "adamw"
    """`adamw` is the trainer's default; `momentum` is SGD with `momentum`."""
    momentum: float = Field(default=0.9, ge=0, lt=1)
    """For `optimizer: momentum`."""
    cnl: CnlSpec | None = None
    """Mask every step against the mastered-set gradient (needs `mastered`)."""
    migu: MiguSpec | None = None
    """Mask every step to the linear rows with the largest outputs."""
    mastered: str | None = None
    """Rows the model already answers right: CNL's g_M comes from them, and each epoch counts how many
    of them are forgotten (with `heldout`, and how many training rows are learned)."""
    heldout: str | None = None
    """Mastered rows kept out of g_M: each epoch counts how many are forgotten (out-of-set forgetting)."""
    score_max_new_tokens: int = Field(default=256, ge=1)
    """Generation length when the forgetting counts grade non-multiple-choice rows by their verifier."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset", "mastered": "dataset",
                                                 "heldout": "dataset"}
    MEMORY: ClassVar[str | None] = "sft"
    BATCH: ClassVar[tuple[str, str] | None] = ("batch_size", "examples per step")
    _ADDED: ClassVar[dict[str, Any]] = {"optimizer": "adamw", "momentum": 0.9, "cnl": None, "migu": None,
                                        "score_max_new_tokens": 256}
    """Fields added after the first release: left out of the fingerprint at their defaults, so caches stay."""

    def non_result(self) -> frozenset[str]:
        unused = {k for k, v in self._ADDED.items() if getattr(self, k) == v}
        unused |= super().non_result()
        if self.optimizer != "momentum":
            unused.add("momentum")
        if self.mastered is None and self.heldout is None:
            unused.add("score_max_new_tokens")
        return self.NON_RESULT | unused

    @model_validator(mode="after")
    def _masks_fit(self) -> SftStage:
        if self.cnl is not None and self.migu is not None:
            raise ValueError("cnl and migu are two ways to mask the same step; choose one")
        if self.cnl is not None and self.mastered is None:
            raise ValueError("cnl needs `mastered` (the rows whose mean gradient g_M guards each step)")
        if (self.cnl or self.migu) and self.resources.strategy != "ddp":
            raise ValueError(f"cnl and migu mask whole tensors; they run with strategy ddp, "
                             f"not {self.resources.strategy}")
        return self

    @model_validator(mode="after")
    def _batch_fits_processes(self) -> SftStage:
        res = self.resources
        per_step = res.processes * res.num_nodes * self.grad_accum
        if self.batch_size % per_step:
            raise ValueError(f"batch_size {self.batch_size} must divide evenly over "
                             f"processes x num_nodes x grad_accum = {per_step}")
        return self


class SplitStage(StageSpec):
    """Score a model on a question set; split it into what it masters and what it gets wrong (CNL's split)."""

    kind: Literal["split"]
    model: str
    """Model whose answers decide the split (a model name or a stage that outputs a model)."""
    data: str
    """Rows to split (a dataset name or a stage that outputs one)."""
    scorer: Literal["auto", "choice_logits", "verifier"] = "auto"
    """`choice_logits`: argmax over the option letters' next-token logits after the chat template;
    `verifier`: greedy generation graded by the rows' verifier; `auto`: letters for multiple choice."""
    heldout: float = Field(default=0.0, ge=0, lt=1)
    """Fraction of the mastered rows set aside as `heldout` (out-of-set forgetting; not in g_M)."""
    seed: int = 0
    """Seeds which mastered rows are held out."""
    max_new_tokens: int = Field(default=256, ge=1)
    """For the verifier scorer."""
    batch_size: int = Field(default=8, ge=1)
    """Prompts per scoring batch."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "report"
    OUTPUTS: ClassVar[dict[str, ArtifactType]] = {"mastered": "dataset", "injection": "dataset",
                                                  "heldout": "dataset"}
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"batch_size"})


class ForgettingStage(StageSpec):
    """Learned and forgotten counts of each model on a split (with the trained models' per-epoch counts)."""

    kind: Literal["forgetting"]
    models: list[str] = Field(min_length=1)
    """Models to count for (names or stage ids); the report is keyed by these names."""
    injection: str
    """The rows the models were taught (wrong before training)."""
    mastered: str
    """The rows the base model answered right (in-set forgetting)."""
    heldout: str | None = None
    """Mastered rows no training gradient saw (out-of-set forgetting)."""
    scorer: Literal["auto", "choice_logits", "verifier"] = "auto"
    """How a row counts as right: option-letter logits (multiple choice) or greedy generation and the
    verifier; `auto` picks letters for multiple choice."""
    max_new_tokens: int = Field(default=256, ge=1)
    """For the verifier scorer."""
    batch_size: int = Field(default=8, ge=1)
    """Rows per forward pass."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"models": "model", "injection": "dataset", "mastered": "dataset",
                                                 "heldout": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "report"
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"batch_size"})
    FORGETTING_TABLE: ClassVar[bool] = True


class _Sampling(Schema):
    temperature: float = Field(default=1.0, ge=0)
    """0 means greedy."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches this."""
    max_new_tokens: int = Field(default=256, ge=1)
    """Longest response in tokens; longer ones are cut off (and count as unfinished)."""
    batch_size: int = Field(default=16, ge=1)
    """Prompts per generation batch."""
    seed: int = 0
    """Sampling seed."""
    backend: Literal["auto", "transformers", "vllm"] = "auto"
    """`auto` uses vLLM when it is installed and a GPU is present."""


class GenerateStage(StageSpec, _Sampling):
    """Sample `n` responses per prompt from a model; rows keep their answer and verifier settings."""

    kind: Literal["generate"]
    model: str
    """Model to sample from (a model name or a stage that outputs a model)."""
    data: str
    """Prompts (a dataset name or a stage that outputs one)."""
    n: int = Field(default=1, ge=1)
    """Samples per prompt."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"batch_size"})
    SAMPLING: ClassVar[bool] = True


class FilterStage(StageSpec):
    """Keep generated rows by verifier result, one per problem if asked, capped, in seeded order."""

    kind: Literal["filter"]
    data: str
    """Rows to filter: usually a generate or replay stage's output."""
    correct: bool = True
    """Keep only responses the verifier accepts."""
    require_finished: bool = True
    """Drop responses cut off by the token limit (no EOS)."""
    dedupe: bool = True
    """At most one response per problem id."""
    max_rows: int | None = Field(default=None, ge=1)
    """Keep at most this many rows (after dedupe and shuffle)."""
    shuffle: bool = True
    """Shuffle the kept rows (seeded) before capping them."""
    seed: int = 0
    """Seed of the shuffle."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"data": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"
    LIGHT: ClassVar[bool] = True


class EvaluateStage(StageSpec, _Sampling):
    """Accuracy, pass@k and mean response length of each model on a dataset, into one report."""

    kind: Literal["evaluate"]
    models: list[str] = Field(min_length=1)
    """Models to compare (names or stage ids); the report is keyed by these names."""
    data: str
    """Test rows (a dataset name or a stage that outputs one)."""
    temperature: float = Field(default=0.0, ge=0)
    """Sampling temperature; 0 (the default) is greedy decoding."""
    samples: int = Field(default=1, ge=1)
    """Samples per problem; pass@k is reported for k = 1 and k = samples."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"models": "model", "data": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "report"
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"batch_size"})
    SAMPLING: ClassVar[bool] = True
    METRICS_TABLE: ClassVar[bool] = True
    VERSION: ClassVar[int] = 2
    """2: each model's metrics carry its `sft_examples` and `rl_responses`."""

    @model_validator(mode="after")
    def _sampling_needs_temperature(self) -> EvaluateStage:
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 needs temperature > 0 (greedy decoding gives the same answer every time)")
        return self


class RewardModel(Schema):
    """A reward model (RLHF): a sequence-classification model with one output, scoring prompt + completion."""

    SHORTHAND: ClassVar[str | None] = "name"

    name: str = Field(min_length=1)
    """The model: a name under `models:` or a stage that outputs a model."""
    weight: float = 1.0
    """Weight of its score in the total reward."""


class RewardSpec(Schema):
    """GRPO reward: weighted task verifier, format bonus, a reward model, and custom `module:function` rewards."""

    correct: float = 1.0
    """Weight of the task's verifier (1 when the extracted answer is right)."""
    format: float = 0.0
    """Weight of a format reward (1 when the response has the answer in the expected tags)."""
    custom: list[str] = []
    """TRL-style reward functions as `module:function`, imported only inside the stage process."""
    model: RewardModel | None = None
    """A reward model, e.g. `{name: rm, weight: 1.0}` (or just `rm`); TRL's GRPOTrainer scores each
    prompt + completion with it, alongside the verifier and format rewards."""

    @model_validator(mode="after")
    def _custom_are_import_strings(self) -> RewardSpec:
        bad = [c for c in self.custom if c.count(":") != 1 or not all(c.split(":"))]
        if bad:
            raise ValueError(f"custom rewards are `module:function`, got {bad[0]!r}")
        return self


class VllmSpec(Schema):
    """The colocated vLLM engine of a grpo stage on GPUs (TRL's `vllm_*` settings). Never part of the
    fingerprint: where rollouts are generated does not change what the policy learns."""

    gpu_memory_utilization: float = Field(default=0.3, gt=0, lt=1)
    """Share of each GPU's memory vLLM reserves for its weights and KV cache (TRL's default 0.3);
    training gets the rest. The fit check counts it."""
    sleep: bool = False
    """Put vLLM to sleep during the update (TRL's `vllm_enable_sleep_mode`): its weights and KV cache
    leave the GPU while training runs, so the two never peak together, at the cost of reloading them
    at every generation."""
    tensor_parallel: int = Field(default=1, ge=1)
    """GPUs one vLLM engine spans (TRL's `vllm_tensor_parallel_size`): must divide the stage's processes;
    for a policy too large for one GPU's share."""


class GrpoStage(TrainingStage):
    """GRPO with TRL's GRPOTrainer; every rollout is kept as a replay buffer beside the model."""

    kind: Literal["grpo"]
    data: str
    """Prompts with answers (a dataset whose rows carry their verifier)."""
    steps: int = Field(default=100, ge=1)
    """Optimizer steps."""
    prompts_per_step: int = Field(default=8, ge=1)
    """Distinct prompts per step (across all processes)."""
    generations: int = Field(default=8, ge=2)
    """Completions per prompt (the group whose rewards are normalised)."""
    lr: float = Field(default=1e-6, gt=0)
    """Peak learning rate."""
    beta: float = Field(default=0.0, ge=0)
    """KL coefficient against the reference model (0: no reference model kept)."""
    epsilon: float = Field(default=0.2, gt=0)
    """PPO clip range."""
    temperature: float = Field(default=1.0, gt=0)
    """Rollout sampling temperature."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Rollout nucleus sampling."""
    max_completion_tokens: int = Field(default=512, ge=1)
    """Longest completion in tokens; longer ones are cut off (and score as unfinished)."""
    max_prompt_tokens: int | None = Field(default=None, ge=1)
    """Prompts longer than this are left out (not cut, which would drop the system prompt)."""
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "grpo"
    """How the loss averages over tokens: `grpo` per sequence, `dapo`/`bnpo` per token, `dr_grpo` by a constant."""
    adam_beta1: float = Field(default=0.9, ge=0, lt=1)
    """Adam's beta1: how much of the previous gradient average each step keeps."""
    warmup_steps: int = Field(default=0, ge=0)
    """Steps that warm the learning rate up from 0."""
    scheduler: Literal["constant", "cosine", "linear"] = "constant"
    """Learning-rate schedule after warmup."""
    reward: RewardSpec = RewardSpec()
    """How completions are rewarded: verifier weight, format bonus, custom functions."""
    backend: Literal["auto", "transformers", "vllm"] = "auto"
    """Rollout engine: `auto` uses vLLM (colocated) when it is installed and a GPU is present."""
    vllm: VllmSpec = VllmSpec()
    """The colocated vLLM engine's memory share, sleep mode and tensor parallelism (GPU runs)."""
    save_steps: int = Field(default=25, ge=1)
    """Trainer checkpoint interval, so an interrupted RL run resumes from its last checkpoint."""
    rollout_scaling: RolloutScaling | None = None
    """Raise `generations` when the run stalls (CoScale-RL), e.g. `{schedule: [8, 16, 32, 64]}`; null: N
    stays fixed. The replay buffer records each rollout's N."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset", "reward_model": "model"}
    INPUT_PATHS: ClassVar[dict[str, tuple[str, ...]]] = {"reward_model": ("reward", "model")}
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"logging_steps", "save_steps", "save_minutes", "backend",
                                                      "activation_checkpointing",
                                                      "vllm", "reward.model.name"})  # the reward model is an input
    CURVES: ClassVar[tuple[Curve, ...]] = (
        Curve("reward", "train/reward", "reward", parts="train/rewards/*/mean",
              note="Mean reward per completion: the total is the weighted sum of its parts (correct, format, "
                   "custom: each 0-1 before weighting; a reward model's raw score). It should rise."),
        Curve("completion_length", "train/completions/mean_length", "completion length (tokens)",
              note="Mean tokens per completion; a collapse toward 0 or a climb to the limit is a warning."),
        Curve("zero_std", "train/frac_reward_zero_std", "groups with zero reward spread",
              note="Groups whose completions all got the same reward teach nothing; near 1, the task is too "
                   "easy or too hard for the model."),
        Curve("clip_ratio", "train/clip_ratio/region_mean", "fraction of tokens clipped",
              parts="train/clip_ratio/*_mean",
              note="Tokens whose probability ratio left [1-epsilon, 1+epsilon]: high values mean steps too large "
                   "for the clip range (0 with one update per batch of rollouts)."),
        Curve("entropy", "train/entropy", "entropy (nats per token)",
              note="The policy's mean token entropy; a fast fall toward 0 means it stopped exploring."),
        Curve("kl", "train/kl", "KL to the reference model",
              note="Only with beta > 0: how far the policy has moved from the reference model."),
    )
    REPLAY_CURVES: ClassVar[bool] = True
    MEMORY: ClassVar[str | None] = "grpo"
    BATCH: ClassVar[tuple[str, str] | None] = ("prompts_per_step", "prompts per step")

    @property
    def reward_model(self) -> str | None:
        """The reward model's reference (an input like `model` and `data`), or None."""
        return self.reward.model.name if self.reward.model else None

    def non_result(self) -> frozenset[str]:
        unused = {"rollout_scaling"} if self.rollout_scaling is None else set()  # added later: caches stay
        return super().non_result() | unused

    def generation_counts(self) -> list[int]:
        """Every N the run may use: `generations`, then each value `rollout_scaling` may raise it to."""
        return self.rollout_scaling.ladder(self.generations) if self.rollout_scaling else [self.generations]

    @model_validator(mode="after")
    def _batch_fits_processes(self) -> GrpoStage:
        res = self.resources
        per_step = res.processes * res.num_nodes * self.grad_accum
        for n in self.generation_counts():
            completions = self.prompts_per_step * n
            if completions % per_step:
                raised = f" (generations raised to {n} by rollout_scaling)" if n != self.generations else ""
                raise ValueError(f"prompts_per_step x generations = {completions} completions per step{raised} "
                                 f"must divide evenly over processes x num_nodes x grad_accum = {per_step}")
        return self

    @model_validator(mode="after")
    def _vllm_groups_fit_processes(self) -> GrpoStage:
        world = self.resources.processes * self.resources.num_nodes
        if world % self.vllm.tensor_parallel:
            raise ValueError(f"vllm.tensor_parallel {self.vllm.tensor_parallel} must divide the stage's "
                             f"processes x num_nodes = {world} (each group of that many ranks shares one engine)")
        return self

    @model_validator(mode="after")
    def _scaling_can_rise(self) -> GrpoStage:
        scaling = self.rollout_scaling
        if scaling and scaling.next_generations(self.generations) is None:
            raise ValueError(f"rollout_scaling can never raise generations {self.generations}: max_generations is "
                             f"{scaling.max_generations}" + (f" and the schedule ends at {scaling.schedule[-1]}"
                                                             if scaling.schedule else ""))
        return self


class ReplayStage(StageSpec):
    """Samples from a GRPO run's replay buffer: the correct responses of its last steps, one per problem."""

    kind: Literal["replay"]
    run: str | None = None
    """The grpo stage whose buffer to read."""
    runs: list[str] = []
    """Several grpo stages whose buffers are read together (CoScale-RL's merge of its groups); the latest
    correct response per problem is taken across all of them."""
    last_steps: int | None = Field(default=10, ge=1)
    """Use rollouts from this many final steps of each run (None: every step)."""
    correct_only: bool = True
    """Keep only rollouts the verifier accepted."""
    one_per_problem: bool = True
    """Keep the latest correct response per problem."""
    max_rows: int | None = Field(default=None, ge=1)
    """Keep at most this many rows."""
    seed: int = 0
    """Seed of which rows are kept when capped."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"run": "model", "runs": "model"}
    INPUT_KINDS: ClassVar[dict[str, str]] = {"run": "grpo", "runs": "grpo"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"

    @model_validator(mode="after")
    def _one_way_to_name_runs(self) -> ReplayStage:
        if (self.run is None) == (not self.runs):
            raise ValueError("name the grpo stage(s) to read: `run: rl` or `runs: [rl1, rl2]` (one of them)")
        return self


class TakeStage(StageSpec):
    """N rows of a dataset in seeded order, N fixed or read at run time from another dataset's row count."""

    kind: Literal["take"]
    data: str
    """The dataset to take rows from."""
    rows: int | None = Field(default=None, ge=1)
    """Take at most this many rows."""
    like: str | None = None
    """Take as many rows as this dataset holds (known only once it is made: the control arm of a
    comparison sees exactly as many examples as the arm it controls)."""
    shuffle: bool = True
    """Shuffle with `seed` before taking (otherwise the first rows)."""
    seed: int = 0
    """Seed of the shuffle."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"data": "dataset", "like": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"
    LIGHT: ClassVar[bool] = True


class SampleEffectStage(StageSpec):
    """Rank samples by their sample effect on a target direction and keep the top ones (Re-distillation).

    A sample's effect is the first-order change an SFT step on it makes along the direction
    `end - start` (the RL update, theta_RL - theta_0): `-<grad loss(z; model), end - start>`, its loss
    gradient taken at `model` (the student's initial weights). Larger is better."""

    kind: Literal["sample_effect"]
    model: str
    """Weights where each sample's loss gradient is taken (the student before training)."""
    data: str
    """Candidate samples (rows with a `response`)."""
    start: str
    """Start of the target direction (the RL run's initial model)."""
    end: str
    """End of the target direction (the RL policy)."""
    keep: int | None = Field(default=None, ge=1)
    """Keep this many top samples (None: all, ranked)."""
    params: list[str] = []
    """Only parameters whose name contains one of these (e.g. `layers.29.`), to keep it cheap; empty: all."""
    max_length: int = Field(default=1024, ge=8)
    """Tokens of prompt plus response the loss sees (the student SFT's `max_length`)."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset", "start": "model",
                                                 "end": "model"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"


def input_refs(spec: StageSpec) -> list[tuple[str, str]]:
    """The (slot, reference) pairs of a spec; a list field gives one slot per entry, keyed by name."""
    pairs: list[tuple[str, str]] = []
    for field in spec.INPUTS:
        value: Any = getattr(spec, field)
        if value is None:  # an optional input left out
            continue
        if isinstance(value, list):
            pairs.extend((f"{field}.{ref}", ref) for ref in value)
        else:
            pairs.append((field, value))
    return pairs
