"""What the training stages (sft, grpo) share: model, data, LoRA, precision, dtype, checkpoints."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas._base import Schema, added
from schemas.artifacts import ArtifactType
from schemas.stages.base import Curve, StageSpec


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


class TrainingStage(StageSpec):
    """What the training stages share: a model trained on a dataset, LoRA, precision and checkpoints."""

    model: str
    """Model to train: a model name or a stage that outputs a model."""
    data: str
    """Training rows (a dataset name or a stage that outputs one)."""
    lr: float = Field(default=1e-5, gt=0)
    """Peak learning rate."""
    max_grad_norm: float = Field(default=1.0, ge=0)
    """Clip the gradient to this global L2 norm before each step (transformers' default 1.0); 0: no
    clipping, as the first-order arguments of CNL and MIGU assume."""
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
    deterministic: bool = added(False)
    """Deterministic kernels throughout (transformers' `full_determinism`: torch's deterministic algorithms,
    cuBLAS workspace, cuDNN): the same seed gives the same weights, bit for bit on a CPU; a GRPO stage then
    samples its rollouts with transformers, not vLLM. Slower on GPUs."""
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
    SHAPE_FROM: ClassVar[str | None] = "model"
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
        added |= {"max_grad_norm"} if self.max_grad_norm == 1.0 else set()
        return self.NON_RESULT | {"if_empty"} | added
