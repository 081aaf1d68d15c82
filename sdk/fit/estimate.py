"""The memory fit check: peak memory per device of each training stage, estimated at plan time.

    peak = weights + gradients + optimizer (+ DDP buckets, + reference model)     split by strategy
         + activations   micro-batch x sequence x layers x (per-layer bytes | layer input if checkpointed)
         + logits        micro-batch x tokens scored x vocabulary x bytes (upcast, log-softmax, gradient);
                         on CPU, TRL's fused LM head in small tiles (stages/_memory.py) + its fp32 head gradients
         + rollouts      GRPO: vLLM's reserved share of the GPU (`vllm.gpu_memory_utilization`), or the KV cache
                         of transformers' generate; with `vllm.sleep` the engine is off the GPU during the
                         update, so it counts against the batch (max of the two), not on top of it

Arithmetic only, from the model's shape (sdk.fit.shapes): no torch import, so `recipe plan` stays light.
Weights, gradients and Adam's moments take the dtype the stage trains in (its `dtype`, which the stage
loads the weights with whatever the checkpoint holds: `Shape.weight_bytes` 4 for float32, 2 for bfloat16;
`bf16: true` only autocasts); LoRA adapters are fp32 (PEFT upcasts them). DeepSpeed keeps bf16 weights
beside sharded fp32 master weights. Checked on an H200 against raw PyTorch (0.5B Qwen2, micro-batch
8 x 1024, checkpointing): the weights+optimizer part matched to 3%, the whole peak came out 21-23% above
measured (an upper bound). `predict_rss` adds the fixed cost of a CPU process (Python, torch,
transformers, TRL) to compare with `/usr/bin/time` on a CPU run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdk.fit.shapes import Shape

GB = 1e9
CPU_PROCESS_BYTES = 0.75 * GB
"""Resident size of a CPU stage process after importing torch, transformers and TRL (measured ~0.5-0.8 GB)."""
TRL_VLLM_SHARE = 0.3
"""TRL's default `vllm_gpu_memory_utilization`: the share of the GPU a colocated vLLM engine reserves."""
LAYER_BYTES_BF16 = (30, 6, 8)
"""Bytes kept per token per decoder layer for backward, as multiples of (hidden, kv_dim, intermediate), with
bf16 autocast over fp32 weights: fp32 residual stream and norms, bf16 projections (flash/SDPA attention)."""
LAYER_BYTES_FP32 = (28, 12, 16)
"""The same with everything in fp32."""
LOGIT_BYTES = {"sft": (2 + 4 + 4 + 4, 4 + 4 + 4), "grpo": (2 + 2 + 2, 4 + 4 + 4 + 4)}
"""Bytes per scored token per vocabulary entry, (bf16, fp32): logits, fp32 upcast, log-softmax, gradient.
SFT upcasts to fp32 for the loss; TRL's GRPO scales and log-softmaxes bf16 logits (fused on GPU)."""
CPU_TILE_TOKENS, CPU_TILE_VOCAB, CPU_TILE_COPIES = 1024, 4096, 8
"""On CPU, stages/_memory.py makes TRL's fused LM head score every position (prompt included) in tiles of
1024 tokens x 4096 vocabulary entries (fp32), of which its torch backward keeps about 8 at once."""


@dataclass(frozen=True)
class Setup:
    """The knobs of one training stage that memory depends on."""

    kind: str
    """sft or grpo."""
    micro_batch: int
    """Sequences per forward pass on one device."""
    seq_len: int
    """Tokens per sequence (prompt + response)."""
    scored: int
    """Tokens per sequence whose logits are computed (all for SFT, the completion for GRPO)."""
    world: int = 1
    strategy: str = "ddp"
    bf16: bool = False
    checkpointing: bool = True
    lora_params: int = 0
    """Trainable parameters of a LoRA adapter (0: full fine-tuning)."""
    reference: bool = False
    """GRPO with beta > 0 keeps a frozen reference model."""
    rollout_batch: int = 0
    """GRPO: sequences generated at once on one device."""
    vllm_bytes: float = 0.0
    """GRPO with colocated vLLM: what the engine reserves."""
    vllm_sleep: bool = False
    """The engine sleeps (frees its reservation) during the update."""
    gpu: bool = True
    """On CPU, attention materialises the score matrix (no flash kernel)."""
    optimizer_states: int = 2
    """Per-parameter state tensors of the optimizer: Adam(W) 2 moments, SGD with momentum 1, plain SGD 0."""
    mask_buffers: int = 0
    """CNL: gradient-sized buffers kept beside training (g_M, and the step's starting weights when it masks
    the optimizer's update rather than the gradient)."""


BATCH_PARTS = ("activations", "logits")
"""The parts that live only during a forward/backward pass."""


@dataclass(frozen=True)
class Estimate:
    """Peak bytes per device, by part."""

    parts: dict[str, float] = field(default_factory=dict)
    asleep: tuple[str, ...] = ()
    """Parts resident only while generating (a sleeping vLLM engine): they peak against the batch's
    parts, not on top of them."""

    @property
    def total(self) -> float:
        batch = sum(v for k, v in self.parts.items() if k in BATCH_PARTS)
        generating = sum(v for k, v in self.parts.items() if k in self.asleep)
        always = sum(v for k, v in self.parts.items() if k not in BATCH_PARTS and k not in self.asleep)
        return always + (max(batch, generating) if self.asleep else batch)

    def describe(self) -> str:
        big = sorted(self.parts.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {value / GB:.1f}" + (" (asleep in the update)" if name in self.asleep else "")
                         for name, value in big if value >= 0.05 * GB) or "small"


