"""The SDK: the same operations as the `recipe` CLI, as plain functions.

    >>> from sdk import api
    >>> recipe = api.load("recipes/pipeline-tiny.yaml", ["stages.sft.lr=1e-3"])
    >>> plan = api.compile(recipe)
    >>> [s.state for s in api.plan(plan)]          # cached / new / changed per stage
    >>> result = api.apply(plan)                    # runs what is not cached
    >>> result["eval"].path                         # the committed report folder
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdk.apply import ApplyResult, Runner, apply_plan, preview
from sdk.args import as_strings
from sdk.compiler import compile_recipe
from sdk.diff import StageStatus
from sdk.display import Display
from sdk.loader import load_document
from sdk.plan import Plan
from sdk.registry import load_runner
from sdk.store import Store
from sdk.validate import validate

__all__ = ["load", "compile", "plan", "apply", "status", "schema", "expand", "store_for", "init", "kinds"]

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


def _as_plan(target: Any) -> Plan:
    if isinstance(target, Plan):
        return target
    if isinstance(target, (str, Path)):
        target = load(target)
    return compile_recipe(target)


def store_for(plan: Plan, store: str | Path | None = None) -> Store:
    """The store an operation uses: the one given, else the recipe's `store:`."""
    return Store(store if store is not None else plan.store)


def plan(target: Any, store: str | Path | None = None, *, only: Names = (), until: Names = (),
         force: Names = ()) -> list[StageStatus]:
    """Each stage of a recipe (path, model or Plan) as cached / new / changed against the store.

    With `only`, `until` or `force`: the stages `apply` with the same arguments would consider, and
    what it would do with each (`forced`: cached, but run again).
    """
    p = _as_plan(target)
    return preview(p, store_for(p, store), only=as_strings(only, "only"), until=as_strings(until, "until"),
                   force=as_strings(force, "force"))


def apply(target: Any, *, store: str | Path | None = None, only: Names = (), until: Names = (),
          force: Names = (), runner: Runner | None = None, display: Display | None = None,
          progress: bool | None = None) -> ApplyResult:
    """Run the stages the store does not have yet; returns each stage's outcome.

    Args:
        progress: show each stage and its steps as it runs (on stderr), as the CLI does. Default: on in an
            interactive session (a terminal, a REPL, a notebook), off elsewhere and under pytest.
        display: a Display of your own (wins over `progress`).

    Raises:
        StageFailed: the first stage that failed (finished stages stay committed).
    """
    p = _as_plan(target)
    return apply_plan(p, store_for(p, store), runner or load_runner("local")(), display or _display(progress),
                      only=as_strings(only, "only"), until=as_strings(until, "until"),
                      force=as_strings(force, "force"))


def _display(progress: bool | None) -> Display:
    from sdk.display import interactive

    return Display(quiet=not (interactive() if progress is None else progress))


def status(store: str | Path = "./runs") -> dict[str, Any]:
    """The applies recorded in a store and the artifacts it holds."""
    s = Store(store)
    return {"store": str(s.root), "runs": s.runs(), "artifacts": s.artifacts()}


def schema() -> dict[str, Any]:
    """The JSON Schema of a recipe file as written (shorthands, `${...}`), for editors and validators."""
    from sdk.json_schema import recipe_schema

    return recipe_schema()


def kinds() -> dict[str, str]:
    """Every recipe kind, with one line saying what it does."""
    from sdk.starter import recipe_kinds

    return recipe_kinds()


def init(kind: str, name: str | None = None, out: str | Path | None = None, *, force: bool = False) -> Path:
    """Write a new recipe of `kind` (its tiny twin's values, commented); returns the file's path.

    Raises:
        RecipeError: an unknown kind, or the file exists and `force` is not set.
    """
    from sdk.starter import write_starter

    return write_starter(kind, name, out, force=force)


def expand(target: Any) -> dict[str, Any]:
    """The `pipeline` recipe a recipe compiles to: the same stages, written out by hand."""
    recipe = load(target) if isinstance(target, (str, Path)) else target
    p = compile_recipe(recipe)
    sources = {s.id for s in p.stages if s.kind in ("model", "dataset")}
    base = recipe.model_dump(mode="json", exclude_defaults=True,
                             exclude={"recipe", "stages", "models", "data", "vars", "description"})
    out: dict[str, Any] = {"recipe": "pipeline", **base}
    out["models"] = {k: v.model_dump(mode="json", exclude_defaults=True) for k, v in recipe.models.items()
                     if k in sources}
    out["data"] = {k: v.model_dump(mode="json", exclude_defaults=True) for k, v in recipe.data.items()
                   if k in sources}
    out["stages"] = [{"id": s.id, "kind": s.kind,
                      **s.spec.model_dump(mode="json", exclude_defaults=True, exclude={"id", "kind", "matrix"})}
                     for s in p.stages if s.id not in sources]
    return out
