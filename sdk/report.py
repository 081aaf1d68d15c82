"""report: plots and a markdown summary of an apply, from what the store already holds.

Training curves come from each stage's TensorBoard events (GRPO falls back to its replay buffer
when tracking was off), accuracies from evaluate's `report.json`. matplotlib and tensorboard are
imported only here, inside the functions, so the CLI stays light.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from schemas import STAGE_SPECS
from sdk.errors import StoreError
from sdk.store import Store


def file_stem(stage_id: str) -> str:
    """A stage id as a file name: a branch's `[lr=1e-05]` and anything odd become `_`, and it stays short."""
    stem = re.sub(r"[^\w.\-+=,]+", "_", stage_id).strip("_") or "stage"
    if len(stem) > 96:
        stem = f"{stem[:80]}-{hashlib.sha256(stage_id.encode()).hexdigest()[:8]}"
    return stem


def write_report(store_root: str | Path, recipe_name: str | None = None, out_dir: str | Path | None = None) -> Path:
    """Plots and `summary.md` for the last apply in the store (or of `recipe_name`); returns the folder.

    Raises:
        StoreError: the store has no apply (of that recipe) and no artifacts of it.
    """
    store = Store(store_root)
    name, when, stages = _stages(store, recipe_name)
    out = Path(out_dir) if out_dir is not None else store.root / "reports" / name
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {name}", "", f"Store `{store.root}`, applied {time.strftime('%Y-%m-%d %H:%M:%S', when)}.", "",
             "## Stages", "", "| stage | kind | state | this apply (s) | when built (s) | resumed |",
             "|---|---|---|---|---|---|"]
    sections: list[str] = []
    for stage in stages:
        manifest = stage.get("manifest") or {}
        timings = manifest.get("timings", {})
        took = timings.get("seconds")
        lines.append(f"| {stage['id']} | {manifest.get('kind', '?')} | {stage['state']} | "
                     f"{stage.get('seconds', 0):.1f} | {'' if took is None else f'{took:.1f}'} | "
                     f"{'yes' if timings.get('resumed') else ''} |")
        sections += _stage_section(stage, manifest, out)
    (out / "summary.md").write_text("\n".join(lines + [""] + sections) + "\n")
    return out


def _stages(store: Store, recipe: str | None) -> tuple[str, time.struct_time, list[dict[str, Any]]]:
    """(recipe name, apply time, stages with their manifests) of the last apply, or of the recipe's artifacts."""
    runs = [r for r in store.runs() if recipe is None or r.get("recipe") == recipe]
    if runs:
        last = max(runs, key=lambda r: r.get("started", 0))
        stages = []
        for stage in last.get("stages", []):
            folder = Path(stage["path"]) if stage.get("path") else None
            if folder is not None and store.has(folder.name):  # a broken artifact reports as not committed
                stage = {**stage, "folder": folder, "manifest": store.manifest(folder.name)}
            stages.append(stage)
        return last["recipe"], time.localtime(last.get("started", 0)), stages
    if recipe is None:
        raise StoreError(f"no apply recorded in {store.root} (history/ is empty); run `recipe apply` first")
    latest: dict[str, dict[str, Any]] = {}
    for manifest in store.artifacts():
        if manifest.get("recipe") == recipe:
            seen = latest.get(manifest["stage"])
            if seen is None or manifest["timings"]["started"] > seen["timings"]["started"]:
                latest[manifest["stage"]] = manifest
    if not latest:
        raise StoreError(f"no apply and no artifacts of recipe {recipe!r} in {store.root}")
    ordered = sorted(latest.values(), key=lambda m: m["timings"]["started"])
    stages = [{"id": m["stage"], "state": "stored", "seconds": 0.0, "manifest": m,
               "folder": store.artifact_dir(m["key"])} for m in ordered]
    return recipe, time.localtime(ordered[-1]["timings"]["started"]), stages


