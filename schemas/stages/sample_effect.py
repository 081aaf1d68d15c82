"""SampleEffectStage: the samples whose SFT moves a fresh base most along the RL update."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec


class SampleEffectStage(StageSpec):
    """Rank samples by their sample effect on a target direction and keep the top ones (Re-distillation).

    A sample's effect is the first-order change an SFT step on it makes along the direction
    `end - start` (the RL update, theta_RL - theta_0): `-<grad loss(z; model), end - start>`, its loss
    gradient taken at `model` (the student's initial weights). Larger is better."""

    kind: Literal["sample_effect"]
    model: str
    """Weights where each sample's loss gradient is taken (the student before training)."""
    data: str
    """Candidate samples (rows with a `response`)."""
    start: str
    """Start of the target direction (the RL run's initial model)."""
    end: str
    """End of the target direction (the RL policy)."""
    keep: int | None = Field(default=None, ge=1)
    """Keep this many top samples (None: all, ranked)."""
    params: list[str] = []
    """Only parameters whose name contains one of these (e.g. `layers.29.`), to keep it cheap; empty: all."""
    max_length: int = Field(default=1024, ge=8)
    """Tokens of prompt plus response the loss sees (the student SFT's `max_length`)."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset", "start": "model",
                                                 "end": "model"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"
