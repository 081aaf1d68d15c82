"""The runner interface: what every place stages can run (this machine, SkyPilot) answers.

A runner is named in `sdk.registry.RUNNERS` and loaded only when a recipe or a call asks for it, so
the SDK never imports one. Each method returns values (a RunPlan, an ApplyResult, a status dict);
printing them is the CLI's business. `sdk.api` resolves the runner and calls these.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sdk.errors import RecipeError
from sdk.plan import Plan
from sdk.run.apply import ApplyResult, StageLauncher
from sdk.run.diff import StageStatus
from sdk.run.display import Display


@dataclass(frozen=True)
class Job:
    """A compiled recipe as a runner receives it: the model, its plan, and the file and overrides it
    was loaded from (a cloud runner ships those to its nodes; a recipe built in Python has no file)."""

    recipe: Any
    plan: Plan
    file: Path | None = None
    overrides: tuple[str, ...] = ()
    store: str | None = None
    """The store given to the call (`--store`), else the recipe's own."""

    @property
    def store_path(self) -> Path:
        """Where this job's store is: the one given to the call, else the recipe's `store:`."""
        return Path(self.store if self.store is not None else self.plan.store)

    def need_file(self, why: str) -> Path:
        if self.file is None:
            raise RecipeError(f"{why}; this recipe was built in Python and has no file. Write it to a YAML "
                              "file (`recipe plan --expand` shows one) and pass the path")
        return self.file


@dataclass
class RunPlan:
    """What a runner would do with a plan, before anything runs. Iterating gives the stages' states."""

    runner: str
    plan: Plan
    where: str
    """The store: a folder, or the cloud bucket."""
    stages: list[StageStatus] = field(default_factory=list)
    """Each stage against the store as `apply` with the same selection would treat it (empty for a
    cloud runner: its store is the bucket, read on the nodes)."""
    estimate: Any = None
    """A cloud runner's tasks, machines, $/hr, hours and total (`runners.skypilot.pricing.Estimate`)."""
    job: str | None = None
    """The cloud job (or cluster prefix) that status, logs and cancel find."""
    notes: list[str] = field(default_factory=list)
    memory: list[Any] = field(default_factory=list)
    """The fit check: one `sdk.fit.check.StageFit` per training stage, on the machine it gets from this runner."""
    schedule: Any = None
    """Which of the stages to run can run together (`sdk.run.schedule.Schedule`), under the runner's limits."""
    jobs: list[Any] = field(default_factory=list)
    """A cloud runner's jobs in launch order (`runners.skypilot.jobs.CloudJob`); `schedule` is then theirs."""

    def __iter__(self) -> Iterator[StageStatus]:
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def __getitem__(self, index: int) -> StageStatus:
        return self.stages[index]


class Runner(Protocol):
    """One place stages run. `only`/`until`/`force` select stages as `recipe apply` does."""

    kind: str

    def plan(self, job: Job, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
             force: tuple[str, ...] = ()) -> RunPlan: ...

    def apply(self, job: Job, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
              force: tuple[str, ...] = (), dry_run: bool = False, out: Path | None = None,
              display: Display | None = None, launcher: StageLauncher | None = None,
              jobs: int | None = None) -> ApplyResult:
        """Run (or, with `dry_run`, only prepare and show) the selected stages, up to `jobs` at once
        (default: the runner's own). A cloud runner also takes `detach: bool` (return once everything
        is launched); `sdk.api.apply` refuses it for a runner that does not. A dry run writes nothing
        outside the store (or `out`) and says in `ApplyResult.files` what it wrote."""
        ...

    def status(self, job: Job | None, store: str | None = None) -> dict[str, Any]: ...

    def logs(self, job: Job, *, follow: bool = True, task: str | None = None) -> int:
        """Stream the latest run's logs to stdout (`task`: only the job or stage running that stage);
        the exit code of what they belong to."""
        ...

    def cancel(self, job: Job) -> dict[str, Any]:
        """Stop what runs for the recipe; committed stages stay."""
        ...
