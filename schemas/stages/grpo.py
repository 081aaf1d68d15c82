"""GrpoStage: GRPO with TRL, its rewards, its vLLM engine and rollout scaling."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas._base import Schema, added
from schemas.artifacts import ArtifactType
from schemas.rollout_scaling import RolloutScaling
from schemas.stages.base import Curve
from schemas.stages.training import TrainingStage
from schemas.tasks import Task


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
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo", "vespo"] = "grpo"
    """The policy loss by TRL's name; DAPO: `loss_type: dapo, epsilon_high: 0.28`, GSPO: `importance_sampling_level:
    sequence`, CISPO: `loss_type: cispo, epsilon_high: 5.0`. The losses: `grpo` (token losses averaged per
    sequence), `dapo` (per token over the accumulated batch), `bnpo` (per token over the local batch), `dr_grpo`
    (by a constant), `cispo` (clipped importance weights, MiniMax-M1), `sapo` (a soft temperature gate instead
    of clipping), `luspo` (GSPO scaled by length; needs `importance_sampling_level: sequence`), `vespo` (a
    smooth Gamma weight on sequence-level ratios)."""
    importance_sampling_level: Literal["token", "sequence"] = added("token")
    """Probability ratios per token, or one per sequence (GSPO: the mean log-ratio over its tokens)."""
    epsilon_high: float | None = added(None, gt=0)
    """Upper clip bound (DAPO's clip-higher: 0.28; with `cispo`, its epsilon_max: 5.0); unset: `epsilon`."""
    delta: float | None = added(None, gt=1)
    """Two-sided clipping of the ratio at `delta` for negative advantages (INTELLECT-2; above 1 + epsilon)."""
    scale_rewards: Literal["group", "batch", "none"] = added("group")
    """How advantages are scaled: by the group's reward std, the batch's, or not at all (Dr. GRPO)."""
    mask_truncated_completions: bool = added(False)
    """Leave completions cut off at `max_completion_tokens` out of the loss (DAPO's overlong filtering)."""
    top_entropy_quantile: float = added(1.0, gt=0, le=1)
    """Train only on the tokens of the highest entropy, this share of them (0.2 in "Beyond the 80/20 rule")."""
    sapo_temperature_neg: float = added(1.05, gt=0)
    """`sapo` only: the gate's temperature for tokens with non-positive advantage."""
    sapo_temperature_pos: float = added(1.0, gt=0)
    """`sapo` only: the gate's temperature for tokens with positive advantage."""
    vespo_k_pos: float = added(2.0, gt=0)
    """`vespo` only: the power on low importance weights, positive advantages."""
    vespo_lambda_pos: float = added(3.0, gt=0)
    """`vespo` only: the decay on high importance weights, positive advantages."""
    vespo_k_neg: float = added(3.0, gt=0)
    """`vespo` only: the power on low importance weights, negative advantages."""
    vespo_lambda_neg: float = added(2.0, gt=0)
    """`vespo` only: the decay on high importance weights, negative advantages."""
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
    verdicts: bool = False
    """Judge this run's curves for BAI's two failure signs (length collapse, reward hockey stick) in the
    report and the apply's output; bai-merge turns it on for its RL branches."""
    vllm: VllmSpec = VllmSpec()
    """The colocated vLLM engine's memory share, sleep mode and tensor parallelism (GPU runs)."""
    save_steps: int = Field(default=25, ge=1)
    """Trainer checkpoint interval, so an interrupted RL run resumes from its last checkpoint."""
    rollout_scaling: RolloutScaling | None = None
    """Raise `generations` when the run stalls (CoScale-RL), e.g. `{schedule: [8, 16, 32, 64]}`; null: N
    stays fixed. The replay buffer records each rollout's N."""
    task: Task | None = added(None)
    """A multi-turn episode per rollout instead of one completion, e.g. `{kind: multi_attempt, max_attempts: 3}`:
    the task's turns are left out of the loss and `max_completion_tokens` bounds the whole episode."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset", "reward_model": "model"}
    INPUT_PATHS: ClassVar[dict[str, tuple[str, ...]]] = {"reward_model": ("reward", "model")}
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"logging_steps", "save_steps", "save_minutes", "backend",
                                                      "activation_checkpointing", "vllm", "verdicts",
                                                      "reward.model.name"})  # the reward model is an input
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
    def _loss_and_engine_settings_fit(self) -> GrpoStage:
        for prefix in ("sapo", "vespo"):
            given = sorted(f for f in self.model_fields_set if f.startswith(f"{prefix}_"))
            if given and self.loss_type != prefix:
                raise ValueError(f"{given[0]} is a parameter of loss_type {prefix}, not of {self.loss_type}: set "
                                 f"loss_type: {prefix}, or remove it")
        sequence = self.importance_sampling_level == "sequence"
        if self.loss_type == "luspo" and not sequence:
            raise ValueError("loss_type luspo is GSPO's sequence-level loss scaled by length: set "
                             "importance_sampling_level: sequence")
        if self.loss_type == "vespo" and sequence:
            raise ValueError("loss_type vespo computes its sequence-level weights itself: leave "
                             "importance_sampling_level at token")
        if sequence and self.loss_type in ("bnpo", "dr_grpo", "dapo", "cispo"):
            raise ValueError(f"importance_sampling_level sequence with loss_type {self.loss_type} sums token losses, "
                             "weighting each sequence by its length: GSPO is loss_type grpo with sequence ratios")
        if self.deterministic and self.backend == "vllm":
            raise ValueError("deterministic with backend vllm: vLLM's rollouts are not reproducible bit for bit; "
                             "leave backend at auto (deterministic runs sample with transformers) or set transformers")
        if self.task is not None:
            self._task_fits_the_engine()
            self.task.check_budget(self.max_completion_tokens, "max_completion_tokens")
        if self.delta is not None and self.delta <= 1 + self.epsilon:
            raise ValueError(f"delta {self.delta:g} clips below 1 + epsilon ({1 + self.epsilon:g}); two-sided "
                             "clipping needs delta above it")
        return self

    def _task_fits_the_engine(self) -> None:
        """Each process runs its own rounds of attempts, as many as its episodes need, so nothing that makes a
        generate call a collective across processes can serve a multi-turn task yet."""
        if self.vllm.tensor_parallel > 1:
            raise ValueError("a multi-turn task with vllm.tensor_parallel > 1: the engine's processes would "
                             "have to generate in lockstep; set tensor_parallel: 1 (one engine per GPU)")
        if self.vllm.sleep:
            raise ValueError("a multi-turn task with vllm.sleep: vLLM would unload and reload its weights after "
                             "every round of attempts; set vllm.sleep: false")
        if self.resources.strategy in ("fsdp", "deepspeed-zero3"):
            raise ValueError(f"a multi-turn task with strategy {self.resources.strategy}: sharded weights are "
                             "gathered by every process at every generate call, and processes make different "
                             "numbers of calls; use ddp or deepspeed-zero2")

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
