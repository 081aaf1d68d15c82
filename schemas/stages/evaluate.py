"""EvaluateStage: accuracy and friends of every listed model on one dataset."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas._base import added
from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec
from schemas.stages.sampling import _Sampling
from schemas.tasks import Task


class EvaluateStage(StageSpec, _Sampling):
    """Accuracy, pass@k and mean response length of each model on a dataset, into one report."""

    kind: Literal["evaluate"]
    models: list[str] = Field(min_length=1)
    """Models to compare (names or stage ids); the report is keyed by these names."""
    data: str
    """Test rows (a dataset name or a stage that outputs one)."""
    temperature: float = Field(default=0.0, ge=0)
    """Sampling temperature; 0 (the default) is greedy decoding."""
    samples: int = Field(default=1, ge=1)
    """Samples per problem; pass@k is reported for k = 1 and k = samples."""
    task: Task | None = added(None)
    """Evaluate on multi-turn episodes, e.g. `{kind: multi_attempt, min_attempts: 1, max_attempts: 2}`: each
    model answers once for every N from min_attempts to max_attempts (told N, as the paper evaluates), the
    report gives accuracy by attempts and `accuracy` is at max_attempts; `max_new_tokens` bounds an episode."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"models": "model", "data": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "report"
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"batch_size"})
    SAMPLING: ClassVar[bool] = True
    METRICS_TABLE: ClassVar[bool] = True
    VERSION: ClassVar[int] = 2
    """2: each model's metrics carry its `sft_examples` and `rl_responses`."""

    @model_validator(mode="after")
    def _sampling_needs_temperature(self) -> EvaluateStage:
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 needs temperature > 0 (greedy decoding gives the same answer every time)")
        if self.task is not None:
            self.task.check_budget(self.max_new_tokens, "max_new_tokens")
        return self
