"""SplitStage: score a model on a question set and split the rows by whether it already answers them.

Outputs (CNL, METHODS.md, section 4 step 1): `mastered` (right: the set whose gradient guards training),
`injection` (wrong: the knowledge to inject) and `heldout` (a seeded share of the mastered rows kept
out of g_M, for out-of-set forgetting), plus `report.json` with the counts and each row's result.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from schemas import Artifact, SplitStage
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages._models import load_model, load_tokenizer


def divide(spec: SplitStage, rows: list[dict[str, Any]], flags: list[bool]) -> dict[str, list[dict[str, Any]]]:
    """Mastered / injection / heldout rows; a clear error when a part the method needs is empty."""
    mastered = [row for row, ok in zip(rows, flags, strict=True) if ok]
    injection = [row for row, ok in zip(rows, flags, strict=True) if not ok]
    if not mastered:
        raise StageError(f"stage {spec.id!r}: model {spec.model!r} answers none of the {len(rows)} questions "
                         f"of {spec.data!r} correctly, so there is no mastered set; use a stronger model, "
                         "an easier question set, or check the prompt format")
    if not injection:
        raise StageError(f"stage {spec.id!r}: model {spec.model!r} already answers all {len(rows)} questions "
                         f"of {spec.data!r}; there is nothing to inject")
    order = list(range(len(mastered)))
    random.Random(spec.seed).shuffle(order)
    cut = round(len(mastered) * spec.heldout)
    if spec.heldout and cut in (0, len(mastered)):
        raise StageError(f"stage {spec.id!r}: heldout {spec.heldout} of {len(mastered)} mastered rows leaves "
                         "one side empty; change `heldout` or use more questions")
    held = set(order[:cut])
    return {"mastered": [r for i, r in enumerate(mastered) if i not in held],
            "injection": injection,
            "heldout": [r for i, r in enumerate(mastered) if i in held]}


def run(spec: SplitStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Score every row, then write `mastered/`, `injection/`, `heldout/` (each a dataset) and `report.json`."""
    import torch

    from stages._scoring import correct_flags, pick_scorer

    rows = read_rows(inputs["data"].rows)
    if not rows:
        raise StageError(f"stage {spec.id!r}: question set {spec.data!r} has no rows")
    scorer = pick_scorer(spec.scorer, rows)
    tokenizer = load_tokenizer(inputs["model"], padding_side="left")
    model = load_model(inputs["model"], "float32")  # the precision the sft stage trains and scores in
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    flags = []
    for start in range(0, len(rows), spec.batch_size * 4):
        chunk = rows[start : start + spec.batch_size * 4]
        flags += correct_flags(model, tokenizer, chunk, scorer, spec.max_new_tokens, spec.batch_size)
        ctx.progress(start + len(chunk), len(rows), "split rows")
    parts = divide(spec, rows, flags)
    for name, part in parts.items():
        (ctx.out / name).mkdir(parents=True, exist_ok=True)
        write_rows(ctx.out / name / "data.jsonl", part)
    counts = {name: len(part) for name, part in parts.items()}
    report = {"scorer": scorer, "rows": len(rows), "accuracy": sum(flags) / len(rows), **counts,
              "correct": {str(row["id"]): ok for row, ok in zip(rows, flags, strict=True)}}
    (ctx.out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    return {"scorer": scorer, "accuracy": round(report["accuracy"], 4), **counts}
