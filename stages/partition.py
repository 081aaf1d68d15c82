"""PartitionStage: problems into pools by pass rate, the solvable pool into difficulty groups (CoScale-RL).

    pass rate < unsolvable  -> unsolvable   (gets solutions: data scaling)
    pass rate > solved      -> solved       (left alone)
    otherwise               -> solvable     (RL, cut into `groups` by pass rate: group1 easiest)
    unsolvable with `budget` solutions spent, or failed before -> failed (left alone for good)

A group has at least `min_group` problems (the RL's prompts per step): a small solvable pool fills fewer
groups, and one below `min_group` fills none (its problems are counted as `ungrouped`).
Each pool and group is a dataset output (`<stage>.unsolvable`, `<stage>.group2`, ...); an empty one is
an empty file, not an error. `report.json` has every problem's pool, pass rate and solutions spent, which
the next iteration's partition reads as `previous`. Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from schemas import Artifact
from schemas.stages.pools import POOLS, PartitionStage, group_names
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows


def _key(problem_id: Any) -> str:
    return json.dumps(problem_id, sort_keys=True, default=str)


def pool_of(spec: PartitionStage, rate: float, spent: int, failed_before: bool) -> str:
    """The pool of one problem."""
    if failed_before:
        return "failed"
    if rate < spec.unsolvable:
        return "failed" if spec.budget is not None and spent >= spec.budget else "unsolvable"
    return "solved" if rate > spec.solved else "solvable"


def cut_groups(rows: list[dict[str, Any]], groups: int, min_group: int = 1) -> list[list[dict[str, Any]]]:
    """`groups` slices of the rows, easiest (highest pass rate) first, ties in input order: as many near-equal
    ones as hold `min_group` rows each, then empty ones (all empty when there are fewer than `min_group`)."""
    ranked = sorted(rows, key=lambda r: -float(r["pass_rate"]))
    used = min(groups, len(ranked) // min_group)
    out, start = [], 0
    if used:
        size, extra = divmod(len(ranked), used)
        for g in range(used):
            end = start + size + (1 if g < extra else 0)
            out.append(ranked[start:end])
            start = end
    return out + [[] for _ in range(groups - used)]


def partition(spec: PartitionStage, rows: list[dict[str, Any]],
              previous: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Pools and groups of the probed rows; `previous` maps a problem key to its earlier `{pool, spent}`."""
    parts: dict[str, list[dict[str, Any]]] = {pool: [] for pool in POOLS}
    for row in rows:
        before = previous.get(_key(row.get("id")), {})
        spent = int(before.get("spent", 0))
        pool = pool_of(spec, float(row["pass_rate"]), spent, before.get("pool") == "failed")
        if pool == "unsolvable":
            spent += spec.spend
        parts[pool].append({**row, "pool": pool, "spent": spent})
    parts.update(zip(group_names(spec.groups), cut_groups(parts["solvable"], spec.groups, spec.min_group),
                     strict=True))
    return parts


def _previous(inputs: Mapping[str, Artifact]) -> dict[str, Any]:
    if "previous" not in inputs:
        return {}
    return json.loads(inputs["previous"].report.read_text())["problems"]


def run(spec: PartitionStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write every pool and group as a dataset under `ctx.out/<name>/`, and `report.json`."""
    rows = read_rows(inputs["data"].rows)
    if any("pass_rate" not in row for row in rows):
        raise StageError(f"stage {spec.id!r}: {spec.data!r} has rows without `pass_rate`; partition a probe's output")
    parts = partition(spec, rows, _previous(inputs))
    for name, part in parts.items():
        (ctx.out / name).mkdir(parents=True, exist_ok=True)
        write_rows(ctx.out / name / "data.jsonl", part)
    counts = {name: len(part) for name, part in parts.items()}
    problems = {_key(r.get("id")): {"pool": r["pool"], "pass_rate": r["pass_rate"], "spent": r["spent"]}
                for pool in POOLS for r in parts[pool]}
    groups = {name: [r["pass_rate"] for r in parts[name]] for name in group_names(spec.groups)}
    ungrouped = counts["solvable"] - sum(counts[name] for name in group_names(spec.groups))
    report = {"counts": counts, "problems": problems, "group_pass_rates": groups, "ungrouped": ungrouped,
              "empty": sorted(name for name, n in counts.items() if n == 0)}
    (ctx.out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    if ungrouped:
        print(f"stage {spec.id!r}: {ungrouped} solvable problem(s) are fewer than min_group {spec.min_group}: "
              "no RL group this time", flush=True)
    return {**counts, "empty": report["empty"], "ungrouped": ungrouped}
