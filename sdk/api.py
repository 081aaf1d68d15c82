"""The SDK: the same operations as the `recipe` CLI, as plain functions.

    >>> from sdk import api
    >>> recipe = api.load("recipes/pipeline-tiny.yaml", ["stages.sft.lr=1e-3"])
    >>> plan = api.compile(recipe)
    >>> [s.state for s in api.plan(plan)]          # cached / new / changed per stage
    >>> result = api.apply(plan)                    # runs what is not cached
    >>> result["eval"].path                         # the committed report folder
    >>> cloud = api.apply("recipes/re-distill.yaml", runner="skypilot", dry_run=True)
    >>> cloud.files, cloud.estimate.total           # the task YAML written (under the store), the cost

Every call that runs or shows stages takes `runner=`: a name from `sdk.registry.RUNNERS` (`local`,
`skypilot`; default: the recipe's `runner.kind`) or a runner object (`sdk.run.runner.Runner`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from schemas import RecipeBase
from sdk.args import as_strings
from sdk.compile.compiler import compile_recipe, source_of
from sdk.errors import RecipeError
from sdk.plan import Plan
from sdk.recipe.loader import load_document
from sdk.recipe.validate import validate
from sdk.registry import RUNNERS, load_runner
from sdk.run.apply import ApplyResult, StageLauncher
from sdk.run.display import Display
from sdk.run.runner import Job, Runner, RunPlan

__all__ = ["load", "compile", "plan", "apply", "status", "logs", "cancel", "schema", "expand", "init",
           "kinds", "job", "runner_for", "fit", "check", "verify", "gc"]

Names = str | Iterable[str]
"""One stage id or override, or several."""


def load(path: str | Path, overrides: Names = ()) -> Any:
    """Read, override, interpolate and validate a recipe file into its Recipe model.

    Raises:
        RecipeError: with every problem located as `file:line:col: path: message`.
    """
    return validate(load_document(path, as_strings(overrides, "overrides")))


def compile(recipe: Any) -> Plan:  # noqa: A001 - the verb users expect
    """Turn a Recipe (from `load`, or built in Python) into its Plan."""
    return compile_recipe(recipe)


def check(target: Any, store: str | Path | None = None) -> Plan:
    """`recipe validate`: compile, then compare every merge's inputs that the store (the one given, else the
    recipe's) already holds, as `plan` does; the Plan, or a RecipeError listing every problem."""
    from sdk.compile.compat import model_problems
    from sdk.run.store import Store

    plan = _as_plan(target)
    folder = Path(store if store is not None else plan.store)
    if folder.is_dir():
        doc = getattr(plan.recipe, "_source", None)
        if problems := model_problems({s.id: s for s in plan.stages}, doc, Store(folder)):
            raise RecipeError(problems)
    return plan


def _as_plan(target: Any) -> Plan:
    if isinstance(target, Plan):
        return target
    if isinstance(target, (str, Path)):
        target = load(target)
    return compile_recipe(target)


def job(target: Any, store: str | Path | None = None) -> Job:
    """A recipe (path, model or Plan) as a runner receives it: the model, its plan, its file and overrides."""
    p = _as_plan(target)
    doc = getattr(p.recipe, "_source", None)
    file = Path(doc.file) if doc is not None and Path(doc.file).is_file() else None
    return Job(p.recipe, p, file, tuple(doc.overrides) if doc is not None else (),
               None if store is None else str(store))


RunnerArg = str | Runner | StageLauncher | None
"""A runner name, a runner object, or (for the local runner) the launcher that starts each stage process."""


def runner_for(job_: Job | None, runner: RunnerArg = None) -> tuple[Runner, StageLauncher | None]:
    """The runner a call uses: the one named or given, else the recipe's `runner.kind`."""
    if runner is not None and not isinstance(runner, str):
        if hasattr(runner, "launch"):  # a stage launcher: the local runner with it
            return load_runner("local")(), cast(StageLauncher, runner)
        return cast(Runner, runner), None
    kind = runner or (job_.recipe.runner.kind if job_ is not None and job_.recipe is not None else "local")
    if kind not in RUNNERS:
        raise RecipeError(f"unknown runner {kind!r} (runners: {', '.join(RUNNERS)})")
    return load_runner(kind)(), None


def plan(target: Any, store: str | Path | None = None, *, only: Names = (), until: Names = (),
         force: Names = (), runner: RunnerArg = None) -> RunPlan:
    """What applying a recipe (path, model or Plan) would do. Iterating the result gives each stage as
    cached / new / changed (`forced`: cached, but run again) against the store, as `apply` with the same
    `only` / `until` / `force` would treat it; a cloud runner's plan has the tasks and cost in `.estimate`.
    """
    j = job(target, store)
    r, _ = runner_for(j, runner)
    return r.plan(j, **_selection(only, until, force))


