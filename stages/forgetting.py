"""ForgettingStage: learned and forgotten counts of each model on a split, as the CNL paper counts them.

learned   = injection rows (wrong before training) the model now answers right
forgotten = mastered rows (right before training) it now answers wrong; `heldout_forgotten` the same on
            the held-out mastered rows, which no gradient of the training saw (out-of-set forgetting)

Each trained model's per-epoch counts (the sft stage's `forgetting.json`) are gathered into the same
report, and `forgetting.png` plots them per epoch, one line per model.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemas import Artifact, ForgettingStage
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._models import load_model, load_tokenizer

SETS = {"injection": "learned", "mastered": "forgotten", "heldout": "heldout_forgotten"}


def counts(flags: Mapping[str, list[bool]]) -> dict[str, Any]:
    """learned / forgotten / heldout_forgotten (and the set sizes) from per-row correctness per set."""
    out: dict[str, Any] = {}
    for name, metric in SETS.items():
        if name in flags:
            right = sum(flags[name])
            out[metric] = right if name == "injection" else len(flags[name]) - right
            out[f"{name}_rows"] = len(flags[name])
    return out


def run(spec: ForgettingStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Score every model on the split's parts; write `report.json` and `forgetting.png`."""
    import torch

    from stages._scoring import correct_flags, pick_scorer

    sets = {name: read_rows(inputs[name].rows) for name in SETS if name in inputs}
    sets = {name: rows for name, rows in sets.items() if rows}
    if "injection" not in sets or "mastered" not in sets:
        raise StageError(f"stage {spec.id!r}: needs non-empty injection and mastered rows")
    scorer = pick_scorer(spec.scorer, sets["injection"])
    report: dict[str, Any] = {"scorer": scorer, "models": {}}
    for name in spec.models:
        artifact = inputs[f"models.{name}"]
        tokenizer = load_tokenizer(artifact, padding_side="left")
        model = load_model(artifact, "float32").to("cuda" if torch.cuda.is_available() else "cpu")
        flags = {part: correct_flags(model, tokenizer, rows, scorer, spec.max_new_tokens, spec.batch_size)
                 for part, rows in sets.items()}
        history = Path(artifact.path) / "forgetting.json"
        report["models"][name] = {**counts(flags),
                                  "epochs": json.loads(history.read_text()) if history.is_file() else []}
        ctx.progress(len(report["models"]), len(spec.models), "forgetting models")
        del model
        gc.collect()
    (ctx.out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    plot(report, ctx.out / "forgetting.png")
    return {name: {k: m[k] for k in ("learned", "forgotten", "heldout_forgotten") if k in m}
            for name, m in report["models"].items()}


def plot(report: Mapping[str, Any], path: Path) -> bool:
    """Learned and forgotten per epoch, one line per model that has a per-epoch history."""
    curves = {name: m["epochs"] for name, m in report["models"].items() if m.get("epochs")}
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [k for k in ("learned", "forgotten", "heldout_forgotten")
               if any(e.get(k) is not None for h in curves.values() for e in h)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for name, history in curves.items():
            points = [(e["epoch"], e[metric]) for e in history if e.get(metric) is not None]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ax.set(xlabel="epoch", ylabel="questions", title=metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
