"""ForgettingStage: learned / forgotten counts per arm and epoch."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec


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
