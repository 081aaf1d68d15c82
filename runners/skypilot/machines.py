"""Machines: which cloud machines each stage needs.

A stage's machines are the runner's defaults overlaid with the cloud fields its own `resources`
set; light stages (sources, filter) that set no resources need none of their own. Which stages
share a task is grouping.py's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from schemas.skypilot import CloudDefaults, SkyPilotRunner
from sdk.plan import Plan, Stage

CLOUD_FIELDS = ("accelerators", "num_nodes", "use_spot", "cloud", "region", "disk_size")


@dataclass(frozen=True)
class Machine:
    """What SkyPilot provisions for a task."""

    accelerators: str | None = None
    num_nodes: int = 1
    use_spot: bool = False
    cloud: str | None = None
    region: str | None = None
    disk_size: int | None = None

    @property
    def infra(self) -> str | None:
        """SkyPilot 0.14's `infra:` (cloud[/region])."""
        if not self.cloud:
            return None
        return f"{self.cloud}/{self.region}" if self.region else self.cloud

    @property
    def gpus_per_node(self) -> float:
        if not self.accelerators:
            return 0
        _, _, count = self.accelerators.partition(":")
        return float(count or 1)

    def describe(self) -> str:
        parts = [self.accelerators or "cpu"]
        if self.num_nodes > 1:
            parts.append(f"x{self.num_nodes} nodes")
        if self.use_spot:
            parts.append("spot")
        if self.infra:
            parts.append(self.infra)
        if self.disk_size:
            parts.append(f"{self.disk_size}GB disk")
        return " ".join(parts)


@dataclass
class TaskGroup:
    """Stages that run, in order, in one SkyPilot task."""

    machine: Machine
    stages: list[Stage] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.stages]

    def outside_inputs(self, plan: Plan) -> list[str]:
        """Store keys of the inputs that earlier tasks produce (what worker nodes link to)."""
        inside = set(self.ids)
        keys = [plan.key_of(ref) for s in self.stages for _, ref in s.inputs if plan.producer(ref).id not in inside]
        return list(dict.fromkeys(keys))


def defaults(runner: SkyPilotRunner) -> Machine:
    d: CloudDefaults = runner.resources
    return Machine(d.accelerators, 1, d.use_spot, d.cloud, d.region, d.disk_size)


def light_machine(runner: SkyPilotRunner) -> Machine:
    """A CPU machine in the default cloud/region, for light stages that have no task to join."""
    return replace(defaults(runner), accelerators=None, use_spot=False)


def is_light(stage: Stage) -> bool:
    """A stage that only moves files (its spec says so) and asks for no machine of its own."""
    return stage.spec.LIGHT and not (set(CLOUD_FIELDS) & stage.spec.resources.model_fields_set)


def machine_for(stage: Stage, runner: SkyPilotRunner) -> Machine:
    """The runner's defaults, overlaid with each cloud field the stage's resources set explicitly."""
    res = stage.spec.resources
    own = {name: getattr(res, name) for name in CLOUD_FIELDS if name in res.model_fields_set}
    return replace(defaults(runner), **own)


def underused_gpus(stage: Stage, machine: Machine) -> str | None:
    """A note when a stage books several GPUs per node but starts one process (one GPU)."""
    gpus = machine.gpus_per_node
    if gpus > 1 and stage.spec.resources.processes == 1 and stage.spec.DISTRIBUTED:
        return (f"{stage.id}: {machine.accelerators} per node but resources.processes is 1, so one GPU "
                f"works; set resources.processes: {int(gpus)}")
    return None