def fit(target: Any, accelerators: Any = None) -> list[Any]:
    """The memory fit check: each training stage's peak memory per GPU (or RSS on CPU) and whether it fits.

    `accelerators(stage) -> "H100:8" | None` says what each stage runs on; by default its
    `resources.accelerators` (None: CPU, where a predicted peak RSS is given instead). A runner's
    `plan(...).memory` holds the same for the machines that runner gives each stage.
    """
    from sdk.fit.check import fit_plan

    return fit_plan(job(target).plan, accelerators or (lambda stage: stage.spec.resources.accelerators))


def _selection(only: Names, until: Names, force: Names) -> dict[str, tuple[str, ...]]:
    return {"only": as_strings(only, "only"), "until": as_strings(until, "until"), "force": as_strings(force, "force")}


def apply(target: Any, *, store: str | Path | None = None, only: Names = (), until: Names = (),
          force: Names = (), runner: RunnerArg = None, dry_run: bool = False, out: str | Path | None = None,
          display: Display | None = None, progress: bool | None = None, jobs: int | None = None,
          detach: bool = False) -> ApplyResult:
    """Run the stages the store does not have yet, where the runner runs them; returns what happened.

    Args:
        runner: `local`, `skypilot`, a runner object, or a stage launcher (default: the recipe's runner).
        dry_run: run nothing. Locally, `.preview` says what would run; on SkyPilot the task YAML is written
            under the store (`<store>/sky-tasks/<name>/`, or `out`) and listed in `.files`.
        progress: show each stage and its steps as it runs (on stderr), as the CLI does. Default: on in an
            interactive session (a terminal, a REPL, a notebook), off elsewhere and under pytest.
        display: a Display of your own (wins over `progress`).
        jobs: stages running at once, each as soon as its inputs are committed (local default: one per
            GPU on a GPU machine, pinned to its own GPUs; one on a CPU; SkyPilot: managed jobs at once,
            default every job whose inputs are ready). `runner.max_parallel` caps it.
        detach: SkyPilot: return once every managed job is launched rather than when each has ended.

    Raises:
        StageFailed: the first stage that failed, once every branch not depending on it has ended (finished
            stages stay committed; `.outcomes` has every stage's outcome).
        RecipeError: an unknown stage name or runner, a cloud budget the estimate exceeds, ...
    """
    j = job(target, store)
    r, launcher = runner_for(j, runner)
    extra: dict[str, Any] = {} if jobs is None else {"jobs": jobs}
    if detach:
        _needs_option(r, "apply", "detach", "a local apply runs its stages here, in the foreground")
        extra["detach"] = True
    return r.apply(j, **_selection(only, until, force), dry_run=dry_run, out=None if out is None else Path(out),
                   display=display or _display(progress), launcher=launcher, **extra)


def _needs_option(r: Any, method: str, option: str, why: str) -> None:
    """Refuse an option the runner's method does not take, with the reason (not a TypeError)."""
    import inspect

    if option not in inspect.signature(getattr(r, method)).parameters:
        raise RecipeError(f"{option.replace('_', '-')}: not for the {getattr(r, 'kind', 'given')} runner ({why})")


def _display(progress: bool | None) -> Display:
    from sdk.run.display import interactive

    return Display(quiet=not (interactive() if progress is None else progress))


def status(store: str | Path | None = None, *, recipe: Any = None, runner: RunnerArg = None) -> dict[str, Any]:
    """What a runner holds: locally the applies recorded in a store and its artifacts (the store given,
    else the recipe's, else ./runs); on SkyPilot the recipe's jobs and clusters (every recipe's without one)."""
    j = job(recipe, store) if recipe is not None else None
    r, _ = runner_for(j, runner)
    return r.status(j, None if store is None else str(store))


def logs(target: Any, *, store: str | Path | None = None, runner: RunnerArg = None, follow: bool = True,
         task: str | None = None) -> int:
    """Stream the logs of the recipe's latest run to stdout (all its jobs or stages, or the one running
    stage `task`); returns its exit code."""
    j = job(target, store)
    r = runner_for(j, runner)[0]
    if task is None:
        return r.logs(j, follow=follow)
    _needs_option(r, "logs", "task", "it has one log")
    return r.logs(j, follow=follow, task=task)


def cancel(target: Any, *, runner: RunnerArg = None) -> dict[str, Any]:
    """Stop what runs for the recipe (committed stages and checkpoints stay); says what it stopped."""
    j = job(target)
    return runner_for(j, runner)[0].cancel(j)


