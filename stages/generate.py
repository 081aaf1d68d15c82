"""GenerateStage: sample `n` responses per prompt; rows keep their answer and verifier settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas import Artifact, GenerateStage
from stages._context import StageContext
from stages._data import read_rows, write_rows
from stages._generation import Sampling, generate


def run(spec: GenerateStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write `n` samples per input row to `ctx.out/data.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    if not rows:  # an empty pool (coscale-rl's unsolvable problems) gives an empty sample set, said so
        write_rows(ctx.out / "data.jsonl", [])
        print(f"stage {spec.id!r}: input data {spec.data!r} has no rows; nothing to sample", flush=True)
        return {"rows_in": 0, "rows": 0, "empty": True}

    def progress(done: int, total: int) -> None:
        ctx.progress(done, total, "generate batches")

    out = generate(inputs["model"], rows, Sampling.of(spec, spec.n), progress)
    write_rows(ctx.out / "data.jsonl", out)
    finished = sum(row["finished"] for row in out)
    tokens = sum(row["response_tokens"] for row in out)
    return {"rows_in": len(rows), "rows": len(out), "finished_rate": finished / len(out),
            "mean_response_tokens": tokens / len(out)}
