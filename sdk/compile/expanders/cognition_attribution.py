"""The `cognition-attribution` kind: one `attribute` stage per model and dataset, `attribute[model=m,data=d]`.

The stages share nothing but their inputs, so each is cached on its own: a model added to `compare` runs its
stages only, and the datasets are materialised once for every model.
"""

from __future__ import annotations

from schemas import AttributeStage
from schemas.cognition_attribution import CognitionAttributionRecipe
from sdk.compile.blocks import stage_from
from sdk.compile.expanded import Expanded
from sdk.errors import RecipeError, did_you_mean
from sdk.recipe.loader import Document


def _refuse_unknown_names(r: CognitionAttributionRecipe, doc: Document) -> None:
    problems = []
    for field, names, known, what in (("compare", r.compare, r.models, "model"),
                                      ("questions", r.questions, r.data, "dataset")):
        section = "models" if what == "model" else "data"
        for index, name in enumerate(names):
            if name not in known:
                problems.append(doc.problem((field, index), f"no {what} named {name!r}",
                                            hint=did_you_mean(name, known, f"declare it under `{section}:`")))
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            problems.append(doc.problem((field, names.index(twice[0])), f"{twice[0]!r} is listed twice"))
    if r.judge is not None and r.judge not in r.models:
        problems.append(doc.problem(("judge",), f"no model named {r.judge!r}",
                                    hint=did_you_mean(r.judge, r.models, "declare it under `models:`")))
    if problems:
        raise RecipeError(problems)


def expand(r: CognitionAttributionRecipe, where: Document) -> list[Expanded]:
    _refuse_unknown_names(r, where)
    settings = r.attribute.model_dump(exclude_unset=True)
    out = []
    for m, model in enumerate(r.compare):
        for data in r.questions:
            spec = stage_from(AttributeStage, {**settings, "id": f"attribute[model={model},data={data}]",
                                               "kind": "attribute", "model": model, "data": data, "judge": r.judge},
                              ("attribute",), where)
            out.append(Expanded(spec, ("compare", m)))
    return out
