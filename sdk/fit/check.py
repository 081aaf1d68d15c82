"""The fit check of a plan: each training stage's memory estimate beside its device, refused when over.

`plan` prints one line per training stage; a stage whose per-GPU estimate exceeds its GPU's memory
is a located RecipeError naming the knob to turn. Stages on CPU get a predicted peak RSS instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sdk.errors import Problem, RecipeError
from sdk.fit.estimate import GB, Estimate, Setup, estimate, lora_params, predict_rss
from sdk.fit.shapes import Shape, shape_of, training_shape
from sdk.plan import Plan, Stage
from stages import VLLM_SHARE, sampling_layout

GPU_MEMORY_GB: dict[str, float] = {
    "H100": 80, "H100-MEGA": 80, "H100-80GB": 80, "H100-NVL": 94, "H200": 141, "GH200": 96, "B200": 180,
    "A100": 40, "A100-80GB": 80, "A100-40GB": 40, "L40S": 48, "L40": 48, "L4": 24, "A10G": 24, "A10": 24,
    "A6000": 48, "RTX6000": 24, "RTX4090": 24, "RTX3090": 24, "V100": 16, "V100-32GB": 32, "T4": 16, "P100": 16,
}
"""Memory per GPU (GB) of SkyPilot's accelerator names."""
DEFAULT_PROMPT_TOKENS = 512
"""Prompt length assumed for GRPO when `max_prompt_tokens` is unset."""
OPTIMIZER_STATES = {"adamw": 2, "adam": 2, "momentum": 1, "sgd": 0}
"""Per-parameter state tensors of each `sft` optimizer (GRPO trains with AdamW)."""


@dataclass(frozen=True)
class StageFit:
    """One training stage's estimate on its device."""

    stage: Stage
    device: str
    """`H100 (80 GB)`, or `cpu`."""
    capacity: float | None
    estimate: Estimate | None
    peak: float | None
    """Per GPU (estimate.total), or predicted RSS on CPU; None when the shape is unknown."""
    note: str

    @property
    def over(self) -> bool:
        return self.capacity is not None and self.peak is not None and self.peak > self.capacity

    def line(self) -> str:
        if self.peak is None:
            return f"{self.stage.id} ({self.stage.kind}): memory not estimated: {self.note}"
        where = "per GPU" if self.capacity is not None else "peak RSS on CPU"
        cap = f" of {self.device}" if self.capacity is not None else ""
        parts = f" ({self.estimate.describe()})" if self.estimate else ""
        flag = "  DOES NOT FIT" if self.over else ""
        return f"{self.stage.id} ({self.stage.kind}): ~{self.peak / GB:.1f} GB {where}{cap}{parts}{flag}; {self.note}"


def gpu_count(accelerators: str | None) -> int:
    """GPUs per node in SkyPilot's `NAME:COUNT` (1 without a count, 0 without accelerators)."""
    if not accelerators:
        return 0
    count = accelerators.partition(":")[2]
    return int(float(count)) if count else 1


def gpu_memory(accelerators: str | None) -> tuple[str, float | None]:
    if not accelerators:
        return "cpu", None
    name = accelerators.partition(":")[0]
    size = GPU_MEMORY_GB.get(name.upper()) or GPU_MEMORY_GB.get(name)
    return (f"{name} ({size:g} GB)", size * GB) if size else (f"{name} (memory unknown)", None)


