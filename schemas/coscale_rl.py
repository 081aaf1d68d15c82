"""The `coscale-rl` recipe (CoScale-RL, Chen, Gao, Wu 2026; METHODS.md section 2): scale solutions per
problem for the problems the policy cannot solve, scale rollouts for those it can, merge back by
re-distillation, and repeat.

    per iteration i (policy P_i; P_1 = base):
      probe_i: pass rates of P_i -> pools_i: unsolvable / solvable / solved / failed
      [teacher_i: generate -> correct_i: filter] -> solutions_i: k_i per unsolvable problem -> scale_i: sft(P_i)
      [reprobe_i -> repools_i]: pools again after the SFT, the solvable pool in difficulty groups
      rl_i_g: grpo(scale_i, group g), one per group, N_g rollouts
      replay_i: the latest correct response per problem across the groups' buffers -> merge_i: sft -> P_{i+1}
    [plain_grpo: GRPO from the base on every problem, the same RL rollout budget (`baseline:`)]
    eval: the base, the baseline and every P_i on the test set
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas._base import Schema
from schemas.re_distill import EvalBlock, RlBlock, SftBlock
from schemas.recipe import Note, RecipeBase
from schemas.stages import GenerateStage
from schemas.stages.pools import ProbeStage

BASELINE_STAGE = "plain_grpo"
"""The plain-GRPO arm's stage id (and its name in the evaluation)."""

Schedule = list[int]
"""A value per iteration; the last one holds for every later iteration."""


def scheduled(schedule: Schedule, iteration: int) -> int:
    """The schedule's value for `iteration` (1-based); past its end, its last value.

    >>> scheduled([1, 5, 10], 2), scheduled([1, 5, 10], 7)
    (5, 10)
    """
    if iteration < 1:
        raise ValueError(f"iterations count from 1, got {iteration}")
    return schedule[min(iteration, len(schedule)) - 1]


class ProbeBlock(ProbeStage):
    """How pass rates are measured; the recipe wires the model (each iteration's policy) and the problems."""

    id: str = "probe"
    """Set by the recipe (leave it out)."""
    kind: Literal["probe"] = "probe"
    model: str = ""
    """Set by the recipe: the iteration's policy."""
    data: str = ""
    """Set by the recipe: the problems."""


class PoolsBlock(Schema):
    """The pool thresholds, the difficulty groups and the per-problem budget."""

    unsolvable: float = Field(default=0.05, ge=0, le=1)
    """A pass rate below this is unsolvable (the paper: 5%)."""
    solved: float = Field(default=0.70, ge=0, le=1)
    """A pass rate above this is solved (the paper: 70%)."""
    groups: int = Field(default=2, ge=1)
    """Difficulty groups of the solvable pool, each RL'd on its own (group1 easiest)."""
    budget: int | None = Field(default=None, ge=1)
    """Most solutions one problem may get over all iterations; an unsolvable problem that has had them all is
    failed (None: no limit)."""
    reprobe: bool = True
    """Measure pass rates again after data scaling, so problems the SFT made solvable reach this iteration's
    RL (the paper); false: the RL groups come from the iteration's first probe (one probe less)."""

    @model_validator(mode="after")
    def _ordered(self) -> PoolsBlock:
        if self.unsolvable > self.solved:
            raise ValueError(f"unsolvable ({self.unsolvable}) must not be above solved ({self.solved})")
        return self


class TeacherBlock(GenerateStage):
    """A teacher model's sampling of the unsolvable problems; only its correct, finished samples are kept."""

    id: str = "teacher"
    """Set by the recipe (leave it out)."""
    kind: Literal["generate"] = "generate"
    model: str = Field(min_length=1)
    """The teacher (a name under `models:`; the paper: QwQ-32B)."""
    data: str = ""
    """Set by the recipe: each iteration's unsolvable pool."""
    n: int = Field(default=16, ge=1)
    """Samples per unsolvable problem."""


class SolutionsBlock(Schema):
    """Data scaling: k solutions per unsolvable problem, from the data or from a teacher."""

    k: Schedule = Field(default=[1, 5, 10, 20], min_length=1)
    """Solutions per unsolvable problem, per iteration (the last value holds after); each value >= 1."""
    field: str | None = None
    """Take solutions from this field of the problem rows (a solution or a list of them; `answer` uses the
    gold answer). Give this or `teacher`."""
    teacher: TeacherBlock | None = None
    """Generate solutions with a teacher model (`generate`, then `filter` keeps the correct ones)."""
    template: str = "{solution}"
    """How a solution is written as the response, e.g. `<answer>{solution}</answer>`."""
    accumulate: bool = True
    """Keep every earlier iteration's solutions in the SFT set (they count toward k): the data grows, and an
    SFT on a small new pool does not make the policy forget what it learned; false: this iteration's pool only."""
    seed: int = 0
    """Seed of which solutions are kept when more than k exist."""

    @model_validator(mode="after")
    def _one_source(self) -> SolutionsBlock:
        if (self.field is None) == (self.teacher is None):
            raise ValueError("give solutions a `field` of the problem rows or a `teacher` model (one of them)")
        if min(self.k) < 1:
            raise ValueError("every k is at least 1")
        if "{solution}" not in self.template:
            raise ValueError("template must contain {solution}")
        return self


