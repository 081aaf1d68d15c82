"""The `re-distill` kind: wires cold start, GRPO, sample selection, filtering, student SFT and evaluation."""

from __future__ import annotations

from typing import Any

from schemas import EvaluateStage, FilterStage, GenerateStage, GrpoStage, ReplayStage, SftStage
from schemas.re_distill import ReDistillRecipe
from sdk.compiler import Expanded
from sdk.errors import RecipeError


def _stage(cls: Any, block: Any, **wiring: Any) -> Any:
    # exclude_unset keeps "not written" apart from "written as the default" (runner defaults fill the gaps)
    knobs = block.model_dump(exclude_unset=True, exclude={"id", "kind", "model", "data", "models"})
    return cls.model_validate({**knobs, **wiring})


def expand(r: ReDistillRecipe) -> list[Expanded]:
    doc = r._source
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