def _stage_section(stage: dict[str, Any], manifest: dict[str, Any], out: Path) -> list[str]:
    kind, folder = manifest.get("kind"), stage.get("folder")
    spec = STAGE_SPECS.get(kind or "")
    if folder is None or spec is None:
        return []
    if spec.METRICS_TABLE and (folder / "report.json").is_file():
        report = json.loads((folder / "report.json").read_text())
        return _evaluate_section(stage["id"], report, out)
    if not spec.CURVES:
        return []
    series = _tensorboard(folder / "tensorboard")
    if spec.REPLAY_CURVES and not series:
        series = _replay_curves(folder / "replay.jsonl")
    lines = [f"## {stage['id']} ({kind})", ""]
    summary = manifest.get("summary", {})
    facts = [f"{k} {summary[k]:.4g}" if isinstance(summary[k], float) else f"{k} {summary[k]}"
             for k in ("steps", "first_reward", "last_reward", "final_mean_reward", "train_loss",
                       "resumed_from_step") if summary.get(k) is not None]
    if facts:
        lines += [", ".join(facts), ""]
    if not series:
        return lines + ["No TensorBoard logs for this stage (set `tracking: {backend: tensorboard}`).", ""]
    for suffix, tag, label in spec.CURVES:
        if series.get(tag):
            png = f"{file_stem(stage['id'])}-{suffix}.png"
            _line_plot(series[tag], label, f"{stage['id']}: {label}", out / png)
            lines += [f"![{stage['id']} {suffix}]({png})", ""]
    return lines


def _tensorboard(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalar series per tag from every event file under `folder`; a resumed run's re-logged steps keep
    the later value."""
    if not folder.is_dir():
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points: dict[str, list[tuple[float, int, float]]] = defaultdict(list)
    for run_dir in sorted({p.parent for p in folder.rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            points[tag] += [(e.wall_time, e.step, e.value) for e in acc.Scalars(tag)]
    series = {}
    for tag, events in points.items():
        by_step = {step: value for _, step, value in sorted(events)}
        series[tag] = sorted(by_step.items())
    return series


def _replay_curves(buffer: Path) -> dict[str, list[tuple[int, float]]]:
    """Mean reward and completion tokens per step from a GRPO replay buffer (no TensorBoard needed)."""
    if not buffer.is_file():
        return {}
    from stages import read_replay_buffer

    per_step: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in read_replay_buffer(buffer):
        per_step[int(row["step"])].append(row)
    steps = sorted(per_step)
    mean = lambda key, s: sum(float(r.get(key) or 0) for r in per_step[s]) / len(per_step[s])  # noqa: E731
    return {"train/reward": [(s, mean("reward", s)) for s in steps],
            "train/completions/mean_length": [(s, mean("completion_tokens", s)) for s in steps]}


def _evaluate_section(stage_id: str, report: dict[str, Any], out: Path) -> list[str]:
    models = report.get("models", {})
    lines = [f"## {stage_id} (evaluate on {report.get('data', '?')}, {report.get('samples', 1)} sample(s), "
             f"temperature {report.get('temperature', 0)})", "",
             "| model | accuracy | pass@1 | mean reward | mean tokens | finished |", "|---|---|---|---|---|---|"]
    for name, m in models.items():
        lines.append(f"| {name} | {m.get('accuracy', 0):.3f} | {m.get('pass@1', 0):.3f} | "
                     f"{m.get('mean_reward', 0):.3f} | {m.get('mean_response_tokens', 0):.1f} | "
                     f"{m.get('finished_rate', 0):.2f} |")
    if models:
        png = f"{file_stem(stage_id)}-accuracy.png"
        _bar_plot({k: float(v.get("accuracy", 0)) for k, v in models.items()}, f"{stage_id}: accuracy", out / png)
        lines += ["", f"![{stage_id} accuracy]({png})"]
    return lines + [""]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _line_plot(points: list[tuple[int, float]], label: str, title: str, path: Path) -> None:
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in points], [v for _, v in points], marker="o" if len(points) < 40 else None)
    ax.set(xlabel="step", ylabel=label, title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _bar_plot(values: dict[str, float], title: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(values)), 3.5))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.bar_label(bars, fmt="%.2f")
    ax.set(ylabel="accuracy", ylim=(0, 1.05), title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
