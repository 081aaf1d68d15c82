"""Replay: which rollouts of a GRPO buffer become training rows, and that filter/sft take those rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import Artifact, FilterStage, ReplayStage, SftStage
from stages import _replay_buffer, filter, replay
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages.sft import _response

PROBLEMS = [{"id": i, "prompt": f"What is {i} + 1?", "answer": str(i + 1), "system": "Be brief.",
             "meta": {"source": "jsonl", "extract": "answer_tag"}} for i in range(4)]


def _rollout(step: int, pid: int, correct: bool, tag: str = "") -> dict:
    answer = pid + 1 if correct else pid
    return {"step": step, "id": pid, "prompt": f"What is {pid} + 1?", "completion": f"<answer>{answer}</answer>{tag}",
            "reward": float(correct), "correct": correct, "answer": str(pid + 1), "finished": True,
            "completion_tokens": 5}


def _run_folder(tmp_path: Path, rollouts: list[dict]) -> Artifact:
    folder = tmp_path / "grpo"
    folder.mkdir()
    _replay_buffer.append(folder / "replay.jsonl", rollouts)
    write_rows(folder / "problems.jsonl", PROBLEMS)
    return Artifact(type="model", path=str(folder))


def _spec(**options) -> ReplayStage:
    return ReplayStage(**{"id": "replay", "kind": "replay", "run": "grpo", **options})


BUFFER = [
    _rollout(1, 0, True, "old"), _rollout(1, 1, False),
    _rollout(2, 0, True, "a"), _rollout(2, 0, True, "b"), _rollout(2, 1, False), _rollout(2, 2, True),
    _rollout(3, 1, True, "new"), _rollout(3, 2, False), _rollout(3, 3, False),
]


def test_latest_correct_response_per_problem_of_the_last_steps() -> None:
    chosen = replay.select(_spec(last_steps=2), BUFFER)
    by_id = {r["id"]: r["completion"] for r in chosen}
    assert by_id == {0: "<answer>1</answer>b", 1: "<answer>2</answer>new", 2: "<answer>3</answer>"}


def test_window_correct_only_and_dedupe_switches() -> None:
    assert {r["id"] for r in replay.select(_spec(last_steps=1), BUFFER)} == {1}
    assert len(replay.select(_spec(last_steps=3, one_per_problem=False), BUFFER)) == 5
    everything = replay.select(_spec(last_steps=3, correct_only=False, one_per_problem=False), BUFFER)
    assert len(everything) == len(BUFFER)
    latest_any = replay.select(_spec(last_steps=3, correct_only=False), BUFFER)
    assert {r["id"]: r["step"] for r in latest_any} == {0: 2, 1: 3, 2: 3, 3: 3}
    assert replay.select(_spec(), []) == []


def test_seeded_shuffle_and_cap() -> None:
    many = [_rollout(1, i % 4, True, str(i)) for i in range(40)]
    first = replay.select(_spec(one_per_problem=False, seed=1), many)
    assert first == replay.select(_spec(one_per_problem=False, seed=1), many)
    assert first != replay.select(_spec(one_per_problem=False, seed=2), many)
    assert len(replay.select(_spec(one_per_problem=False, max_rows=7), many)) == 7


def test_rows_carry_the_problem_and_pass_filter_and_sft(tmp_path: Path, ctx: StageContext) -> None:
    summary = replay.run(_spec(last_steps=2), {"run": _run_folder(tmp_path, BUFFER)}, ctx)
    assert summary["rows"] == 3 and summary["rollouts"] == len(BUFFER) and summary["last_step"] == 3
    rows = read_rows(ctx.out / "data.jsonl")
    for row in rows:
        assert row["system"] == "Be brief." and row["meta"]["extract"] == "answer_tag"
        assert {"id", "prompt", "answer", "response", "reward", "step", "finished"} <= set(row)
    kept, correct = filter.select(FilterStage(id="f", kind="filter", data="replay"), rows)
    assert correct == len(kept) == 3
    sft_spec = SftStage(id="s", kind="sft", model="m", data="replay")
    assert [_response(sft_spec, row, i) for i, row in enumerate(rows)] == [r["response"] for r in rows]


def test_a_run_without_a_buffer_is_not_a_grpo_output(tmp_path: Path, ctx: StageContext) -> None:
    with pytest.raises(StageError, match="not a grpo output"):
        replay.run(_spec(), {"run": Artifact(type="model", path=str(tmp_path))}, ctx)


def _group(tmp_path: Path, name: str, rollouts: list[dict]) -> Artifact:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "replay.jsonl").touch()
    _replay_buffer.append(folder / "replay.jsonl", rollouts)
    write_rows(folder / "problems.jsonl", PROBLEMS)
    return Artifact(type="model", path=str(folder))


def test_several_runs_give_the_latest_correct_response_per_problem_across_them(tmp_path: Path,
                                                                              ctx: StageContext) -> None:
    easy = [_rollout(1, 0, True, "e1"), _rollout(2, 0, True, "e2"), _rollout(2, 1, False)]
    hard = [_rollout(1, 2, True, "h1"), _rollout(5, 2, False), _rollout(6, 3, True, "h6")]
    spec = ReplayStage(id="replay1", kind="replay", runs=["rl1_1", "rl1_2", "rl1_3"], last_steps=None)
    inputs = {"runs.rl1_1": _group(tmp_path, "a", easy), "runs.rl1_2": _group(tmp_path, "b", hard),
              "runs.rl1_3": _group(tmp_path, "empty", [])}
    summary = replay.run(spec, inputs, ctx)
    rows = read_rows(ctx.out / "data.jsonl")
    assert {r["id"]: r["response"] for r in rows} == {0: "<answer>1</answer>e2", 2: "<answer>3</answer>h1",
                                                     3: "<answer>4</answer>h6"}
    assert summary["per_run"] == {"rl1_1": 1, "rl1_2": 2, "rl1_3": 0}
    windowed = replay.run(spec.model_copy(update={"last_steps": 1}), inputs, ctx)
    assert windowed["per_run"] == {"rl1_1": 1, "rl1_2": 1, "rl1_3": 0}  # each run's window ends at its own last step


def test_replay_names_one_run_or_several() -> None:
    with pytest.raises(ValueError, match="one of them"):
        ReplayStage(id="r", kind="replay")
    with pytest.raises(ValueError, match="one of them"):
        ReplayStage(id="r", kind="replay", run="rl", runs=["rl2"])


def test_a_multi_turn_episode_teaches_its_last_attempt_not_the_feedback(tmp_path: Path, ctx: StageContext) -> None:
    episode = {**_rollout(1, 0, True), "completion": "<answer>0</answer>Your answer is incorrect.<answer>1</answer>",
               "attempts": 2, "allowed": 2, "first_right": 2,
               "turns": [{"by": "model", "text": "<answer>0</answer>", "right": False},
                         {"by": "task", "text": "<|im_start|>system\nYour answer is incorrect. ..."},
                         {"by": "model", "text": "<answer>1</answer>", "right": True}]}
    replay.run(_spec(), {"run": _run_folder(tmp_path, [episode])}, ctx)
    (row,) = read_rows(ctx.out / "data.jsonl")
    assert row["response"] == "<answer>1</answer>" and "incorrect" not in row["response"]
