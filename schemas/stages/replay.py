"""ReplayStage: rows from a grpo stage's replay buffer."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec


class ReplayStage(StageSpec):
    """Samples from a GRPO run's replay buffer: the correct responses of its last steps, one per problem."""

    kind: Literal["replay"]
    run: str | None = None
    """The grpo stage whose buffer to read."""
    runs: list[str] = []
    """Several grpo stages whose buffers are read together (CoScale-RL's merge of its groups); the latest
    correct response per problem is taken across all of them."""
    last_steps: int | None = Field(default=10, ge=1)
    """Use rollouts from this many final steps of each run (None: every step)."""
    correct_only: bool = True
    """Keep only rollouts the verifier accepted."""
    one_per_problem: bool = True
    """Keep the latest correct response per problem."""
    max_rows: int | None = Field(default=None, ge=1)
    """Keep at most this many rows."""
    seed: int = 0
    """Seed of which rows are kept when capped."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"run": "model", "runs": "model"}
    INPUT_KINDS: ClassVar[dict[str, str]] = {"run": "grpo", "runs": "grpo"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"

    @model_validator(mode="after")
    def _one_way_to_name_runs(self) -> ReplayStage:
        if (self.run is None) == (not self.runs):
            raise ValueError("name the grpo stage(s) to read: `run: rl` or `runs: [rl1, rl2]` (one of them)")
        return self
