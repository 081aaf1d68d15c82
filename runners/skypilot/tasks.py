"""tasks: a Plan -> SkyPilot task configs (plain dicts in SkyPilot's YAML schema), and their YAML text.

Built without importing SkyPilot, so `--dry-run` and `plan` work in any environment; the tests
round-trip the result through `sky.Task.from_yaml_config`. Secrets appear by name only (a null
value is SkyPilot's "resolve at launch" reference), so no file or printout ever holds a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runners.skypilot import scripts
from runners.skypilot.files import files_to_ship
from runners.skypilot.grouping import group
from runners.skypilot.machines import Machine, TaskGroup
from schemas.skypilot import SkyPilotRunner
from sdk.errors import RecipeError
from sdk.plan import Plan, Stage
from sdk.run.apply import stage_names


@dataclass
class CloudTask:
    """One SkyPilot task: the stages it runs and its YAML config."""

    name: str
    group: TaskGroup
    config: dict[str, Any]
    force: tuple[str, ...] = ()
    """Its stages that run even when the store has them (`--force`)."""

    @property
    def machine(self) -> Machine:
        return self.group.machine


@dataclass(frozen=True)
class Launch:
    """How the controller was asked to run the recipe (what each node repeats)."""

    recipe_file: Path
    overrides: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    until: tuple[str, ...] = ()
    force: tuple[str, ...] = ()


def slug(text: str, limit: int = 60) -> str:
    """A name SkyPilot accepts for jobs, tasks and clusters."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    out = out[:limit].rstrip("-") or "stage"
    return out if out[0].isalpha() else f"r-{out}"[:limit]


def job_name(recipe_name: str) -> str:
    """The managed job (or cluster prefix) of a recipe: how status, logs and cancel find it."""
    return slug(f"recipe-{recipe_name}")


def runner_of(recipe: Any) -> SkyPilotRunner:
    runner = recipe.runner
    if not isinstance(runner, SkyPilotRunner):
        raise RecipeError("this recipe has no SkyPilot runner; add a block such as\n"
                          "  runner: {kind: skypilot, bucket: s3://my-bucket/runs, resources: {accelerators: H100:8}}")
    return runner


def select_stages(plan: Plan, launch: Launch) -> list[Stage]:
    """The stages this launch covers: --only, else --until and their ancestors, else all."""
    only, until = stage_names(plan, launch.only), stage_names(plan, launch.until)
    stage_names(plan, launch.force)
    if only:
        wanted = set(only)
    elif until:
        wanted = set(until).union(*(plan.ancestors(s) for s in until))
    else:
        wanted = set(plan.ids)
    return [s for s in plan.stages if s.id in wanted]


def workdir_and_recipe(runner: SkyPilotRunner, launch: Launch) -> tuple[Path, str]:
    """The synced folder (absolute) and the recipe's path inside it, as the node sees it."""
    workdir = Path(runner.workdir).expanduser().resolve()
    recipe = launch.recipe_file.expanduser().resolve()
    if not workdir.is_dir():
        raise RecipeError(f"runner.workdir {workdir} is not a folder")
    if not recipe.is_relative_to(workdir):
        raise RecipeError(f"the recipe {recipe} is outside runner.workdir {workdir}, which is what the "
                          "nodes receive; run from a folder that contains it or set runner.workdir")
    target = runner.install
    if target == "." or target.startswith(("./", "/", "~")):
        folder = (workdir / Path(target).expanduser())
        if not (folder / "pyproject.toml").is_file():
            raise RecipeError(f"runner.install is {target!r} but {folder} has no pyproject.toml; run from a "
                              "checkout of this project, or set runner.install to a pip requirement")
    return workdir, recipe.relative_to(workdir).as_posix()


def secret_names(runner: SkyPilotRunner, recipe: Any) -> list[str]:
    names = list(runner.secrets)
    if recipe.tracking.backend == "wandb" and "WANDB_API_KEY" not in names:
        names.append("WANDB_API_KEY")
    return names


