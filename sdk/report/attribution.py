"""The report's cognition attribution section: every `attribute` stage's decomposition, a table per model
and domain, delta_c and delta_o per domain, CKA by layer per model, and accuracy against model size.

It reads each stage's `report.json` only; matplotlib is imported when a plot is drawn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.stage_kinds import STAGE_SPECS
from sdk.report.page import Block, Heading, Image, Table, Text

OVERALL_NOTE = ("A_fast: share right answering fast (the letter only: knowledge); A_slow: answering slow (Thought, "
                "then Solution); delta = A_slow - A_fast = delta_c - delta_o, the reasoning gain; delta_c: fast wrong "
                "and slow right (correction); delta_o: fast right and slow wrong (overthinking); r_c = corrected / "
                "fast wrong, r_o = overthought / fast right. ± is one standard error over questions (paired for "
                "delta); unanswered: answers with no option letter (or judged Uncertain), counted as wrong.")
DOMAIN_NOTE = "The same metrics on each domain's questions (n: questions in the domain)."


def attribution_reports(stages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(stage id, report) of every attribution stage of the apply that has its report."""
    found = []
    for stage in stages:
        spec = STAGE_SPECS.get((stage.get("manifest") or {}).get("kind") or "")
        folder = stage.get("folder")
        if spec is not None and spec.ATTRIBUTION and folder is not None and (Path(folder) / "report.json").is_file():
            found.append((stage["id"], json.loads((Path(folder) / "report.json").read_text())))
    return found


def _pm(value: float | None, se: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f} ± {se:.3f}" if se is not None else f"{value:+.3f}"


def _share(value: float | None, se: float | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} ± {se:.3f}" if se is not None else f"{value:.3f}"


def _metrics(d: dict[str, Any]) -> list[str]:
    return [_share(d["A_fast"], d.get("A_fast_se")), _share(d["A_slow"], d.get("A_slow_se")),
            _pm(d["delta"], d.get("delta_se")), _share(d["delta_c"]), _share(d["delta_o"]), _share(d["r_c"]),
            _share(d["r_o"])]


HEAD = ["A_fast", "A_slow", "delta", "delta_c", "delta_o", "r_c", "r_o"]


def _label(report: dict[str, Any], several_data: bool) -> str:
    return f"{report['model']} on {report['data']}" if several_data else str(report["model"])


OVERALL_HEAD = ["model", "params", "n", *HEAD, "unanswered (fast / slow)"]


def overall_rows(reports: list[dict[str, Any]]) -> list[list[str]]:
    """One row per attribution report (model, or model on data where there are several datasets)."""
    several = len({r["data"] for r in reports}) > 1
    rows = []
    for r in reports:
        o = r["overall"]
        rows.append([_label(r, several), f"{r['params']:,}" if r.get("params") else "-", str(o["n"]),
                     *_metrics(o), f"{r['unanswered']['fast']} / {r['unanswered']['slow']}"])
    return rows


def attribution_blocks(stages: list[dict[str, Any]], out: Path) -> list[Block]:
    """The section, or nothing when the apply has no attribution stage."""
    reports = attribution_reports(stages)
    if not reports:
        return []
    several = len({r["data"] for _, r in reports}) > 1
    blocks: list[Block] = [Heading("Cognition attribution"),
                           Table(OVERALL_HEAD, overall_rows([r for _, r in reports]), OVERALL_NOTE,
                                 numeric=frozenset(range(1, 11)))]
    domain_rows = [[_label(r, several), domain, str(d["n"]), *_metrics(d)]
                   for _, r in reports for domain, d in r["domains"].items()]
    if any(len(r["domains"]) > 1 for _, r in reports):
        blocks += [Heading("Per domain", 3), Table(["model", "domain", "n", *HEAD], domain_rows, DOMAIN_NOTE,
                                                   numeric=frozenset(range(2, 10)))]
    blocks += _plots(reports, several, out)
    return blocks


def _plots(reports: list[tuple[str, dict[str, Any]]], several: bool, out: Path) -> list[Block]:
    from sdk.report.plots import grouped_bar_plot, layer_plot, scaling_plot

    blocks: list[Block] = []
    domains: dict[str, dict[str, list[float]]] = {}
    for _, r in reports:
        for domain, d in r["domains"].items():
            parts = domains.setdefault(domain, {"delta_c (correction)": [], "delta_o (overthinking)": []})
            parts["delta_c (correction)"].append(d["delta_c"])
            parts["delta_o (overthinking)"].append(d["delta_o"])
    means = {domain: {k: sum(v) / len(v) for k, v in parts.items()} for domain, parts in domains.items()}
    grouped_bar_plot(means, "share of questions", f"correction and overthinking per domain (mean of {len(reports)} "
                     "model runs)", out / "attribution-domains.png")
    blocks.append(Image("attribution-domains.png", "delta_c and delta_o per domain",
                        "Per domain: questions slow thinking corrected (delta_c) and broke (delta_o), as shares of "
                        "the domain's questions, averaged over the models."))
    curves = {_label(r, several): r["cka"] for _, r in reports if r.get("cka")}
    if curves:
        layer_plot(curves, "linear CKA, fast vs slow", "where the two modes' hidden states part",
                   out / "attribution-cka.png")
        blocks.append(Image("attribution-cka.png", "CKA by layer", "Per layer (0: embeddings), linear CKA between "
                            "the fast and the slow prompt's hidden state at the last prompt token, over the questions "
                            "(1: the same up to rotation and scale)."))
    sizes = {r["params"] for _, r in reports if r.get("params")}
    if len(sizes) > 1:
        points = {_label(r, several): (float(r["params"]), r["overall"]["A_fast"], r["overall"]["A_slow"])
                  for _, r in reports if r.get("params")}
        scaling_plot(points, out / "attribution-scaling.png")
        blocks.append(Image("attribution-scaling.png", "accuracy by model size",
                            "A_fast (knowledge) and A_slow against parameter count, one point per model."))
    else:
        blocks.append(Text("One model size only: no scaling plot."))
    return blocks