def verify(target: Any = None, *, store: str | Path | None = None, progress: Any = None) -> list[Any]:
    """`recipe verify`: hash every file of the store's artifacts (or only those the recipe's stages make)
    against their manifests. An artifact whose bytes differ is marked broken, so the next apply rebuilds it
    and what was built from it. `progress(n)` is told each block of n bytes read.

    Returns one `sdk.run.upkeep.Verified` per artifact (`.broken`: why, or None)."""
    from sdk.run import upkeep
    from sdk.run.store import Store

    plans = [] if target is None else [_as_plan(target)]
    folder = _store_folder(plans, store)
    s = Store(folder)
    return upkeep.verify(s, upkeep.stored_keys(s, plans), progress)


def gc(targets: Any, *, store: str | Path | None = None, dry_run: bool = False) -> list[Any]:
    """`recipe gc`: remove from the store every artifact no stage of the given recipes makes, and the
    work and checkpoint folders of stages that are committed or in none of their plans. Refused while an
    apply holds a lock in the store. Returns what was removed (with `dry_run`, what would be), as
    `sdk.run.upkeep.Garbage` items with their sizes."""
    from sdk.run import upkeep
    from sdk.run.store import Store

    items = [targets] if isinstance(targets, (str, Path, Plan)) or hasattr(targets, "recipe") else list(targets)
    if not items:
        raise RecipeError("gc: give the recipe files whose artifacts to keep (everything else in the store goes)")
    plans = [_as_plan(t) for t in items]
    found = upkeep.garbage(Store(_store_folder(plans, store)), plans)
    if not dry_run:
        upkeep.collect(found)
    return found


def _store_folder(plans: list[Plan], store: str | Path | None) -> Path:
    """The one store these plans share (the one given wins; none given and no plan: ./runs)."""
    if store is not None:
        return Path(store)
    stores = sorted({str(Path(p.store)) for p in plans}) or ["runs"]
    if len(stores) > 1:
        raise RecipeError(f"these recipes use different stores ({', '.join(stores)}): give --store, and the "
                          "recipes of that store")
    return Path(stores[0])


def schema() -> dict[str, Any]:
    """The JSON Schema of a recipe file as written (shorthands, `${...}`), for editors and validators."""
    from sdk.recipe.json_schema import recipe_schema

    return recipe_schema()


def kinds() -> dict[str, str]:
    """Every recipe kind, with one line saying what it does."""
    from sdk.recipe.starter import recipe_kinds

    return recipe_kinds()


def init(kind: str, name: str | None = None, out: str | Path | None = None, *, force: bool = False) -> Path:
    """Write a new recipe of `kind` (its tiny twin's values, commented); returns the file's path.

    Raises:
        RecipeError: an unknown kind, or the file exists and `force` is not set.
    """
    from sdk.recipe.starter import write_starter

    return write_starter(kind, name, out, force=force)


def _absolute_paths(entry: dict[str, Any], base_dir: Path) -> None:
    """A data entry's local file or folder (and its mix parts') made absolute from `base_dir`."""
    if entry.get("source") in ("jsonl", "mcq") and entry.get("path"):
        entry["path"] = str((base_dir / Path(entry["path"]).expanduser()).resolve())
    if entry.get("source") == "hf" and entry.get("id") and (base_dir / entry["id"]).exists():
        entry["id"] = str((base_dir / entry["id"]).resolve())
    for part in entry.get("parts") or []:
        _absolute_paths(part, base_dir)


def expand(target: Any) -> dict[str, Any]:
    """The `pipeline` recipe a recipe compiles to: the same stages, written out by hand."""
    recipe = load(target) if isinstance(target, (str, Path)) else target
    p = compile_recipe(recipe)
    sources = {s.id for s in p.stages if s.kind in ("model", "dataset") or s.origin[:1] == ("models",)}
    shared = set(RecipeBase.model_fields) - {"models", "data", "vars"}  # not the kind's own blocks
    base = recipe.model_dump(mode="json", exclude_defaults=True, include=shared)
    out: dict[str, Any] = {"recipe": "pipeline", **base}
    out["models"] = {k: v.model_dump(mode="json", exclude_defaults=True) for k, v in recipe.models.items()
                     if k in sources}
    base_dir = source_of(recipe).base_dir
    for entry in out["models"].values():  # a chained recipe's path, as it resolves from the original file
        if "recipe" in entry and "stage" in entry:
            entry["recipe"] = str((base_dir / Path(entry["recipe"]).expanduser()).resolve())
    out["data"] = {k: v.model_dump(mode="json", exclude_defaults=True) for k, v in recipe.data.items()
                   if k in sources}
    for entry in out["data"].values():  # local files as they resolve from the original file, so the
        _absolute_paths(entry, base_dir)  # expanded recipe works wherever it is written
    out["stages"] = [{"id": s.id, "kind": s.kind,
                      **s.spec.model_dump(mode="json", exclude_defaults=True, exclude={"id", "kind", "matrix"})}
                     for s in p.stages if s.id not in sources]
    return out