def states(shape: Shape, s: Setup) -> dict[str, float]:
    """Weights, gradients, optimizer states (Adam: two moments in the weights' dtype) and CNL's buffers per device."""
    params = shape.params
    trainable = s.lora_params or params
    n = max(1, s.world)
    b = shape.weight_bytes
    tb = 4 if s.lora_params else b  # bytes per trainable parameter (and per gradient / Adam moment)
    if s.strategy.startswith("deepspeed"):
        weights = 2 * params + (4 * trainable) / n  # bf16 module + fp32 master weights (sharded)
        grads = 2 * trainable / n
        if s.strategy.endswith("zero3"):
            weights = weights / n + 2 * 2 * _layer_params(shape)  # plus gathered layers in flight
    elif s.strategy == "fsdp":
        weights = b * params / n + 2 * b * _layer_params(shape)
        grads = tb * trainable / n
    else:
        weights = b * params
        grads = tb * trainable * (2 if n > 1 else 1)  # DDP's bucket views hold a second copy
    state = 4 if s.strategy.startswith("deepspeed") else tb  # DeepSpeed's optimizer states are always fp32
    shard = 1 if s.strategy == "ddp" else n
    out = {"weights": weights, "gradients": grads, "optimizer": s.optimizer_states * state * trainable / shard}
    if s.mask_buffers:  # plus its scratch, as large as the largest parameter (the embedding, in full training)
        out["CNL buffers"] = s.mask_buffers * tb * trainable / shard + (0 if s.lora_params else
                                                                       tb * shape.vocab * shape.hidden)
    if s.reference:
        out["reference model"] = b * params / (1 if s.strategy == "ddp" else n)
    return out


def _layer_params(shape: Shape) -> int:
    return (shape.params - shape.vocab * shape.hidden * (1 if shape.tied else 2)) // max(1, shape.layers)


def activations(shape: Shape, s: Setup) -> float:
    """Activations kept for the backward pass of one micro-batch."""
    tokens = s.micro_batch * s.seq_len
    ch, ckv, ci = LAYER_BYTES_BF16 if s.bf16 else LAYER_BYTES_FP32
    per_layer = tokens * (ch * shape.hidden + ckv * shape.kv_dim + ci * shape.intermediate)
    if not s.gpu:  # math attention: scores and probabilities per head
        per_layer += 2 * 4 * s.micro_batch * shape.heads * s.seq_len * s.seq_len
    if s.checkpointing:  # layer inputs (fp32) for all, one layer recomputed at a time
        return tokens * 4 * shape.hidden * shape.layers + per_layer
    return per_layer * shape.layers


def logits(shape: Shape, s: Setup) -> float:
    """The LM head's transient memory: full logits on GPU; on CPU, tiles plus fp32 gradients of the head
    (and of the tied input embedding, whose own backward makes a second one)."""
    if not s.gpu:
        tile = min(s.micro_batch * s.seq_len, CPU_TILE_TOKENS) * min(shape.vocab, CPU_TILE_VOCAB) * 4
        return CPU_TILE_COPIES * tile + 2 * 4 * shape.vocab * shape.hidden
    bf16_bytes, fp32_bytes = LOGIT_BYTES[s.kind]
    return s.micro_batch * s.scored * shape.vocab * (bf16_bytes if s.bf16 else fp32_bytes)


def rollouts(shape: Shape, s: Setup) -> float:
    """GRPO generation: vLLM's reservation, or the KV cache of one generation batch."""
    if s.kind != "grpo":
        return 0.0
    if s.vllm_bytes:
        return s.vllm_bytes
    return s.rollout_batch * s.seq_len * 2 * shape.layers * shape.kv_dim * (2 if s.bf16 else 4)


def estimate(shape: Shape, s: Setup) -> Estimate:
    """Peak memory per device of one training stage."""
    parts = states(shape, s)
    parts["activations"] = activations(shape, s)
    parts["logits"] = logits(shape, s)
    if s.kind == "grpo":
        name = "rollouts (vLLM)" if s.vllm_bytes else "rollouts (KV cache)"
        parts[name] = rollouts(shape, s)
        return Estimate(parts, (name,) if s.vllm_bytes and s.vllm_sleep else ())
    return Estimate(parts)


def predict_rss(shape: Shape, s: Setup) -> float:
    """Peak resident memory of a CPU stage process: the estimate plus the process's fixed cost."""
    return estimate(shape, s).total + CPU_PROCESS_BYTES


def lora_params(shape: Shape, r: int, targets: Any) -> int:
    """Trainable parameters of LoRA rank `r` on the decoder's linear layers (`all-linear` or a name list)."""
    h, kv, i = shape.hidden, shape.kv_dim, shape.intermediate
    sizes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
             "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
    names = list(sizes) if targets == "all-linear" else [t for t in targets if t in sizes]
    return shape.layers * sum(r * (sizes[n][0] + sizes[n][1]) for n in names)
