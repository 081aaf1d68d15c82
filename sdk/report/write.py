"""report: plots, `summary.md` and `report.html` of an apply, from what the store already holds.

Training curves come from each stage's TensorBoard events (GRPO falls back to its replay buffer
when tracking was off): the curves each stage kind names (`CURVES` on its spec), every branch of a
fanned-out stage on the same plot. Accuracies come from evaluate's `report.json`. matplotlib and
tensorboard are imported only inside the functions that draw, so the CLI stays light.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import STAGE_SPECS
from schemas.stages import Curve
from sdk.errors import StoreError
from sdk.report.attribution import attribution_blocks
from sdk.report.forgetting import FORGETTING_HEAD, epoch_lines, forgetting_note, forgetting_rows
from sdk.report.page import Block, Heading, Image, Table, Text, markdown, page
from sdk.report.paired import PAIRED_HEAD, PAIRED_NOTE, paired_rows, read_comparisons
from sdk.report.plots import Line, Points, bar_plot, line_plot
from sdk.report.pools import budget_line, pools_blocks
from sdk.run.store import Store

VERDICTS = "verdicts.json"
HEADLINES = "headlines.json"
"""Lines the report wants printed after an apply besides the verdicts (a comparison's cost)."""
"""Beside summary.md: each RL run's verdicts (length collapse, reward hockey stick) as lines of text."""
LENGTH_TAG, REWARD_TAG = "train/completions/mean_length", "train/reward"
"""The per-step series (TRL's GRPO logs) the verdicts read."""
VERDICT_NOTE = ("BAI's two failure signs (sdk/report/verdicts.py; curves smoothed over 10% of the steps, "
                "'early' is the "
                "first half): length collapse = smoothed completion length falls early 30% below its start and "
                "ends more than 15% below it; reward hockey stick = smoothed reward dips early by at least 20% of "
                "its range and takes at least twice as long to climb back to its start as it took to fall.")


def file_stem(stage_id: str) -> str:
    """A stage id as a file name: a branch's `[lr=1e-05]` and anything odd become `_`, and it stays short."""
    stem = re.sub(r"[^\w.\-+=,]+", "_", stage_id).strip("_") or "stage"
    if len(stem) > 96:
        stem = f"{stem[:80]}-{hashlib.sha256(stage_id.encode()).hexdigest()[:8]}"
    return stem


def write_report(store_root: str | Path, recipe_name: str | None = None, out_dir: str | Path | None = None) -> Path:
    """Plots, `summary.md`, a self-contained `report.html` and `verdicts.json` for the last apply in the store
    (or of `recipe_name`); returns the folder.

    Raises:
        StoreError: the store has no apply (of that recipe) and no artifacts of it.
    """
    store = Store(store_root)
    name, when, stages = _stages(store, recipe_name)
    out = Path(out_dir) if out_dir is not None else store.root / "reports" / name
    out.mkdir(parents=True, exist_ok=True)
    blocks: list[Block] = [Heading(name, 1), Text(f"Store {store.root}, applied "
                                                  f"{time.strftime('%Y-%m-%d %H:%M:%S', when)}."),
                           Heading("Stages"), _stage_table(stages)]
    groups: dict[str, list[dict[str, Any]]] = {}
    for stage in stages:
        spec = STAGE_SPECS.get((stage.get("manifest") or {}).get("kind") or "")
        if spec is None or stage.get("folder") is None:
            continue
        if spec.METRICS_TABLE and (stage["folder"] / "report.json").is_file():
            report = json.loads((stage["folder"] / "report.json").read_text())
            blocks += _evaluate_blocks(stage["id"], report, out)
            blocks += _paired_blocks(stage["id"], report, stage["folder"])
        elif spec.FORGETTING_TABLE and (stage["folder"] / "report.json").is_file():
            report = json.loads((stage["folder"] / "report.json").read_text())
            blocks += _forgetting_blocks(stage["id"], report, stage["folder"], out)
        elif spec.CURVES:
            group = groups.setdefault(stage["id"].split("[", 1)[0], [])
            if not group:
                blocks.append(_Group(stage["id"].split("[", 1)[0], group))
            group.append(stage)
    blocks += pools_blocks(stages, store, out)
    blocks += attribution_blocks(stages, out)
    verdicts: dict[str, list[str]] = {}
    blocks = [b for block in blocks for b in (_training_blocks(block.name, block.stages, out, verdicts)
                                              if isinstance(block, _Group) else [block])]
    (out / VERDICTS).write_text(json.dumps(verdicts, indent=2) + "\n")
    headlines = [line for line in (budget_line(stages),) if line]
    (out / HEADLINES).write_text(json.dumps(headlines, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(blocks))
    (out / "report.html").write_text(page(f"{name}: report", blocks, out))
    return out


@dataclass(frozen=True)
class _Group:
    """The branches of one training stage (one, when it has no matrix), placed where the first one ran."""

    name: str
    stages: list[dict[str, Any]]


def _stage_table(stages: list[dict[str, Any]]) -> Table:
    rows = []
    for stage in stages:
        manifest = stage.get("manifest") or {}
        timings = manifest.get("timings", {})
        took = timings.get("seconds")
        rows.append([stage["id"], manifest.get("kind", stage.get("kind", "?")), stage["state"],
                     f"{stage.get('seconds', 0):.1f}", "" if took is None else f"{took:.1f}",
                     "yes" if timings.get("resumed") else ""])
    return Table(["stage", "kind", "state", "this apply (s)", "build time (s)", "resumed"], rows,
                 note="this apply: seconds this apply spent on the stage (about 0 when cached); build time: "
                      "seconds it took when its artifact was made; resumed: that build continued an "
                      "interrupted one from its checkpoint.", numeric=frozenset({3, 4}))


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


def _training_blocks(name: str, stages: list[dict[str, Any]], out: Path,
                     verdicts: dict[str, list[str]]) -> list[Block]:
    """One training stage, or every branch of it on the same plots: the curves its spec names, and the
    verdicts of each RL run (added to `verdicts` by stage id)."""
    kind = stages[0]["manifest"]["kind"]
    spec = STAGE_SPECS[kind]
    branches = len(stages) > 1
    blocks: list[Block] = [Heading(f"{name} ({kind}" + (f", {len(stages)} branches)" if branches else ")"))]
    series: dict[str, dict[str, Points]] = {}
    for stage in stages:
        found = _tensorboard(stage["folder"] / "tensorboard")
        series[stage["id"]] = found or (_replay_curves(stage["folder"] / "replay.jsonl") if spec.REPLAY_CURVES
                                        else {})
        facts = _facts(stage["manifest"].get("summary", {}))
        if facts:
            blocks.append(Text(f"{stage['id']}: {facts}" if branches else facts))
    if not any(series.values()):
        return [*blocks, Text("No TensorBoard logs for this stage (set `tracking: {backend: tensorboard}`).")]
    asked = {s["id"] for s in stages if s["manifest"].get("summary", {}).get("verdicts")}  # the recipe asked
    judged = {stage_id: found for stage_id, tags in series.items() if stage_id in asked and (found := _verdicts(tags))}
    if judged:
        verdicts.update({stage_id: [str(v) for v in found] for stage_id, found in judged.items()})
        rows = [[stage_id, *(f"{'YES' if v.flagged else 'no'}: {v.detail}" for v in found)]
                for stage_id, found in judged.items()]
        blocks.append(Table(["run", "length collapse", "reward hockey stick"], rows, note=VERDICT_NOTE))
    for curve in spec.CURVES:
        lines = _curve_lines(curve, series, branches)
        if lines:
            png = f"{file_stem(name)}-{curve.suffix}.png"
            line_plot(lines, curve.label, f"{name}: {curve.label}", out / png)
            blocks.append(Image(png, f"{name} {curve.suffix}", curve.note))
    return blocks


def _verdicts(tags: dict[str, Points]) -> list[Any]:
    """Both verdicts for a run that logged completion length and reward per step; [] otherwise."""
    from sdk.report.verdicts import length_collapse, reward_hockey_stick

    if not (tags.get(LENGTH_TAG) and tags.get(REWARD_TAG)):
        return []
    return [length_collapse(tags[LENGTH_TAG]), reward_hockey_stick(tags[REWARD_TAG])]


def verdict_lines(report_dir: Path) -> list[str]:
    """`stage: verdict` lines, then the headlines, from a written report (what the CLI prints)."""
    path = Path(report_dir) / VERDICTS
    found = json.loads(path.read_text()) if path.is_file() else {}
    lines = [f"{stage}: {verdict}" for stage, verdicts in found.items() for verdict in verdicts]
    path = Path(report_dir) / HEADLINES
    return lines + (json.loads(path.read_text()) if path.is_file() else [])


def _curve_lines(curve: Curve, series: dict[str, dict[str, Points]], branches: bool) -> list[Line]:
    """The curve's main tag per branch (one colour each), with its parts dashed in the same colour."""
    lines = []
    for slot, (stage_id, tags) in enumerate(series.items()):
        prefix, _, suffix = curve.parts.partition("*")
        parts = sorted(t for t in tags if curve.parts and fnmatch.fnmatchcase(t, curve.parts) and t != curve.tag)
        if tags.get(curve.tag):
            total = "total (weighted sum)"  # the parts are drawn as logged: before their weights
            if branches:
                main = f"{stage_id}: {total}" if parts else stage_id
            else:
                main = total if parts else curve.label
            lines.append(Line(tags[curve.tag], main, slot))
        for i, tag in enumerate(parts, start=1):  # a branch's parts share its colour; alone, each has its own
            part = tag[len(prefix):len(tag) - len(suffix)] + " (unweighted)"
            lines.append(Line(tags[tag], f"{stage_id}: {part}" if branches else part, slot if branches else i,
                              part=True))
    return lines


def _facts(summary: dict[str, Any]) -> str:
    return ", ".join(f"{k} {summary[k]:.4g}" if isinstance(summary[k], float) else f"{k} {summary[k]}"
                     for k in ("steps", "first_reward", "last_reward", "final_mean_reward", "train_loss",
                               "resumed_from_step") if summary.get(k) is not None)


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
    return {REWARD_TAG: [(s, mean("reward", s)) for s in steps],
            LENGTH_TAG: [(s, mean("completion_tokens", s)) for s in steps]}


EVAL_COLUMNS = (("accuracy", "accuracy"), ("pass@1", "pass@1"), ("mean_reward", "verifier score"),
                ("mean_response_tokens", "response tokens"), ("finished_rate", "finished"),
                ("sft_examples", "SFT examples"), ("rl_responses", "RL responses sampled"))
"""report.json key -> column name, in the order tables show them (pass@k for k > 1 follows pass@1)."""


def eval_columns(first: dict[str, Any]) -> list[tuple[str, str]]:
    """The columns a report's models have, named for what they measure."""
    cols = [c for c in EVAL_COLUMNS if c[0] in first]
    extra = sorted((k for k in first if k.startswith("pass@") and k != "pass@1"), key=lambda k: int(k[5:]))
    attempts = sorted((k for k in first if k.startswith("attempts@")), key=lambda k: int(k[9:]))
    at = next((i + 1 for i, c in enumerate(cols) if c[0] == "pass@1"), len(cols))
    return cols[:at] + [(k, k) for k in extra] + [(k, f"right in {k[9:]} attempts") for k in attempts] + cols[at:]


COUNTS = frozenset({"sft_examples", "rl_responses"})
"""Columns that count what a model was trained on (from each model's `training.json`), shown whole."""


def eval_cell(key: str, value: Any, digits: int) -> str:
    """One table cell: counts whole, token lengths to one decimal, fractions to `digits` places."""
    if value is None:
        return "-"
    if key in COUNTS:
        return str(int(value))
    return f"{value:.1f}" if key == "mean_response_tokens" else f"{value:.{digits}f}"


def eval_note(report: dict[str, Any]) -> str:
    """What the evaluation columns measure and on which scale, said once under the table."""
    first = next(iter(report.get("models", {}).values()), {})
    size = f"{first['n_problems']} problems x " if "n_problems" in first else ""
    return (f"{size}{report.get('samples', 1)} sample(s) each at temperature {report.get('temperature', 0)}. "
            "accuracy: share of samples the task's verifier fully accepts; pass@k: share of problems solved by "
            "at least one of k samples (unbiased estimate); verifier score: the verifier's mean score, with "
            "partial credit where the task gives it and no format bonus, so it is not on the scale of the GRPO "
            "reward (a weighted sum that adds the format bonus); response tokens: mean response length; "
            "finished: share of responses that ended before the token limit; SFT examples and RL responses "
            "sampled: counts of what the model was trained on, its ancestors included (the control arm sees as "
            "many SFT examples as the student). All but response tokens and the counts are fractions from 0 to 1."
            + (" right in k attempts: share of problems some attempt answered right when the model was told it had k "
               "(a multi-attempt task: feedback after each wrong attempt); accuracy is at the most attempts."
               if any(k.startswith("attempts@") for k in first) else ""))


def _evaluate_blocks(stage_id: str, report: dict[str, Any], out: Path) -> list[Block]:
    models = report.get("models", {})
    cols = eval_columns(next(iter(models.values()), {}))
    rows = [[name, *(eval_cell(key, m.get(key), 3) for key, _ in cols)] for name, m in models.items()]
    blocks: list[Block] = [Heading(f"{stage_id} (evaluate on {report.get('data', '?')})"),
                           Table(["model", *(name for _, name in cols)], rows, eval_note(report),
                                 numeric=frozenset(range(1, len(cols) + 1)))]
    if models:
        png = f"{file_stem(stage_id)}-accuracy.png"
        bar_plot({k: float(v.get("accuracy", 0)) for k, v in models.items()}, "accuracy (0-1)",
                 f"{stage_id}: accuracy per model", out / png)
        blocks.append(Image(png, f"{stage_id} accuracy", "Share of samples the verifier fully accepts, per model."))
    return blocks


def _paired_blocks(stage_id: str, report: dict[str, Any], folder: Path) -> list[Block]:
    """Every pair of the evaluated models, later minus earlier, with the paired standard error."""
    found = read_comparisons(folder, report.get("models", {}))
    if not found:
        return []
    return [Heading(f"{stage_id} (paired differences)", 3),
            Table(PAIRED_HEAD, paired_rows(found), PAIRED_NOTE, numeric=frozenset({1, 2, 3}))]


def _forgetting_blocks(stage_id: str, report: dict[str, Any], folder: Path, out: Path) -> list[Block]:
    """Learned / forgotten per model (CNL's counts), each model's per-epoch history, and the plot."""
    blocks: list[Block] = [Heading(f"{stage_id} (learned and forgotten)"),
                           Table(FORGETTING_HEAD, forgetting_rows(report), forgetting_note(report),
                                 numeric=frozenset({1, 2, 3}))]
    blocks += [Text(line) for line in epoch_lines(report)]
    if (folder / "forgetting.png").is_file():
        png = f"{file_stem(stage_id)}-forgetting.png"
        (out / png).write_bytes((folder / "forgetting.png").read_bytes())
        blocks.append(Image(png, f"{stage_id} forgetting per epoch", "Counts after each epoch (0: before training)."))
    return blocks
