"""Paired differences between models scored on the same problems: is one better, beyond the noise?

Two models evaluated on the same test problems differ by chance only on the problems one solves and the
other does not, so the standard error of the difference of their accuracies is computed problem by
problem (paired) rather than from the two accuracies apart: on a few hundred problems it is often half
as large, which is what lets a small recipe tell a real gain from a lucky draw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

MEASURABLE_SE = 2.0
"""A difference counts as measurable when it is more than this many paired standard errors from 0."""


@dataclass(frozen=True)
class Paired:
    """`first` minus `second` on the problems both were scored on."""

    first: str
    second: str
    difference: float
    """Mean over problems of (share of `first`'s samples correct - share of `second`'s)."""
    se: float
    """Paired standard error of `difference`: sd of the per-problem differences / sqrt(problems)."""
    only_first: int
    """Problems where `first` did better (with one greedy sample: solved by `first` only)."""
    only_second: int
    problems: int

    @property
    def measurable(self) -> bool:
        return abs(self.difference) > MEASURABLE_SE * self.se


def per_problem(samples: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """model -> problem id -> share of that model's samples of the problem the verifier accepted."""
    tally: dict[str, dict[str, list[int]]] = {}
    for s in samples:
        seen = tally.setdefault(str(s["model"]), {}).setdefault(str(s["id"]), [0, 0])
        seen[0] += bool(s["correct"])
        seen[1] += 1
    return {model: {pid: right / total for pid, (right, total) in problems.items()}
            for model, problems in tally.items()}


def paired(scores: Mapping[str, Mapping[str, float]], first: str, second: str) -> Paired:
    """The paired difference of two models over the problems both have scores for."""
    shared = sorted(set(scores[first]) & set(scores[second]))
    diffs = [scores[first][p] - scores[second][p] for p in shared]
    n = len(diffs)
    mean = sum(diffs) / n if n else 0.0
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    return Paired(first, second, mean, math.sqrt(var / n) if n else 0.0,
                  sum(d > 0 for d in diffs), sum(d < 0 for d in diffs), n)


def comparisons(samples: Iterable[Mapping[str, Any]], order: Iterable[str] | None = None) -> list[Paired]:
    """Every pair of models, later minus earlier in `order` (the report's model order; default: as first seen)."""
    scores = per_problem(samples)
    models = [m for m in (order or scores) if m in scores]
    return [paired(scores, later, earlier) for earlier, later in combinations(models, 2)]


def read_comparisons(folder: Path, order: Iterable[str] | None = None) -> list[Paired]:
    """The comparisons of an evaluate stage's `samples.jsonl` (none when the folder has no samples)."""
    path = Path(folder) / "samples.jsonl"
    if not path.is_file():
        return []
    with path.open() as f:
        return comparisons((json.loads(line) for line in f if line.strip()), order)


PAIRED_NOTE = (f"Each row: accuracy of the first model minus the second's on the same problems, with the paired "
               f"standard error (sd of the per-problem differences / sqrt(problems)); 'better on' counts the "
               f"problems each model did better on. A difference within {MEASURABLE_SE:g} se of 0 is not "
               f"measurable: more test problems, not a conclusion, are what it needs.")


def paired_rows(found: Iterable[Paired]) -> list[list[str]]:
    """Table rows: pair, difference, se, problems each did better on, and whether it is measurable."""
    return [[f"{p.first} - {p.second}", f"{p.difference:+.3f}", f"{p.se:.3f}",
             f"{p.only_first} / {p.only_second}", "yes" if p.measurable else "no"] for p in found]


PAIRED_HEAD = ["pair", "difference", "paired se", "better on (first / second)", "measurable"]