def build(recipe: Any, plan: Plan, launch: Launch) -> list[CloudTask]:
    """The SkyPilot tasks that run the selected stages, in order."""
    runner = runner_of(recipe)
    workdir, recipe_file = workdir_and_recipe(runner, launch)
    shipped = files_to_ship(recipe, plan, runner, workdir)
    overrides = [*launch.overrides, *(f.override for f in shipped)]
    tasks = []
    for g in group(plan, select_stages(plan, launch), runner):
        keys = [s.key for s in g.stages]
        force = [sid for sid in g.ids if sid in stage_names(plan, launch.force)]
        skip = [] if force else [k for s in g.stages for k in s.keys]  # done: main artifacts and named outputs
        config: dict[str, Any] = {"name": slug("-".join(g.ids))}
        if g.machine.num_nodes > 1:
            config["num_nodes"] = g.machine.num_nodes
        if resources := resources_config(g.machine, runner):
            config["resources"] = resources
        config["workdir"] = str(workdir)
        root, folder = split_bucket(runner.bucket)
        store = f"{runner.mount_path.rstrip('/')}/{folder}" if folder else runner.mount_path
        config["envs"] = {scripts.STORE_ENV: store, **runner.envs}
        if names := secret_names(runner, recipe):
            config["secrets"] = {name: None for name in names}
        config["file_mounts"] = {runner.mount_path: {"source": root, "mode": runner.mount},
                                 **{f.remote: str(f.local) for f in shipped}}
        config["setup"] = scripts.setup_script(runner, g.ids, skip, gpu=bool(g.machine.accelerators))
        config["run"] = scripts.run_script(recipe_file, overrides, g.ids, keys, skip,
                                           g.outside_inputs(plan), g.machine.num_nodes, force)
        tasks.append(CloudTask(config["name"], g, config, tuple(force)))
    return tasks


def split_bucket(url: str) -> tuple[str, str]:
    """(what SkyPilot mounts, the store's folder inside it): `s3://b/runs` -> (`s3://b`, `runs`).

    SkyPilot's MOUNT and MOUNT_CACHED modes mount whole buckets only (`Storage._validate_source`
    raises StorageModeError for a sub-path when the storage is constructed at launch), so the
    bucket root is mounted and RECIPE_STORE points at the folder inside it. A `cos://` URL names
    its region first, an Azure `https://` URL its container.
    """
    scheme, _, rest = url.partition("://")
    parts = [p for p in rest.split("/") if p]
    head = 2 if scheme in ("cos", "https") else 1
    return f"{scheme}://{'/'.join(parts[:head])}", "/".join(parts[head:])


def resources_config(machine: Machine, runner: SkyPilotRunner) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if machine.infra:
        res["infra"] = machine.infra
    if machine.accelerators:
        res["accelerators"] = machine.accelerators
    if machine.use_spot:
        res["use_spot"] = True
    if machine.disk_size:
        res["disk_size"] = machine.disk_size
    if runner.managed and runner.max_restarts_on_errors:
        res["job_recovery"] = {"max_restarts_on_errors": runner.max_restarts_on_errors}
    return res


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the scripts) as `|` blocks, so the YAML reads like a hand-written one."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(configs: list[dict[str, Any]]) -> str:
    return yaml.dump_all(configs, Dumper=_Dumper, sort_keys=False, width=120, default_flow_style=False)


def narrowed(tasks: list[CloudTask], secrets: list[str] | None) -> list[CloudTask]:
    """The tasks with only the secret names in `secrets` (all of them when None)."""
    if secrets is None:
        return tasks
    return [CloudTask(t.name, t.group, _narrow(t.config, secrets), t.force) for t in tasks]


def _narrow(config: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    """The config with only the secret names in `secrets` (and no `secrets:` key when none is left)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key != "secrets":
            out[key] = value
        elif kept := {n: None for n in value if n in secrets}:
            out[key] = kept
    return out
