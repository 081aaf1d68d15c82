"""The `bai-merge` kind: stage 1 merge, stage 2 balance with the base per alpha, optional GRPO, evaluation."""

from __future__ import annotations

from typing import Any

from schemas import EvaluateStage, GrpoStage
from schemas.bai_merge import BaiMergeRecipe
from schemas.stages.merge import MergeStage
from sdk.compile.blocks import knobs, stage_from
from sdk.compile.expanded import Expanded
from sdk.errors import RecipeError, did_you_mean
from sdk.recipe.loader import Document, Path_


def _refuse_unknown_models(r: BaiMergeRecipe, doc: Document) -> None:
    """base / instruct / reasoning name models: a wrong name is reported where the user wrote it."""
    problems = []
    for field in ("base", "instruct", "reasoning"):
        name = getattr(r, field)
        if name not in r.models:
            hint = did_you_mean(name, r.models, "declare it under `models:`")
            problems.append(doc.problem((field,), f"no model named {name!r}", hint=hint))
    if problems:
        raise RecipeError(problems)


def _make(cls: Any, where: Path_, doc: Any, **fields: Any) -> Any:
    """Build a stage spec; a check it fails is reported at the recipe field it came from."""
    return stage_from(cls, fields, where, doc)


def expand(r: BaiMergeRecipe, where: Document) -> list[Expanded]:
    doc = where
    _refuse_unknown_models(r, doc)
    merge = r.merge.model_dump()
    alphas = r.alpha if isinstance(r.alpha, list) else [r.alpha]  # a list: one actor branch per alpha
    sft_merge = _make(MergeStage, ("weights",), doc, id="sft_merge", kind="merge", models=[r.instruct, r.reasoning],
                      weights=r.weights, config_from=r.instruct, **merge)
    sweep = {"matrix": {"alpha": alphas}} if isinstance(r.alpha, list) else {"alpha": r.alpha}
    actor = _make(MergeStage, ("alpha",), doc, id="actor", kind="merge", models=[r.base, "sft_merge"],
                  config_from="sft_merge", **merge, **sweep)
    out = [Expanded(sft_merge, ("weights",)), Expanded(actor, ("alpha",))]
    compared = list(dict.fromkeys([r.base, r.instruct, r.reasoning, "sft_merge", "actor"]))
    if r.rl is not None:
        if not r.rl.data:
            raise RecipeError(doc.problem(("rl",), "rl needs `data` (prompts with answers)"))
        fields = {"verdicts": True, **knobs(r.rl), "beta": r.rl.beta}  # BAI's verdicts, unless written off
        rl = _make(GrpoStage, ("rl",), doc, **fields, id="rl", kind="grpo", model="actor", data=r.rl.data)
        out.append(Expanded(rl, ("rl",)))
        compared.append("rl")
    if not r.evaluate.data:
        raise RecipeError(doc.problem(("evaluate",), "evaluate needs `data` (the test set)"))
    compared += [m for m in r.evaluate.models if m not in compared]
    out.append(Expanded(_make(EvaluateStage, ("evaluate",), doc, **knobs(r.evaluate), id="eval", kind="evaluate",
                              models=compared, data=r.evaluate.data), ("evaluate",)))
    return out
