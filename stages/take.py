"""TakeStage: N rows of a dataset in seeded order, N fixed or the row count of another dataset.

The control arm of Re-distillation uses it: a fresh base SFT'd on as many cold-start examples as the
student got re-distilled ones, a number known only once the filter has run. Torch-free.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from schemas import Artifact, TakeStage
from stages._context import StageContext
from stages._data import read_rows, write_rows


def take(spec: TakeStage, rows: list[dict[str, Any]], like: int | None) -> list[dict[str, Any]]:
    """The first N rows after a seeded shuffle, N the smaller of `rows` and the `like` count given."""
    kept = list(rows)
    if spec.shuffle:
        random.Random(spec.seed).shuffle(kept)
    limits = [n for n in (spec.rows, like) if n is not None]
    return kept[: min(limits)] if limits else kept


def run(spec: TakeStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the taken rows of `inputs["data"]` to `ctx.out/data.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    like = len(read_rows(inputs["like"].rows)) if "like" in inputs else None
    kept = take(spec, rows, like)
    write_rows(ctx.out / "data.jsonl", kept)
    return {"rows_in": len(rows), "rows_out": len(kept), "like": like}
