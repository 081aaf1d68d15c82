"""EvaluateStage: accuracy, pass@k and response length of each model on one dataset, in one report.

Every model sees the same prompts and sampling, and is scored by `stages.verify`, so the numbers are
comparable across the models of a recipe (base vs. SFT vs. RL).
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from schemas import Artifact, EvaluateStage
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages._generation import Sampling, generate
from stages._lineage import read_training
from stages.verify import is_correct, score


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with `c` correct out of `n` samples: 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def metrics(samples: Sequence[Mapping[str, Any]], n: int) -> dict[str, float]:
    """Per-model metrics from scored samples laid out problem by problem, `n` samples each."""
    problems = [samples[i : i + n] for i in range(0, len(samples), n)]
    correct = [sum(bool(s["correct"]) for s in group) for group in problems]
    total = len(samples)
    result = {
        "accuracy": sum(correct) / total,
        "mean_reward": sum(s["reward"] for s in samples) / total,
        "pass@1": sum(pass_at_k(n, c, 1) for c in correct) / len(problems),
        "mean_response_tokens": sum(s["response_tokens"] for s in samples) / total,
        "finished_rate": sum(bool(s["finished"]) for s in samples) / total,
        "n_problems": len(problems),
        "n_samples": total,
    }
    if n > 1:
        result[f"pass@{n}"] = sum(pass_at_k(n, c, n) for c in correct) / len(problems)
    return result


def run(spec: EvaluateStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Generate, score and summarise every model; write `report.json` and `samples.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    if not rows:
        raise StageError(f"stage {spec.id!r}: evaluation data {spec.data!r} has no rows")
    sampling = Sampling.of(spec, spec.samples)
    report: dict[str, Any] = {"data": spec.data, "samples": spec.samples, "temperature": spec.temperature,
                              "max_new_tokens": spec.max_new_tokens, "models": {}}
    all_samples: list[dict[str, Any]] = []
    for name in spec.models:

        def progress(done: int, total: int, name: str = name) -> None:
            ctx.progress(done, total, f"evaluate {name}")

        outputs = generate(inputs[f"models.{name}"], rows, sampling, progress)
        scored = []
        for out in outputs:
            reward = score(out, out["response"])
            scored.append({**out, "model": name, "reward": reward, "correct": is_correct(reward)})
        report["models"][name] = {**metrics(scored, spec.samples), **read_training(inputs[f"models.{name}"])}
        all_samples.extend(scored)
        gc.collect()
    (ctx.out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    write_rows(ctx.out / "samples.jsonl", all_samples)
    return {name: round(m["accuracy"], 4) for name, m in report["models"].items()}
