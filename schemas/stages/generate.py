"""GenerateStage: n sampled responses per row."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec
from schemas.stages.sampling import _Sampling


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
