"""GRPO rollout scaling on the tiny model: a stall raises N mid-run, the lr follows, a resume keeps the new N."""

from __future__ import annotations

import json

import pytest

from schemas import Artifact, GrpoStage
from stages import grpo
from stages._checkpoints import resume_point
from stages._context import StageContext
from stages._data import read_rows
from stages._grpo_scaling import STATE, Segment, set_lr, start
from stages.rollout_scaling import StepStats, step_stats

# A random tiny model never answers right: with only the verifier's reward, every group's rewards are equal
# (all 0), so zero-variance groups are 1.0 of every step and the detector fires after `window` steps.
SCALING = {"window": 1, "zero_std_fraction": 0.9, "min_reward_gain": None, "max_generations": 4}


def _spec(**options) -> GrpoStage:
    base = {"id": "grpo", "kind": "grpo", "model": "m", "data": "d", "steps": 3, "prompts_per_step": 2,
            "generations": 2, "max_completion_tokens": 8, "lr": 1e-2, "backend": "transformers"}
    return GrpoStage(**{**base, **options})


def _per_step(rows: list[dict]) -> dict[int, tuple[int, set]]:
    return {s.step: (s.rollouts, {r["generations"] for r in rows if r["step"] == s.step}) for s in step_stats(rows)}


def test_a_stall_raises_generations_and_the_lr_with_them(ctx: StageContext, tiny_model: Artifact,
                                                         arithmetic_data: Artifact) -> None:
    spec = _spec(rollout_scaling=SCALING, save_steps=3)  # a checkpoint at step 3 to read the lr from
    summary = grpo.run(spec, {"model": tiny_model, "data": arithmetic_data}, ctx)
    rows = read_rows(ctx.out / "replay.jsonl")
    assert _per_step(rows) == {1: (4, {2}), 2: (8, {4}), 3: (8, {4})}  # 2 prompts x N, N recorded per row
    assert summary["steps"] == 3 and summary["generations"] == 4 and summary["lr"] == pytest.approx(2e-2)
    (change,) = summary["generation_changes"]
    assert change["step"] == 1 and (change["from"], change["to"]) == (2, 4)
    assert change["reason"] == "zero-variance groups 1.00 >= 0.9 over the last 1 steps"
    assert summary["final_accuracy"] == 0.0 and summary["rollouts"] == 20
    logged = json.loads((ctx.checkpoints / "checkpoint-3" / "trainer_state.json").read_text())["log_history"]
    lrs = {entry["step"]: entry["learning_rate"] for entry in logged if "learning_rate" in entry}
    assert lrs[1] == pytest.approx(1e-2) and lrs[3] == pytest.approx(2e-2)  # what the optimizer really used
    assert json.loads((ctx.checkpoints / "checkpoint-1" / STATE).read_text())["generations"] == 4


def test_resume_after_a_raise_keeps_the_raised_generations(ctx: StageContext, tiny_model: Artifact,
                                                           arithmetic_data: Artifact) -> None:
    inputs = {"model": tiny_model, "data": arithmetic_data}
    scaling = {**SCALING, "scale_lr": False}
    grpo.run(_spec(steps=2, save_steps=2, rollout_scaling=scaling), inputs, ctx)  # as if killed after step 2's
    assert resume_point(ctx.checkpoints)[1] == 2
    summary = grpo.run(_spec(steps=3, rollout_scaling=scaling), inputs, ctx)
    assert summary["resumed_from_step"] == 2 and summary["generations"] == 4 and summary["lr"] == 1e-2
    assert [c["step"] for c in summary["generation_changes"]] == [1]
    assert _per_step(read_rows(ctx.out / "replay.jsonl")) == {1: (4, {2}), 2: (8, {4}), 3: (8, {4})}


def test_without_scaling_n_stays_and_rows_record_it(ctx: StageContext, tiny_model: Artifact,
                                                    arithmetic_data: Artifact) -> None:
    summary = grpo.run(_spec(steps=2), {"model": tiny_model, "data": arithmetic_data}, ctx)
    assert "generation_changes" not in summary
    assert _per_step(read_rows(ctx.out / "replay.jsonl")) == {1: (4, {2}), 2: (4, {2})}
    assert not list(ctx.checkpoints.glob(f"*/{STATE}"))


def test_segment_state_round_trips_and_a_stop_hands_on_the_next_n(tmp_path) -> None:
    spec = _spec(rollout_scaling=SCALING)
    assert start(spec, None) == Segment(2, 1e-2) and start(spec, tmp_path) == Segment(2, 1e-2)
    segment = Segment(2, 1e-2, [StepStats(1, 2, 4, 9, 1.0, 0.0)])
    (tmp_path / STATE).write_text(json.dumps(segment.to_json()))
    assert start(spec, tmp_path) == segment
    segment.stop = {"step": 1, "from": 2, "to": 4, "lr": 2e-2, "reason": "r"}
    (tmp_path / STATE).write_text(json.dumps(segment.to_json()))
    assert start(spec, tmp_path) == Segment(4, 2e-2, [], [segment.stop])


def test_set_lr_rescales_a_resumed_schedule() -> None:
    import torch
    from transformers import get_constant_schedule_with_warmup

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1e-3)
    schedule = get_constant_schedule_with_warmup(optimizer, num_warmup_steps=4)
    optimizer.step()
    schedule.step()  # a quarter into warmup: lr 2.5e-4
    set_lr(optimizer, schedule, 4e-3)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    for _ in range(5):
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(4e-3)


def test_a_multi_attempt_stage_scales_too_and_keeps_its_episodes(ctx: StageContext, tiny_model: Artifact,
                                                                  arithmetic_data: Artifact) -> None:
    """Episodes of a random model all score -1 (never an answer): zero-variance groups, so N is raised as
    for single completions; every buffer row keeps its turns, the task's feedback among them."""
    task = {"kind": "multi_attempt", "min_attempts": 2, "max_attempts": 2, "attempt_tokens": 4}
    spec = _spec(rollout_scaling=SCALING, task=task, max_completion_tokens=80, steps=2)  # the feedback: ~55 tokens
    summary = grpo.run(spec, {"model": tiny_model, "data": arithmetic_data}, ctx)
    rows = read_rows(ctx.out / "replay.jsonl")
    assert _per_step(rows) == {1: (4, {2}), 2: (8, {4})} and summary["generation_changes"][0]["to"] == 4
    assert all(r["reward"] == -1.0 and not r["correct"] and r["allowed"] == 2 for r in rows)
    assert all([t["by"] for t in r["turns"]] == ["model", "task", "model"] for r in rows)
    assert 1 <= summary["mean_completion_length"] <= 8  # TRL counts the model's tokens only (2 attempts of 4)
