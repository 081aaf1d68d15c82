"""Partition: pools by pass rate, difficulty groups, the budget rule, and empty pools written as empty files."""

from __future__ import annotations

import json

import pytest

from schemas import Artifact
from schemas.stages.pools import PartitionStage
from stages import partition
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows


def _spec(**options) -> PartitionStage:
    return PartitionStage(**{"id": "pools", "kind": "partition", "data": "probe", **options})


def _rows(*rates: float) -> list[dict]:
    return [{"id": i, "prompt": f"q{i}", "answer": str(i), "pass_rate": rate} for i, rate in enumerate(rates)]


def _ids(rows: list[dict]) -> list[int]:
    return [r["id"] for r in rows]


def test_pools_follow_the_paper_thresholds_at_their_edges():
    parts = partition.partition(_spec(), _rows(0.0, 0.05, 0.5, 0.70, 0.75, 1.0), {})
    assert _ids(parts["unsolvable"]) == [0]
    assert _ids(parts["solvable"]) == [1, 2, 3]
    assert _ids(parts["solved"]) == [4, 5]
    assert parts["failed"] == []


def test_solvable_pool_is_cut_into_groups_easiest_first():
    parts = partition.partition(_spec(groups=2), _rows(0.1, 0.6, 0.3, 0.5, 0.2), {})
    assert [r["pass_rate"] for r in parts["group1"]] == [0.6, 0.5, 0.3]
    assert [r["pass_rate"] for r in parts["group2"]] == [0.2, 0.1]


def test_everything_solved_leaves_every_other_pool_and_group_empty():
    parts = partition.partition(_spec(groups=3), _rows(0.9, 1.0, 0.8), {})
    assert _ids(parts["solved"]) == [0, 1, 2]
    assert all(parts[name] == [] for name in ("unsolvable", "solvable", "failed", "group1", "group2", "group3"))


def test_unsolvable_problem_past_its_budget_is_failed_and_stays_failed():
    spec = _spec(spend=2, budget=4)
    first = partition.partition(spec, _rows(0.0, 0.0), {})
    assert [r["spent"] for r in first["unsolvable"]] == [2, 2]
    before = {json.dumps(0): {"pool": "unsolvable", "spent": 4}, json.dumps(1): {"pool": "unsolvable", "spent": 2}}
    second = partition.partition(spec, _rows(0.0, 0.0), before)
    assert _ids(second["failed"]) == [0] and _ids(second["unsolvable"]) == [1]
    assert second["unsolvable"][0]["spent"] == 4
    later = partition.partition(spec, _rows(0.9), {json.dumps(0): {"pool": "failed", "spent": 4}})
    assert _ids(later["failed"]) == [0]


def test_a_re_probe_spends_nothing_more():
    parts = partition.partition(_spec(spend=0), _rows(0.0), {json.dumps(0): {"pool": "unsolvable", "spent": 3}})
    assert parts["unsolvable"][0]["spent"] == 3


def test_outputs_name_every_pool_and_group():
    assert list(_spec(groups=3).outputs()) == ["unsolvable", "solvable", "solved", "failed",
                                               "group1", "group2", "group3"]


def test_thresholds_out_of_order_are_refused():
    with pytest.raises(ValueError, match="unsolvable .* must not be above solved"):
        _spec(unsolvable=0.8, solved=0.7)


def test_run_writes_every_output_even_an_empty_one_and_reads_the_previous_report(tmp_path):
    data = tmp_path / "probe"
    data.mkdir()
    write_rows(data / "data.jsonl", _rows(0.0, 0.9))
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "report.json").write_text(json.dumps({"problems": {json.dumps(0): {"pool": "unsolvable", "spent": 1}}}))
    out = tmp_path / "out"
    out.mkdir()
    inputs = {"data": Artifact(type="dataset", path=str(data)), "previous": Artifact(type="report", path=str(prev))}
    summary = partition.run(_spec(spend=1, budget=1), inputs, StageContext(out=out))
    assert summary["failed"] == 1 and summary["solved"] == 1 and summary["unsolvable"] == 0
    assert read_rows(out / "unsolvable" / "data.jsonl") == [] and (out / "group2" / "data.jsonl").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["problems"][json.dumps(0)] == {"pool": "failed", "pass_rate": 0.0, "spent": 1}
    assert "unsolvable" in report["empty"]


def test_rows_without_pass_rates_are_refused(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    write_rows(data / "data.jsonl", [{"id": 0, "prompt": "q"}])
    with pytest.raises(StageError, match="without `pass_rate`"):
        partition.run(_spec(), {"data": Artifact(type="dataset", path=str(data))}, StageContext(out=tmp_path))


def test_a_small_solvable_pool_fills_fewer_groups_each_big_enough_for_a_step():
    parts = partition.partition(_spec(groups=3, min_group=2), _rows(0.5, 0.4, 0.3, 0.2, 0.1), {})
    assert [len(parts[g]) for g in ("group1", "group2", "group3")] == [3, 2, 0]
    tiny = partition.partition(_spec(groups=2, min_group=4), _rows(0.5, 0.4), {})
    assert tiny["group1"] == tiny["group2"] == [] and len(tiny["solvable"]) == 2
