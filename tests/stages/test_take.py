"""Take: N rows in seeded order, N fixed or read at run time from another dataset's row count."""

from __future__ import annotations

from schemas import Artifact, TakeStage
from stages import take as take_stage
from stages._context import StageContext
from stages._data import read_rows, write_rows


def _dataset(folder, n: int) -> Artifact:
    folder.mkdir()
    write_rows(folder / "data.jsonl", [{"id": i, "prompt": f"q{i}", "answer": str(i)} for i in range(n)])
    return Artifact(type="dataset", path=str(folder))


def test_takes_as_many_rows_as_the_like_dataset_holds(ctx: StageContext, tmp_path) -> None:
    spec = TakeStage(id="t", kind="take", data="warmup", like="correct", seed=3)
    inputs = {"data": _dataset(tmp_path / "warmup", 20), "like": _dataset(tmp_path / "correct", 7)}
    assert take_stage.run(spec, inputs, ctx) == {"rows_in": 20, "rows_out": 7, "like": 7}
    rows = read_rows(ctx.out / "data.jsonl")
    assert len({r["id"] for r in rows}) == 7
    assert [r["id"] for r in rows] != list(range(7))  # shuffled with the seed
    again = take_stage.take(spec, read_rows(tmp_path / "warmup" / "data.jsonl"), 7)
    assert [r["id"] for r in again] == [r["id"] for r in rows]


def test_the_smaller_of_rows_and_like_wins_and_nothing_is_invented(ctx: StageContext, tmp_path) -> None:
    rows = [{"id": i} for i in range(5)]
    assert len(take_stage.take(TakeStage(id="t", kind="take", data="d", rows=3), rows, 4)) == 3
    assert len(take_stage.take(TakeStage(id="t", kind="take", data="d", rows=9), rows, 4)) == 4
    assert len(take_stage.take(TakeStage(id="t", kind="take", data="d"), rows, 50)) == 5
    unshuffled = take_stage.take(TakeStage(id="t", kind="take", data="d", shuffle=False), rows, 2)
    assert [r["id"] for r in unshuffled] == [0, 1]
