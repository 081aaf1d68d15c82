"""The `coscale-rl` kind: `iterations` x (probe, pools, data scaling, RL per group, merge), then one evaluation.

The plan's shape is fixed by the recipe (iterations x groups); which problem lands in which pool or
group is decided at run time by the partition stages. Stage ids carry the iteration (and group):
`probe1`, `pools1`, `solutions1`, `scale1`, `reprobe1`, `repools1`, `rl1_1`, `rl1_2`, `replay1`, `merge1`,
..., `plain_grpo` (the plain-GRPO baseline, when asked for), `eval`. Iteration i's settings reach only
iteration i's stages and those after, so changing the k schedule's second value leaves every iteration-1
artifact cached.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from schemas import EvaluateStage, FilterStage, GenerateStage, GrpoStage, ReplayStage, SftStage
from schemas.coscale_rl import BASELINE_STAGE as BASELINE
from schemas.coscale_rl import CoscaleRlRecipe, scheduled
from schemas.stages.pools import PartitionStage, ProbeStage, SolutionsStage
from sdk.compile.blocks import knobs, stage_from
from sdk.compile.expanded import Expanded
from sdk.errors import RecipeError, did_you_mean
from sdk.recipe.loader import Document

BLOCKS = {"probe": ("model", "data"), "scale": ("model", "data"), "rl": ("model", "data"),
          "merge.sft": ("model", "data"), "solutions.teacher": ("data",), "evaluate": ()}
"""Blocks whose stage fields the recipe wires itself, and which of those a user might write."""


def _stage(cls: Any, block: Any, exclude: set[str] | None = None, **wiring: Any) -> Any:
    return stage_from(cls, {**knobs(block, exclude or ()), **wiring})


def _refuse_wiring(r: CoscaleRlRecipe, doc: Document) -> None:
    problems = []
    for name, fields in BLOCKS.items():
        block: Any = r
        for part in name.split("."):
            block = getattr(block, part, None)
        if block is None:
            continue
        for field in (*fields, "id"):
            if field in block.model_fields_set:
                problems.append(doc.problem((*name.split("."), field), f"coscale-rl wires `{field}` itself; "
                                            "remove it (the recipe names its stages and feeds each its policy "
                                            "and pool)"))
    if problems:
        raise RecipeError(problems)


def _refuse_unknown_names(r: CoscaleRlRecipe, doc: Document) -> None:
    named = {("base",): (r.base, r.models, "model", "models"), ("problems",): (r.problems, r.data, "dataset", "data"),
             ("evaluate", "data"): (r.evaluate.data, r.data, "dataset", "data")}
    if r.solutions.teacher is not None:
        named[("solutions", "teacher", "model")] = (r.solutions.teacher.model, r.models, "model", "models")
    problems = []
    for path, (name, known, what, section) in named.items():
        if name not in known:
            hint = did_you_mean(name, known, f"declare it under `{section}:`")
            problems.append(doc.problem(path, f"no {what} named {name!r}", hint=hint))
    if r.rl.group_generations and len(r.rl.group_generations) != r.pools.groups:
        problems.append(doc.problem(("rl", "group_generations"), f"{len(r.rl.group_generations)} rollout counts "
                                    f"for {r.pools.groups} groups; give one per group (pools.groups)"))
    if problems:
        raise RecipeError(problems)


def _pools(r: CoscaleRlRecipe, sid: str, probe: str, previous: str | None, spend: int) -> PartitionStage:
    p = r.pools
    return PartitionStage(id=sid, kind="partition", data=probe, previous=previous, unsolvable=p.unsolvable,
                          solved=p.solved, groups=p.groups, min_group=r.rl.prompts_per_step, spend=spend,
                          budget=p.budget)


def _scaling(r: CoscaleRlRecipe, i: int, policy: str, pools: str) -> list[Expanded]:
    """Data scaling of iteration i: k_i solutions per unsolvable problem, then SFT of the policy on them."""
    sol = r.solutions
    out: list[Expanded] = []
    rows, field = f"{pools}.unsolvable", sol.field or "response"
    if sol.teacher is not None:
        out.append(Expanded(_stage(GenerateStage, sol.teacher, id=f"teacher{i}", kind="generate",
                                   model=sol.teacher.model, data=rows), ("solutions", "teacher")))
        out.append(Expanded(FilterStage(id=f"correct{i}", kind="filter", data=f"teacher{i}", correct=True,
                                        require_finished=True, dedupe=False, seed=sol.seed), ("solutions",)))
        rows = f"correct{i}"
    k = scheduled(sol.k, i)
    earlier = f"solutions{i - 1}" if sol.accumulate and i > 1 else None
    out.append(Expanded(SolutionsStage(id=f"solutions{i}", kind="solutions", data=rows, earlier=earlier, k=k,
                                       field=field, template=sol.template, seed=sol.seed), ("solutions", "k")))
    out.append(Expanded(_stage(SftStage, r.scale, id=f"scale{i}", kind="sft", model=policy, data=f"solutions{i}",
                               if_empty="pass"), ("scale",)))
    return out


def _group_generations(r: CoscaleRlRecipe) -> list[int]:
    """Each difficulty group's first N: `rl.group_generations`, else `rl.generations` for every group."""
    return r.rl.group_generations or [r.rl.generations] * r.pools.groups


