"""The `re-distill` kind: wires cold start, GRPO, sample selection, filtering, student SFT and evaluation."""

from __future__ import annotations

from typing import Any

from schemas import (
    EvaluateStage,
    FilterStage,
    GenerateStage,
    GrpoStage,
    ReplayStage,
    SampleEffectStage,
    SftStage,
    TakeStage,
)
from schemas.re_distill import ReDistillRecipe
from sdk.compile.blocks import knobs, stage_from
from sdk.compile.expanded import Expanded
from sdk.errors import RecipeError, did_you_mean
from sdk.recipe.loader import Document


def _stage(cls: Any, block: Any, **wiring: Any) -> Any:
    return stage_from(cls, {**knobs(block), **wiring})


WIRED = {
    ("cold_start", "model"): "the cold start trains `base`; set `base:` instead",
    ("rl", "model"): "the RL starts from the cold-started model (or `base` without one); set `base:` instead",
    ("redistill", "sft", "model"): "the student is `student:` (default: a fresh copy of `base`); set `student:`",
    ("redistill", "sft", "data"): "the student learns the samples `redistill:` keeps; choose them there",
    ("followup_rl", "model"): "the follow-up RL continues from the student; set `student:` to change it",
}
"""Block fields the recipe sets itself (the schema has them because each block is a stage spec)."""
NAMED = ("cold_start", "rl", "redistill.sft", "followup_rl", "evaluate")


def refuse_wiring(r: ReDistillRecipe, doc: Any) -> None:
    """A wiring field written in a block (or overridden: `rl.model=x`) would be silently replaced: refuse it."""
    problems = []
    for name in NAMED:
        path = tuple(name.split("."))
        block: Any = r
        for part in path:
            block = getattr(block, part, None)
        if block is None:
            continue
        written = block.model_fields_set
        problems += [doc.problem((*path, f), f"re-distill wires `{f}` itself: {why}")
                     for (*where, f), why in WIRED.items() if tuple(where) == path and f in written]
        if "id" in written:
            problems.append(doc.problem((*path, "id"), "re-distill names its stages itself (cold_start, rl, "
                                        "samples, correct, selected, student, control_data, control, followup, "
                                        "eval); remove `id`"))
    if problems:
        raise RecipeError(problems)


def refuse_unknown_names(r: ReDistillRecipe, doc: Document) -> None:
    """`base:`, `student:` and `redistill.prompts` feed stages the recipe writes itself: a wrong name is
    reported at the line the user wrote, not at a stage field they never saw."""
    names = {"base": (r.base, "model", "models"), "student": (r.student, "model", "models"),
             "redistill.prompts": (r.redistill.prompts, "dataset", "data"),
             "control.data": ((r.control.data or None) if r.control else None, "dataset", "data")}
    problems = []
    for field, (name, what, section) in names.items():
        known = getattr(r, section)
        if name is not None and name not in known:
            hint = did_you_mean(name, known, f"declare it under `{section}:`")
            problems.append(doc.problem(tuple(field.split(".")), f"no {what} named {name!r}", hint=hint))
    if problems:
        raise RecipeError(problems)


def student_data(r: ReDistillRecipe) -> str:
    """The stage whose rows the student learns (and whose row count the control matches)."""
    return "selected" if r.redistill.select == "sample_effect" else "correct"


def control_arm(r: ReDistillRecipe, doc: Document) -> list[Expanded]:
    """A fresh base SFT'd, with the student's settings, on as many control examples as the student got:
    the count is read at run time from the filtered samples (`take ... like: correct`)."""
    assert r.control is not None
    cold = r.cold_start
    data = r.control.data or (cold.data if cold else "")
    if not data:
        raise RecipeError(doc.problem(("control",), "control needs `data` (there is no cold start to take it from)"))
    wiring: dict[str, Any] = {"target": r.control.target or (cold.target if cold else "response")}
    if cold is not None and "answer_format" in cold.model_fields_set:
        wiring["answer_format"] = cold.answer_format
    take = TakeStage(id="control_data", kind="take", data=data, like=student_data(r), seed=r.redistill.seed)
    sft = _stage(SftStage, r.redistill.sft, id="control", kind="sft", model=r.student or r.base,
                 data="control_data", **wiring)
    return [Expanded(take, ("control",)), Expanded(sft, ("control",))]


def expand(r: ReDistillRecipe, where: Document) -> list[Expanded]:
    doc = where
    refuse_unknown_names(r, doc)
    refuse_wiring(r, doc)
    out: list[Expanded] = []
    policy_input = r.base
    if r.cold_start is not None:
        if not r.cold_start.data:
            raise RecipeError(doc.problem(("cold_start",), "cold_start needs `data` (SFT examples)"))
        out.append(Expanded(_stage(SftStage, r.cold_start, id="cold_start", kind="sft", model=r.base,
                                   data=r.cold_start.data), ("cold_start",)))
        policy_input = "cold_start"
    if not r.rl.data:
        raise RecipeError(doc.problem(("rl",), "rl needs `data` (prompts with answers)"))
    out.append(Expanded(_stage(GrpoStage, r.rl, id="rl", kind="grpo", model=policy_input, data=r.rl.data), ("rl",)))
    red = r.redistill
    if red.source == "replay":
        samples = ReplayStage(id="samples", kind="replay", run="rl", last_steps=red.last_steps, seed=red.seed,
                              correct_only=red.require_correct)
    else:
        samples = GenerateStage(id="samples", kind="generate", model="rl", data=red.prompts or r.rl.data,
                                temperature=0.0, n=1, max_new_tokens=red.max_new_tokens)
    out.append(Expanded(samples, ("redistill",)))
    by_effect = red.select == "sample_effect"
    out.append(Expanded(FilterStage(id="correct", kind="filter", data="samples", correct=red.require_correct,
                                    require_finished=red.require_finished, dedupe=True,
                                    max_rows=None if by_effect else red.samples, seed=red.seed), ("redistill",)))
    if by_effect:
        out.append(Expanded(SampleEffectStage(
            id="selected", kind="sample_effect", model=r.student or r.base, data="correct", start=policy_input,
            end="rl", keep=red.samples, params=red.effect_params, max_length=red.sft.max_length),
            ("redistill",)))
    out.append(Expanded(_stage(SftStage, red.sft, id="student", kind="sft", model=r.student or r.base,
                               data=student_data(r)), ("redistill", "sft")))
    compared = [r.base, *(["cold_start"] if r.cold_start else []), "rl", "student"]
    if r.control is not None:
        out += control_arm(r, doc)
        compared.append("control")
    if r.followup_rl is not None:
        out.append(Expanded(_stage(GrpoStage, r.followup_rl, id="followup", kind="grpo", model="student",
                                   data=r.followup_rl.data or r.rl.data), ("followup_rl",)))
        compared.append("followup")
    if not r.evaluate.data:
        raise RecipeError(doc.problem(("evaluate",), "evaluate needs `data` (the test set)"))
    compared += [m for m in r.evaluate.models if m not in compared]
    out.append(Expanded(_stage(EvaluateStage, r.evaluate, id="eval", kind="evaluate", models=compared,
                               data=r.evaluate.data), ("evaluate",)))
    return out
