"""Stage specs of CoScale-RL's pools (METHODS.md, section 2): probe pass rates, partition, solutions per problem.

    probe(model, problems) -> rows with `pass_rate`
    partition(probed rows [, previous partition]) -> unsolvable / solvable / solved / failed, group1..K
    solutions(rows holding solutions) -> at most k solutions per problem, as SFT rows
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec
from schemas.stages.sampling import _Sampling

POOLS = ("unsolvable", "solvable", "solved", "failed")
"""The pools every problem is in exactly one of."""


class ProbeStage(StageSpec, _Sampling):
    """Pass rate per problem: `n` sampled responses of a model on every row, graded by the rows' verifier."""

    kind: Literal["probe"]
    model: str
    """The policy whose pass rates are measured (a model name or a stage that outputs a model)."""
    data: str
    """The problems (rows with answers and their verifier)."""
    n: int = Field(default=16, ge=1)
    """Samples per problem (the paper: 16-64); the pass rate is correct / n."""
    temperature: float = Field(default=1.0, gt=0)
    """Sampling temperature (a pass rate needs sampling, so greedy is not allowed)."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"batch_size"})
    SAMPLING: ClassVar[bool] = True


class PartitionStage(StageSpec):
    """Problems into pools by pass rate, the solvable ones into difficulty groups (easiest first).

    A problem is unsolvable below `unsolvable`, solved above `solved`, solvable between them, and
    failed once it is unsolvable with its `budget` of solutions spent (it stays failed)."""

    kind: Literal["partition"]
    data: str
    """Probed rows (a probe stage's output: each row has its `pass_rate`)."""
    previous: str | None = None
    """An earlier partition: which problems failed and how many solutions each has had."""
    unsolvable: float = Field(default=0.05, ge=0, le=1)
    """A pass rate below this is unsolvable (the paper: 5%)."""
    solved: float = Field(default=0.70, ge=0, le=1)
    """A pass rate above this is solved (the paper: 70%)."""
    groups: int = Field(default=2, ge=1)
    """Difficulty groups the solvable pool is cut into, by pass rate (outputs `group1`..`groupK`, easiest first)."""
    min_group: int = Field(default=1, ge=1)
    """Fewest problems a group may have (the RL's prompts per step): a small solvable pool fills fewer groups,
    the later ones left empty; one smaller than this fills none."""
    spend: int = Field(default=0, ge=0)
    """Solutions this iteration gives each unsolvable problem (the k schedule's value; 0 for a re-probe)."""
    budget: int | None = Field(default=None, ge=1)
    """Most solutions a problem may get: an unsolvable problem that has had them all is failed (None: no limit)."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"data": "dataset", "previous": "report"}
    INPUT_KINDS: ClassVar[dict[str, str]] = {"data": "probe", "previous": "partition"}
    OUTPUT: ClassVar[ArtifactType] = "report"
    OUTPUTS: ClassVar[dict[str, ArtifactType]] = {pool: "dataset" for pool in POOLS}
    LIGHT: ClassVar[bool] = True

    def outputs(self) -> dict[str, ArtifactType]:
        return {**self.OUTPUTS, **{name: "dataset" for name in group_names(self.groups)}}

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> PartitionStage:
        if self.unsolvable > self.solved:
            raise ValueError(f"unsolvable ({self.unsolvable}) must not be above solved ({self.solved})")
        return self


def group_names(groups: int) -> list[str]:
    """The named outputs of the difficulty groups: `group1` (easiest) .. `groupK` (hardest)."""
    return [f"group{g}" for g in range(1, groups + 1)]


class SolutionsStage(StageSpec):
    """At most `k` distinct solutions per problem, as SFT rows (CoScale-RL's data scaling).

    Rows with the same `id` are one problem; each row's `field` holds a solution or a list of them
    (a dataset's solutions column, or a teacher's filtered samples, one row each). `earlier` rows are kept."""

    kind: Literal["solutions"]
    data: str
    """Rows holding solutions (the unsolvable pool, or a filter of a teacher's samples of it)."""
    earlier: str | None = None
    """The previous iteration's solutions: kept, each counting toward its problem's `k` (the set grows)."""
    k: int = Field(ge=1)
    """Solutions per problem in all (fewer where fewer distinct ones exist)."""
    field: str = Field(default="response", min_length=1)
    """The row field holding a solution or a list of them (`answer` uses the gold answer)."""
    template: str = "{solution}"
    """How a solution becomes the response trained on, e.g. `<answer>{solution}</answer>`."""
    seed: int = 0
    """Seed of which solutions are kept when more than `k` exist."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"data": "dataset", "earlier": "dataset"}
    INPUT_KINDS: ClassVar[dict[str, str]] = {"earlier": "solutions"}
    OUTPUT: ClassVar[ArtifactType] = "dataset"
    LIGHT: ClassVar[bool] = True

    @model_validator(mode="after")
    def _template_has_solution(self) -> SolutionsStage:
        if "{solution}" not in self.template:
            raise ValueError("template must contain {solution} (where each solution goes)")
        return self
