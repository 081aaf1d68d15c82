"""FilterStage: keep the rows whose response the verifier accepts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec


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
