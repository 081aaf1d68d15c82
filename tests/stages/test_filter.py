"""Filtering on hand-made rows: correctness, finished, dedupe per problem, seeded order, cap."""

from __future__ import annotations

from schemas import Artifact, FilterStage
from stages import filter as filter_stage
from stages._context import StageContext
from stages._data import read_rows, write_rows


def _rows() -> list[dict]:
    rows = []
    for pid, answer in (("p1", "3"), ("p2", "5"), ("p3", "9")):
        for sample, said in enumerate((answer, answer, "0")):
            rows.append({"id": pid, "prompt": "?", "answer": answer, "meta": {"extract": "answer_tag"},
                         "response": f"<answer>{said}</answer>", "sample": sample, "finished": True})
    rows[1]["finished"] = False  # p1's second correct sample was cut off
    return rows


def _filter(ctx: StageContext, tmp_path, **options) -> tuple[dict, list[dict]]:
    write_rows(tmp_path / "data.jsonl", _rows())
    spec = FilterStage(id="f", kind="filter", data="g", **options)
    summary = filter_stage.run(spec, {"data": Artifact(type="dataset", path=str(tmp_path))}, ctx)
    return summary, read_rows(ctx.out / "data.jsonl")


def test_keeps_correct_finished_one_per_problem(ctx: StageContext, tmp_path) -> None:
    summary, rows = _filter(ctx, tmp_path)
    assert summary == {"rows_in": 9, "rows_out": 3, "pass_rate": 6 / 9}
    assert sorted(r["id"] for r in rows) == ["p1", "p2", "p3"]
    assert all(r["reward"] == 1.0 and r["finished"] for r in rows)
    assert next(r for r in rows if r["id"] == "p1")["sample"] == 0


def test_without_dedupe_and_finished_rule(ctx: StageContext, tmp_path) -> None:
    _, rows = _filter(ctx, tmp_path, dedupe=False, require_finished=False)
    assert len(rows) == 6


def test_keep_all_is_a_seeded_shuffle_with_cap(ctx: StageContext, tmp_path) -> None:
    _, rows = _filter(ctx, tmp_path, correct=False, require_finished=False, dedupe=False, max_rows=5, seed=7)
    assert len(rows) == 5 and {r["reward"] for r in rows} <= {0.0, 1.0}
    _, again = _filter(ctx, tmp_path, correct=False, require_finished=False, dedupe=False, max_rows=5, seed=7)
    assert rows == again
    _, ordered = _filter(ctx, tmp_path, correct=False, require_finished=False, dedupe=False, shuffle=False)
    assert [(r["id"], r["sample"]) for r in ordered] == [(r["id"], r["sample"]) for r in _rows()]
