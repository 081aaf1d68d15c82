"""The `re-distill` kind: wires cold start, GRPO, sample selection, filtering, student SFT and evaluation."""

from __future__ import annotations

from typing import Any

from schemas import EvaluateStage, FilterStage, GenerateStage, GrpoStage, ReplayStage, SftStage
from schemas.re_distill import ReDistillRecipe
from sdk.compiler import Expanded, closest_name
from sdk.errors import RecipeError
from sdk.loader import Document


def _stage(cls: Any, block: Any, **wiring: Any) -> Any:
    # exclude_unset keeps "not written" apart from "written as the default" (runner defaults fill the gaps)
    knobs = block.model_dump(exclude_unset=True, exclude={"id", "kind", "model", "data", "models"})
    return cls.model_validate({**knobs, **wiring})


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
            problems.append(doc.problem((*path, "id"), "re-distill names its stages itself (cold_start, rl, samples, "
                                        "correct, student, followup, eval); remove `id`"))
    if problems:
        raise RecipeError(problems)


def refuse_unknown_names(r: ReDistillRecipe, doc: Document) -> None:
    """`base:`, `student:` and `redistill.prompts` feed stages the recipe writes itself: a wrong name is
    reported at the line the user wrote, not at a stage field they never saw."""
    names = {"base": (r.base, "model", "models"), "student": (r.student, "model", "models"),
             "redistill.prompts": (r.redistill.prompts, "dataset", "data")}
    problems = []
    for field, (name, what, section) in names.items():
        known = getattr(r, section)
        if name is not None and name not in known:
            guess = closest_name(name, known)
            hint = f"did you mean {guess!r}?" if guess else f"declare it under `{section}:`"
            problems.append(doc.problem(tuple(field.split(".")), f"no {what} named {name!r}", hint=hint))
    if problems:
        raise RecipeError(problems)


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
    out.append(Expanded(FilterStage(id="correct", kind="filter", data="samples", correct=red.require_correct,
                                    require_finished=red.require_finished, dedupe=True, max_rows=red.samples,
                                    seed=red.seed), ("redistill",)))
    out.append(Expanded(_stage(SftStage, red.sft, id="student", kind="sft", model=r.student or r.base,
                               data="correct"), ("redistill", "sft")))
    compared = [r.base, *(["cold_start"] if r.cold_start else []), "rl", "student"]
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