def setup_for(stage: Stage, shape: Shape, gpu_bytes: float | None) -> tuple[Setup, str]:
    """The memory knobs of a training stage, and a note on what was assumed."""
    spec = stage.spec
    res = spec.resources
    world = res.processes * res.num_nodes
    lora = lora_params(shape, spec.lora.r, spec.lora.target_modules) if spec.lora else 0
    half = spec.bf16 or shape.weight_bytes == 2  # bf16 weights compute bf16 logits even without autocast
    common = dict(world=world, strategy=res.strategy, bf16=half, checkpointing=spec.activation_checkpointing,
                  lora_params=lora, gpu=gpu_bytes is not None)
    if spec.MEMORY == "sft":
        micro = max(1, spec.batch_size // (world * spec.grad_accum))
        states = OPTIMIZER_STATES[spec.optimizer]
        masks = (1 + (states > 0)) if spec.cnl else 0  # g_M; the step's start too when the update is masked
        return Setup("sft", micro, spec.max_length, spec.max_length, optimizer_states=states, mask_buffers=masks,
                     **common), \
            f"micro-batch {micro} x {spec.max_length} tokens"
    most = max(spec.generation_counts())  # rollout_scaling may raise N during the run: the peak is at the top
    micro = max(1, spec.prompts_per_step * most // (world * spec.grad_accum))
    prompt = spec.max_prompt_tokens or DEFAULT_PROMPT_TOKENS
    vllm = gpu_bytes is not None and spec.backend != "transformers"
    note = f"micro-batch {micro} x ({prompt} + {spec.max_completion_tokens}) tokens"
    if not spec.max_prompt_tokens:
        note += f" (prompts assumed {prompt} tokens: set max_prompt_tokens)"
    if vllm and gpu_bytes:
        note += "; " + _engine_note(shape, spec, micro, prompt + spec.max_completion_tokens, gpu_bytes)
    return Setup(spec.MEMORY, micro, prompt + spec.max_completion_tokens, spec.max_completion_tokens,
                 reference=spec.beta > 0 and not spec.lora, rollout_batch=micro * spec.grad_accum,
                 vllm_bytes=spec.vllm.gpu_memory_utilization * gpu_bytes if vllm and gpu_bytes else 0.0,
                 vllm_sleep=spec.vllm.sleep, **common), note


def kv_bytes_per_token(shape: Shape) -> int:
    """vLLM's KV cache per token: keys and values of every layer, in bf16."""
    return 2 * shape.layers * shape.kv_dim * 2


def _engine_note(shape: Shape, spec, micro: int, seq_len: int, gpu_bytes: float) -> str:
    """What the colocated engine's share holds: the policy's bf16 weights (split over its tensor parallel
    group) and KV cache for how many of the step's sequences at once."""
    share = spec.vllm.gpu_memory_utilization * gpu_bytes
    weights = 2 * shape.params / spec.vllm.tensor_parallel
    room = share - weights
    at_once = int(room // (kv_bytes_per_token(shape) * seq_len)) if room > 0 else 0
    wanted = micro * spec.grad_accum * spec.vllm.tensor_parallel
    waves = "" if at_once >= wanted else (f", fewer than the {wanted} a step generates: "
                                          "raise vllm.gpu_memory_utilization")
    return (f"vLLM {spec.vllm.gpu_memory_utilization:g} of the GPU: weights {weights / GB:.1f} GB, KV cache for "
            f"{at_once} sequences{waves}")


def param_count(n: int) -> str:
    """1,544M / 135M / 101,696: millions where there are millions, else the exact count (a tiny model)."""
    return f"{n / 1e6:,.0f}M" if n >= 1e6 else f"{n:,}"


def fit_stage(plan: Plan, stage: Stage, accelerators: str | None) -> StageFit:
    device, capacity = gpu_memory(accelerators)
    shape = training_shape(plan, stage)
    if isinstance(shape, str):
        return StageFit(stage, device, capacity, None, None, f"the model's shape is unknown: {shape}")
    setup, note = setup_for(stage, shape, capacity if accelerators else None)
    est = estimate(shape, setup)
    if getattr(stage.spec, "reward_model", None):  # TRL keeps it on every device, in fp32 (stages/_models.py)
        scorer = shape_of(plan, plan.producer(dict(stage.inputs)["reward_model"]))
        if isinstance(scorer, Shape):
            est = Estimate({**est.parts, "reward model": 4.0 * scorer.params}, est.asleep)
        else:
            note += f"; reward model not counted ({scorer})"
    peak = est.total if accelerators else predict_rss(shape, setup)
    return StageFit(stage, device, capacity, est, peak, f"{note}; {param_count(shape.params)} params ({shape.source})")


def sampled_shapes(plan: Plan, stage: Stage) -> list[Shape | str]:
    """The shape of every model a sampling stage loads (evaluate loads each of its `models` in turn)."""
    refs = [ref for slot, ref in stage.inputs if slot == "model" or slot.startswith("models.")]
    return [shape_of(plan, plan.producer(ref)) for ref in refs]


def fit_sampling(plan: Plan, stage: Stage, accelerators: str | None) -> StageFit | None:
    """A sampling stage on GPUs through vLLM: its largest model's bf16 weights over the tensor parallel
    group the stage will use (stages/_parallel.py), and the KV cache left of vLLM's share per GPU."""
    device, capacity = gpu_memory(accelerators)
    if capacity is None or stage.spec.backend == "transformers":  # type: ignore[attr-defined]
        return None
    shapes = [s for s in sampled_shapes(plan, stage) if isinstance(s, Shape)]
    if not shapes:
        return StageFit(stage, device, capacity, None, None, "the model's shape is unknown")
    shape = max(shapes, key=lambda s: s.params)
    gpus = gpu_count(accelerators)
    weights = 2.0 * shape.params  # vLLM serves in half precision
    layout = sampling_layout(gpus, shape.heads, shape.kv_heads, weights, capacity)
    share = VLLM_SHARE * capacity
    per_gpu = weights / layout.tensor
    seq_len = DEFAULT_PROMPT_TOKENS + stage.spec.max_new_tokens  # type: ignore[attr-defined]
    one_sequence = kv_bytes_per_token(shape) * seq_len / layout.tensor
    kv = max(share - per_gpu, one_sequence)
    parts = {"weights": per_gpu, "KV cache": kv}
    at_once = int((share - per_gpu) // one_sequence) if share > per_gpu else 0
    note = (f"vLLM tensor parallel {layout.tensor} x data parallel {layout.data} on {gpus} GPU(s); KV cache for "
            f"~{at_once} sequences of {seq_len} tokens per engine; largest model {param_count(shape.params)} "
            f"params ({shape.source})")
    return StageFit(stage, device, share, Estimate(parts), per_gpu + kv, note)


def fit_plan(plan: Plan, accelerators: Callable[[Stage], str | None]) -> list[StageFit]:
    """A fit for every training stage, and every sampling stage on GPUs, on the accelerators the runner
    gives it."""
    fits = []
    for stage in plan.stages:
        if stage.spec.MEMORY is not None:  # the training kinds
            fits.append(fit_stage(plan, stage, accelerators(stage)))
        elif stage.spec.SAMPLING and (fit := fit_sampling(plan, stage, accelerators(stage))) is not None:
            fits.append(fit)
    return fits


def knob(fit: StageFit) -> str:
    """What to turn, from the biggest parts of the estimate."""
    spec = fit.stage.spec
    parts = fit.estimate.parts if fit.estimate else {}
    batch = parts.get("activations", 0) + parts.get("logits", 0)
    states = sum(v for k, v in parts.items() if k in ("weights", "gradients", "optimizer", "reference model"))
    hints = []
    if batch >= states:
        hints.append(f"raise grad_accum (now {spec.grad_accum}) to shrink the micro-batch")
        if not spec.activation_checkpointing:
            hints.append("set activation_checkpointing: true")
    if states > batch or spec.resources.strategy == "ddp":
        hints.append("shard the model states with resources.strategy: fsdp (or deepspeed-zero3)")
    if spec.lora is None and states > batch:
        hints.append("or train a LoRA adapter (lora: {})")
    return "; ".join(hints)


def check(fits: list[StageFit], locate: Callable[[Stage, str], Problem | None] | None = None) -> None:
    """Raise a RecipeError listing every stage whose estimate exceeds its GPU's memory."""
    problems = []
    for fit in fits:
        if not fit.over:
            continue
        assert fit.peak is not None and fit.capacity is not None and fit.estimate is not None
        message = (f"needs ~{fit.peak / GB:.1f} GB per GPU ({fit.estimate.describe()}) but the GPU, "
                   f"{fit.device}, has {fit.capacity / GB:.0f} GB: {knob(fit)}")
        located = locate(fit.stage, message) if locate else None
        problems.append(located or Problem(f"stage {fit.stage.id!r}: {message}"))
    if problems:
        raise RecipeError(problems)


def locator(recipe) -> Callable[[Stage, str], Problem | None]:
    """Locate a fit problem at the stage's `grad_accum` in the recipe file (or the closest key above it)."""
    doc = getattr(recipe, "_source", None)

    def locate(stage: Stage, message: str) -> Problem | None:
        if doc is None or not stage.origin:
            return None
        return doc.problem((*stage.origin, "grad_accum"), message)

    return locate


def print_fits(fits: list[StageFit], stream) -> None:
    """One `memory:` line per training stage."""
    for fit in fits:
        print(f"memory: {fit.line()}", file=stream)


def memory_json(fits: list[StageFit]) -> list[dict]:
    """The fits as `plan --json` prints them."""
    return [{"stage": f.stage.id, "device": f.device, "peak_bytes": f.peak, "fits": not f.over,
             "parts": f.estimate.parts if f.estimate else None, "note": f.note} for f in fits]
