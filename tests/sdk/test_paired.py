"""Paired differences: the figures by hand on small sample sets, and where the report and CLI show them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sdk.report.paired import comparisons, paired, per_problem, read_comparisons


def _samples(model: str, right: list[int], samples: int = 1) -> list[dict]:
    """One sample row per problem (or `samples` rows, of which the first `right[i]` are correct)."""
    return [{"model": model, "id": f"p{i}", "correct": k < r} for i, r in enumerate(right) for k in range(samples)]


def test_paired_difference_and_se_by_hand() -> None:
    rows = _samples("a", [1, 1, 0, 1, 0]) + _samples("b", [1, 0, 0, 0, 1])
    found = paired(per_problem(rows), "a", "b")
    # per-problem differences 0, 1, 0, 1, -1: mean 0.2, sample variance (4 x 0.04 + ... ) / 4
    diffs = [0, 1, 0, 1, -1]
    var = sum((d - 0.2) ** 2 for d in diffs) / 4
    assert found.difference == pytest.approx(0.2)
    assert found.se == pytest.approx(math.sqrt(var / 5))
    assert (found.only_first, found.only_second, found.problems) == (2, 1, 5)
    assert not found.measurable  # 0.2 against se 0.37


def test_many_problems_one_way_is_measurable_and_samples_average_per_problem() -> None:
    rows = _samples("rl", [2] * 40, samples=2) + _samples("sft", [1] * 40, samples=2)
    found = paired(per_problem(rows), "rl", "sft")
    assert found.difference == pytest.approx(0.5) and found.se == 0.0 and found.measurable
    assert found.only_first == 40


def test_only_shared_problems_count_and_pairs_go_later_minus_earlier() -> None:
    rows = _samples("base", [0, 0, 0]) + _samples("sft", [1, 1]) + _samples("rl", [1, 0, 1])
    found = {(p.first, p.second): p for p in comparisons(rows, order=["base", "sft", "rl"])}
    assert set(found) == {("sft", "base"), ("rl", "base"), ("rl", "sft")}
    assert found["sft", "base"].problems == 2 and found["rl", "base"].problems == 3
    assert found["rl", "sft"].difference == pytest.approx(-0.5)


def test_report_and_cli_show_the_paired_table(tmp_path: Path, capsys) -> None:
    from sdk.cli import _print_report

    rows = _samples("control", [1, 0, 0, 1] * 10) + _samples("student", [1, 1, 0, 1] * 10)
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = {"data": "test", "models": {"control": {"accuracy": 0.5}, "student": {"accuracy": 0.75}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    _print_report("eval", str(tmp_path))
    shown = capsys.readouterr().out
    assert "student - control" in shown and "+0.250" in shown and "10 / 0" in shown
    assert [p.difference for p in read_comparisons(tmp_path, report["models"])] == [pytest.approx(0.25)]
    assert read_comparisons(tmp_path / "missing") == []
