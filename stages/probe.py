"""ProbeStage: each problem's pass rate under the current policy (CoScale-RL, METHODS.md section 2, step 0).

`n` sampled responses per problem (vLLM on GPUs, transformers on the CPU, through `stages._generation`)
are graded by `stages.verify`, the same verdict as filter, evaluate and the RL reward. Output rows are
the problems with `pass_rate` and `correct` (how many of `samples` were right).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas import Artifact
from schemas.stages.pools import ProbeStage
from stages._context import StageContext
from stages._data import read_rows, write_rows
from stages._generation import Sampling, generate
from stages.verify import is_correct, score


def pass_rates(rows: list[dict[str, Any]], samples: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The rows with `correct` (right answers among their `n` samples) and `pass_rate`; samples come in row order."""
    out = []
    for index, row in enumerate(rows):
        mine = samples[index * n : (index + 1) * n]
        right = sum(is_correct(score(row, str(s["response"]))) for s in mine)
        out.append({**row, "samples": n, "correct": right, "pass_rate": right / n})
    return out


def run(spec: ProbeStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the problems with their pass rates to `ctx.out/data.jsonl`."""
    rows = read_rows(inputs["data"].rows)

    def progress(done: int, total: int) -> None:
        ctx.progress(done, total, "probe batches")

    samples = generate(inputs["model"], rows, Sampling.of(spec, spec.n), progress)
    probed = pass_rates(rows, samples, spec.n)
    write_rows(ctx.out / "data.jsonl", probed)
    mean = sum(r["pass_rate"] for r in probed) / len(probed) if probed else 0.0
    return {"problems": len(probed), "samples": len(samples), "mean_pass_rate": round(mean, 4),
            **({"empty": True} if not probed else {})}
