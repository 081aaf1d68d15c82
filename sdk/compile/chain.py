"""Chained recipes: a model named `{recipe: other.yaml, stage: ID}` is that recipe's stage, in this plan.

The other file is loaded and compiled as it would be on its own; the named stage and everything it
needs join this plan with their fingerprints unchanged, so the store finds them if the other recipe
(or an earlier apply of this one) made them, and `apply` runs them here if not. The stage takes the
model's name; the stages it needs are called `<model>.<their id>`. A problem in the other file is
reported located in both files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.models import ChainedModel
from sdk.errors import Problem, RecipeError, did_you_mean
from sdk.plan import Stage
from sdk.recipe.loader import Document

Compile = Callable[..., Any]
"""The compiler itself (`compile_recipe`), passed in: a chained file compiles as its own recipe."""


def chained_stages(recipe: Any, used: set[str], doc: Document, chain: tuple[Path, ...],
                   compile_recipe: Compile) -> list[Stage]:
    """The stages behind every chained model some stage uses, renamed into this plan."""
    out: list[Stage] = []
    for name, model in recipe.models.items():
        if isinstance(model, ChainedModel) and name in used:
            out += _import(name, model, doc, chain, compile_recipe)
    return out


def _import(name: str, model: ChainedModel, doc: Document, chain: tuple[Path, ...],
            compile_recipe: Compile) -> list[Stage]:
    from sdk.recipe.loader import load_document
    from sdk.recipe.validate import validate

    here = ("models", name)
    path = (doc.base_dir / Path(model.recipe).expanduser()).resolve()
    if not path.is_file():
        raise RecipeError(doc.problem((*here, "recipe"), f"no recipe file {path}"))
    this = Path(doc.file).resolve()
    if path in (*chain, this):
        cycle = " -> ".join(p.name for p in (*chain, this, path))
        raise RecipeError(doc.problem((*here, "recipe"), f"recipes chain into a cycle: {cycle}"))
    try:
        other_doc = load_document(path)
        plan = compile_recipe(validate(other_doc), chain=(*chain, this))
    except RecipeError as err:
        note = doc.problem((*here, "recipe"), f"the chained recipe {model.recipe} has {len(err.problems)} "
                           f"problem(s), listed after this line")
        raise RecipeError([note, *err.problems]) from None
    if model.stage not in plan.ids:
        raise RecipeError([_missing_stage(doc, here, model, plan.ids), _in_other_file(other_doc, model, plan.ids)])
    target = plan[model.stage]
    if target.spec.OUTPUT != "model":
        raise RecipeError(doc.problem((*here, "stage"), f"stage {model.stage!r} of {model.recipe} gives a "
                                      f"{target.spec.OUTPUT}, not a model"))
    keep = plan.ancestors(model.stage) | {model.stage}
    renamed = {sid: name if sid == model.stage else f"{name}.{sid}" for sid in plan.ids if sid in keep}
    return [dataclasses.replace(s, id=renamed[s.id], inputs=tuple((slot, renamed[dep]) for slot, dep in s.inputs),
                                origin=here) for s in plan.stages if s.id in keep]


def _missing_stage(doc: Document, here: tuple[str, ...], model: ChainedModel, ids: list[str]) -> Problem:
    hint = did_you_mean(model.stage, ids, f"its stages: {', '.join(ids)}")
    return doc.problem((*here, "stage"), f"{model.recipe} has no stage {model.stage!r}", hint=hint)


def _in_other_file(other: Document, model: ChainedModel, ids: list[str]) -> Problem:
    where = ("stages",) if "stages" in other.data else ("recipe",)
    return other.problem(where, f"no stage {model.stage!r} here (a chained model asks for it); "
                         f"stages of this recipe: {', '.join(ids)}")
