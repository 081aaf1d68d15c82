"""SplitStage: a model's answers split rows into mastered / injection / heldout."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec


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