def _grpo(r: CoscaleRlRecipe, doc: Document, where: tuple[str, ...], label: str, **wiring: Any) -> GrpoStage:
    """A grpo stage from the `rl` block and `wiring`; a check it fails is located at `where`, after `label`."""
    try:
        return _stage(GrpoStage, r.rl, exclude={"group_generations", *wiring.pop("exclude", ())}, kind="grpo",
                      **wiring)
    except ValidationError as err:
        message = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors(include_url=False))
        raise RecipeError(doc.problem(where, f"{label}: {message}")) from None


def _rl(r: CoscaleRlRecipe, doc: Document, i: int, policy: str, pools: str) -> list[Expanded]:
    where = ("rl", "group_generations") if r.rl.group_generations else ("rl",)
    return [Expanded(_grpo(r, doc, where, f"group {g} (N = {n})", id=f"rl{i}_{g}", model=policy,
                           data=f"{pools}.group{g}", generations=n, if_empty="pass"), ("rl",))
            for g, n in enumerate(_group_generations(r), start=1)]


def _iteration(r: CoscaleRlRecipe, doc: Document, i: int, policy: str, previous: str | None) -> list[Expanded]:
    """The stages of iteration i, starting from `policy`; `previous`: the last partition of iteration i-1."""
    out = [Expanded(_stage(ProbeStage, r.probe, id=f"probe{i}", kind="probe", model=policy, data=r.problems),
                    ("probe",)),
           Expanded(_pools(r, f"pools{i}", f"probe{i}", previous, scheduled(r.solutions.k, i)), ("pools",))]
    out += _scaling(r, i, policy, f"pools{i}")
    groups_from = f"pools{i}"
    if r.pools.reprobe:
        out.append(Expanded(_stage(ProbeStage, r.probe, id=f"reprobe{i}", kind="probe", model=f"scale{i}",
                                   data=r.problems), ("probe",)))
        out.append(Expanded(_pools(r, f"repools{i}", f"reprobe{i}", f"pools{i}", 0), ("pools",)))
        groups_from = f"repools{i}"
    out += _rl(r, doc, i, f"scale{i}", groups_from)
    runs = [f"rl{i}_{g}" for g in range(1, r.pools.groups + 1)]
    out.append(Expanded(ReplayStage(id=f"replay{i}", kind="replay", runs=runs, last_steps=r.merge.last_steps,
                                    correct_only=True, one_per_problem=True, seed=r.merge.seed), ("merge",)))
    into = f"scale{i}" if r.merge.into == "scaled" else policy
    out.append(Expanded(_stage(SftStage, r.merge.sft, id=f"merge{i}", kind="sft", model=into, data=f"replay{i}",
                               if_empty="pass"), ("merge", "sft")))
    return out


def planned_rollouts(r: CoscaleRlRecipe) -> int:
    """RL rollouts the CoScale-RL arm's grpo stages are planned to sample, with each group's first N."""
    return r.iterations * r.rl.steps * r.rl.prompts_per_step * sum(_group_generations(r))


def _baseline(r: CoscaleRlRecipe, doc: Document) -> Expanded:
    """Plain GRPO from the base on every problem: `rl`'s settings, a fixed N, the CoScale-RL arm's budget."""
    assert r.baseline is not None
    n = r.baseline.generations or r.rl.generations
    budget = r.baseline.rollouts or planned_rollouts(r)
    per_step = r.rl.prompts_per_step * n
    if budget < per_step:
        raise RecipeError(doc.problem(("baseline", "rollouts"), f"{budget} rollouts are less than one step of "
                                      f"prompts_per_step x N = {r.rl.prompts_per_step} x {n} = {per_step}"))
    spec = _grpo(r, doc, ("baseline",), f"the plain-GRPO arm (N = {n})", exclude={"rollout_scaling"}, id=BASELINE,
                 model=r.base, data=r.problems, generations=n, steps=math.ceil(budget / per_step))
    return Expanded(spec, ("baseline",))


def last_partition(r: CoscaleRlRecipe, i: int) -> str:
    """The partition whose report carries iteration i's pools forward (spent solutions, failed problems)."""
    return f"repools{i}" if r.pools.reprobe else f"pools{i}"


def expand(r: CoscaleRlRecipe, where: Document) -> list[Expanded]:
    doc = where
    _refuse_wiring(r, doc)
    _refuse_unknown_names(r, doc)
    out: list[Expanded] = []
    policy, previous = r.base, None
    for i in range(1, r.iterations + 1):
        out += _iteration(r, doc, i, policy, previous)
        policy, previous = f"merge{i}", last_partition(r, i)
    models = [r.base]
    if r.baseline is not None:
        out.append(_baseline(r, doc))
        models.append(BASELINE)
    models += [f"merge{i}" for i in range(1, r.iterations + 1)]
    models += [m for m in r.evaluate.models if m not in models]
    out.append(Expanded(_stage(EvaluateStage, r.evaluate, id="eval", kind="evaluate", models=models,
                               data=r.evaluate.data), ("evaluate",)))
    return out
