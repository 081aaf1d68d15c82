"""TakeStage: as many rows of one dataset as another has."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec


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