class CoscaleRlBlock(RlBlock):
    """GRPO settings every group shares; each group's rollout count comes from `group_generations`."""

    group_generations: list[int] = []
    """Rollouts per prompt (N) per difficulty group, easiest group first (the paper: larger N for harder
    groups); empty: `generations` for every group."""

    def _batch_fits_processes(self) -> CoscaleRlBlock:
        """Checked per group, with each group's N, when the recipe makes the groups' stages."""
        return self if self.group_generations else super()._batch_fits_processes()

    def _scaling_can_rise(self) -> CoscaleRlBlock:
        """Checked per group, with each group's N, when the recipe makes the groups' stages."""
        return self if self.group_generations else super()._scaling_can_rise()


class BaselineBlock(Schema):
    """Plain GRPO from the base on every training problem, the paper's comparison: no pools, no data scaling,
    no merge, the same number of RL rollouts. Every other GRPO setting is `rl`'s, so the two arms differ in
    the method only."""

    generations: int | None = Field(default=None, ge=2)
    """Rollouts per prompt (N), fixed (None: `rl.generations`)."""
    rollouts: int | None = Field(default=None, ge=1)
    """RL rollouts to sample, rounded up to whole steps of prompts_per_step x N (None: what the CoScale-RL
    arm's RL stages are planned to sample, steps x prompts_per_step x N summed over groups and iterations,
    with each group's first N; groups found empty at run time sample nothing, so this is an upper bound
    of that arm's use, and the report prints what each arm sampled)."""


class MergeBackBlock(Schema):
    """Re-distillation of the groups' RL runs back into one policy (the iteration's result)."""

    last_steps: int | None = Field(default=None, ge=1)
    """Read each group's rollouts of this many final steps (None: every step; the latest correct one per
    problem is kept either way)."""
    into: Literal["scaled", "start"] = "scaled"
    """The policy the merge SFT trains: `scaled` (the policy the groups' RL started from: the iteration's
    start after data scaling) or `start` (the iteration's start before it; data scaling then reaches the
    next iteration only through the RL samples)."""
    seed: int = 0
    """Seed of the row order."""
    sft: SftBlock = SftBlock()
    """SFT of the merge (the re-distillation)."""


class CoscaleRlRecipe(RecipeBase):
    """CoScale-RL: iterate pools -> data scaling -> RL per difficulty group -> re-distillation merge."""

    recipe: Literal["coscale-rl"]
    base: str
    """The starting policy (a name under `models:`)."""
    problems: str
    """The training problems with answers (a name under `data:`)."""
    iterations: int = Field(default=3, ge=1)
    """Iterations of the loop (the paper: 3); iteration i's merged policy starts iteration i+1."""
    probe: ProbeBlock = ProbeBlock()
    """How pass rates are measured (samples, temperature, length)."""
    pools: PoolsBlock = PoolsBlock()
    """Pool thresholds, difficulty groups, budget."""
    solutions: SolutionsBlock
    """Where the unsolvable problems' solutions come from and how many (the k schedule)."""
    scale: SftBlock = SftBlock()
    """SFT of the policy on the solutions (data scaling)."""
    rl: CoscaleRlBlock = CoscaleRlBlock()
    """GRPO per difficulty group (compute scaling)."""
    merge: MergeBackBlock = MergeBackBlock()
    """Re-distillation of the groups' RL runs into the iteration's policy."""
    baseline: BaselineBlock | None = None
    """A plain-GRPO arm (stage `plain_grpo`) on the same problems and RL rollout budget, evaluated beside the
    iterations' policies (the paired difference says whether CoScale-RL beat it); null: none."""
    evaluate: EvalBlock
    """Evaluation of the base and every iteration's policy; give its `data` (the test set)."""

    def count_checks(self, rows: dict[str, int]) -> tuple[list[Note], list[Note]]:
        errors: list[Note] = []
        warnings: list[Note] = []
        k = self.solutions.k
        if len(k) > self.iterations:
            unused = ", ".join(map(str, k[self.iterations:]))
            warnings.append((("solutions", "k"), f"{len(k)} values of k for {self.iterations} iterations: "
                             f"{unused} {'is' if len(k) - self.iterations == 1 else 'are'} never used (one value "
                             "per iteration; past the list's end its last value holds)"))
        problems = rows.get(self.problems)
        if problems is not None and self.pools.groups > problems:
            errors.append((("pools", "groups"), f"{self.pools.groups} difficulty groups for {problems} problems "
                           f"in {self.problems!r}: every group needs problems of its own"))
        return errors, warnings
