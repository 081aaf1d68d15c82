"""FilterStage: keep generated rows the verifier accepts, one per problem if asked, capped, in seeded order.

Torch-free and fast: it only reads rows and calls `stages.verify.score`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from schemas import Artifact, FilterStage
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages.verify import is_correct, score


def select(spec: FilterStage, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The kept rows (each with its `reward`) and how many rows were correct before any other rule."""
    scored = []
    for index, row in enumerate(rows):
        if "response" not in row:
            raise StageError(f"stage {spec.id!r}: row {index} has no `response`; "
                             "filter the output of a generate stage")
        scored.append({**row, "reward": score(row, str(row["response"]))})
    n_correct = sum(is_correct(row["reward"]) for row in scored)
    kept = [row for row in scored
            if (not spec.correct or is_correct(row["reward"]))
            and (not spec.require_finished or row.get("finished", True))]
    if spec.shuffle:
        random.Random(spec.seed).shuffle(kept)
    if spec.dedupe:
        seen: set[str] = set()
        unique = []
        for row in kept:
            key = repr(row.get("id"))
            if key not in seen:
                seen.add(key)
                unique.append(row)
        kept = unique
    if spec.max_rows is not None:
        kept = kept[: spec.max_rows]
    return kept, n_correct


def run(spec: FilterStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the kept rows of `inputs["data"]` to `ctx.out/data.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    kept, n_correct = select(spec, rows)
    write_rows(ctx.out / "data.jsonl", kept)
    return {"rows_in": len(rows), "rows_out": len(kept), "pass_rate": n_correct / len(rows) if rows else 0.0}
