"""DatasetStage: materialise a named dataset into `data.jsonl`, so every later stage reads one row format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas import Artifact, DatasetStage
from stages._context import StageContext, StageError
from stages._data import rows_for, write_rows


def run(spec: DatasetStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the rows of `spec.data` to `ctx.out/data.jsonl`."""
    count = write_rows(ctx.out / "data.jsonl", rows_for(spec.data))
    if count == 0:
        raise StageError(f"dataset of stage {spec.id!r} has no rows; check the source (and `limit`)")
    return {"rows": count, "source": spec.data.source}
