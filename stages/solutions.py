"""SolutionsStage: at most `k` distinct solutions per problem, as SFT rows (CoScale-RL's data scaling).

Rows sharing an `id` are one problem; each row's `field` holds one solution or a list of them: a
dataset's own solutions column (or its gold `answer`), or a teacher's samples after `filter` kept the
correct ones. Raising `k` across iterations gives a problem more solutions, not more problems; with
`earlier` (the previous iteration's solutions) the set grows: what was taught stays in it, so the SFT of a
small new pool does not make the policy forget the problems it learned.
Torch-free.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from schemas import Artifact
from schemas.stages.pools import SolutionsStage
from stages._context import StageContext
from stages._data import read_rows, write_rows

DROP = ("response", "reward", "sample", "finished", "response_tokens", "samples", "correct")
"""Fields of a generated row that describe one sample, not the problem."""


def _candidates(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(item) for item in items if item is not None and str(item).strip()]


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row.get("id"), sort_keys=True, default=str)


def choose(spec: SolutionsStage, rows: list[dict[str, Any]],
           earlier: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One SFT row per kept solution: up to `k` distinct ones per problem, in seeded order, problems in input order.

    `earlier` (the previous iteration's rows) are kept first, each problem's count toward its `k`: a problem
    keeps what it was taught and, while still in `rows`, gets new solutions up to `k` in all."""
    problems: dict[str, dict[str, Any]] = {}
    found: dict[str, list[str]] = {}
    for row in rows:
        key = _key(row)
        problems.setdefault(key, row)
        found.setdefault(key, [])
        found[key] += [s for s in _candidates(row.get(spec.field)) if s not in found[key]]
    kept = list(earlier or [])
    taught: dict[str, set[str]] = {}
    for row in kept:
        taught.setdefault(_key(row), set()).add(str(row.get("response")))
    rng = random.Random(spec.seed)
    out = []
    for key, problem in problems.items():
        picks = [s for s in found[key] if spec.template.format(solution=s) not in taught.get(key, set())]
        rng.shuffle(picks)
        base = {k: v for k, v in problem.items() if k not in DROP}
        room = max(0, spec.k - len(taught.get(key, ())))
        out += [{**base, "response": spec.template.format(solution=s), "solution": len(taught.get(key, ())) + n}
                for n, s in enumerate(picks[:room])]
    return kept + out


def run(spec: SolutionsStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the kept solutions to `ctx.out/data.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    earlier = read_rows(inputs["earlier"].rows) if "earlier" in inputs else []
    out = choose(spec, rows, earlier)
    write_rows(ctx.out / "data.jsonl", out)
    problems = {_key(r) for r in rows}
    return {"problems": len(problems), "rows": len(out), "k": spec.k, "earlier_rows": len(earlier),
            "problems_without_solutions": len(problems - {_key(r) for r in out}),
            **({"empty": True} if not out else {})}
