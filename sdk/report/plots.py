"""Plots for the report: step curves (one colour per branch, parts dashed, smoothed when noisy) and bars.

matplotlib is imported inside the functions, so importing the report costs nothing until it draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

Points = list[tuple[int, float]]

SMOOTH_FROM = 8
"""Series with at least this many points get a moving average drawn over the faint raw values."""


@dataclass(frozen=True)
class Line:
    """One series on a plot: its points, legend label, colour slot, and whether it is a part (dashed)."""

    points: Points
    label: str
    slot: int = 0
    part: bool = False


def smooth(values: list[float]) -> list[float]:
    """An exponential moving average with a window of about a tenth of the series (at least 3 points)."""
    alpha = 2 / (max(3, len(values) // 10) + 1)
    out: list[float] = []
    for value in values:
        out.append(value if not out else alpha * value + (1 - alpha) * out[-1])
    return out


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def line_plot(lines: list[Line], ylabel: str, title: str, path: Path) -> None:
    """Step on x; each line raw (faint when smoothed) plus its moving average when it is long enough."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for line in lines:
        steps, values = [s for s, _ in line.points], [v for _, v in line.points]
        color, style = colors[line.slot % len(colors)], "--" if line.part else "-"
        width = 1.0 if line.part else 1.8
        if len(values) >= SMOOTH_FROM:
            ax.plot(steps, values, style, color=color, alpha=0.3, linewidth=0.8)
            ax.plot(steps, smooth(values), style, color=color, linewidth=width, label=f"{line.label} (smoothed)")
        else:
            ax.plot(steps, values, style, color=color, linewidth=width, marker="o", markersize=3, label=line.label)
    if any(len(line.points) >= SMOOTH_FROM for line in lines):
        ax.text(0.99, 0.01, "faint: each step; solid: moving average", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="0.4")
    ax.set(xlabel="step", ylabel=ylabel, title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if len(lines) > 1:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bar_plot(values: dict[str, float], ylabel: str, title: str, path: Path) -> None:
    """One bar per model, its value written on it (fractions: the axis runs 0 to 1)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(values) + 1), 3.6))
    bars = ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.bar_label(bars, fmt="%.2f")
    ax.set(ylabel=ylabel, ylim=(0, 1.05), title=title)
    ax.tick_params(axis="x", labelrotation=20 if len(values) > 4 else 0)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def stacked_bar_plot(bars: dict[str, dict[str, float]], ylabel: str, title: str, path: Path) -> None:
    """One bar per key, stacked from its parts in their order (one colour per part, a legend), totals on top."""
    plt = _pyplot()
    names = list(bars)
    parts = list(dict.fromkeys(p for values in bars.values() for p in values))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.0 * len(names) + 2), 3.8))
    bottom = [0.0] * len(names)
    for part in parts:
        heights = [bars[n].get(part, 0.0) for n in names]
        ax.bar(names, heights, bottom=bottom, label=part)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{total:g}", ha="center", va="bottom", fontsize=8)
    ax.set(ylabel=ylabel, title=title, ylim=(0, max(bottom + [1.0]) * 1.12))
    ax.tick_params(axis="x", labelrotation=20 if len(names) > 4 else 0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def grouped_bar_plot(groups: dict[str, dict[str, float]], ylabel: str, title: str, path: Path) -> None:
    """Per key, one bar per part side by side (one colour per part, a legend), values written on them."""
    plt = _pyplot()
    names = list(groups)
    parts = list(dict.fromkeys(p for values in groups.values() for p in values))
    width = 0.8 / max(1, len(parts))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(names) + 2), 3.8))
    for index, part in enumerate(parts):
        xs = [i + (index - (len(parts) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, [groups[n].get(part, 0.0) for n in names], width, label=part)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", labelrotation=20 if len(names) > 4 else 0)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def layer_plot(curves: dict[str, list[float | None]], ylabel: str, title: str, path: Path) -> None:
    """One line per model over its layers (0: embeddings); gaps where a value is missing."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, values in curves.items():
        ax.plot(range(len(values)), [float("nan") if v is None else v for v in values], marker="o", markersize=3,
                label=label)
    ax.set(xlabel="layer", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def scaling_plot(points: dict[str, tuple[float, float, float]], path: Path) -> None:
    """A_fast and A_slow against parameter count (log scale), one labelled point per model for each."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ordered = sorted(points.items(), key=lambda item: item[1][0])
    sizes = [p[0] for _, p in ordered]
    ax.plot(sizes, [p[1] for _, p in ordered], marker="o", label="A_fast (knowledge)")
    ax.plot(sizes, [p[2] for _, p in ordered], marker="s", label="A_slow")
    for name, (size, fast, _) in ordered:
        ax.annotate(name, (size, fast), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set(xlabel="parameters", ylabel="accuracy (0-1)", ylim=(0, 1.05), title="accuracy by model size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
