"""SolutionsStage: at most `k` distinct solutions per problem, as SFT rows (CoScale-RL's data scaling).

Rows sharing an `id` are one problem; each row's `field` holds one solution or a list of them: a
dataset's own solutions column (or its gold `answer`), or a teacher's samples after `filter` kept the
correct ones. Raising `k` across iterations gives a problem more solutions, not more problems.
Torch-free.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from schemas import Artifact
from schemas.pools import SolutionsStage
from stages._context import StageContext
from stages._data import read_rows, write_rows

DROP = ("response", "reward", "sample", "finished", "response_tokens", "samples", "correct")
"""Fields of a generated row that describe one sample, not the problem."""


def _candidates(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(item) for item in items if item is not None and str(item).strip()]


def choose(spec: SolutionsStage, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One SFT row per kept solution: up to `k` distinct ones per problem, in seeded order, problems in input order."""
    problems: dict[str, dict[str, Any]] = {}
    found: dict[str, list[str]] = {}
    for row in rows:
        key = json.dumps(row.get("id"), sort_keys=True, default=str)
        problems.setdefault(key, row)
        found.setdefault(key, [])
        found[key] += [s for s in _candidates(row.get(spec.field)) if s not in found[key]]
    rng = random.Random(spec.seed)
    out = []
    for key, problem in problems.items():
        picks = found[key]
        rng.shuffle(picks)
        base = {k: v for k, v in problem.items() if k not in DROP}
        out += [{**base, "response": spec.template.format(solution=s), "solution": n}
                for n, s in enumerate(picks[: spec.k])]
    return out


def run(spec: SolutionsStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the kept solutions to `ctx.out/data.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    out = choose(spec, rows)
    write_rows(ctx.out / "data.jsonl", out)
    problems = len({json.dumps(r.get("id"), sort_keys=True, default=str) for r in rows})
    short = problems - len({json.dumps(r.get("id"), sort_keys=True, default=str) for r in out})
    return {"problems": problems, "rows": len(out), "k": spec.k, "problems_without_solutions": short,
            **({"empty": True} if not rows else {})}
