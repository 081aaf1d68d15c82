"""SftStage: supervised fine-tuning, with CNL's and MIGU's masks."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from schemas._base import Schema
from schemas.artifacts import ArtifactType
from schemas.stages.training import TrainingStage


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
