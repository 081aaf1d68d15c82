"""Rollout scaling's pure parts: N_eff, step statistics, the stall detector, the N schedule and the lr."""

from __future__ import annotations

import doctest
import math

import pytest
from pydantic import ValidationError

from schemas import rollout_scaling as rollout_scaling_schema
from schemas.rollout_scaling import RolloutScaling
from stages import rollout_scaling
from stages.rollout_scaling import (
    StepStats,
    effective_rollouts,
    group_effective_rollouts,
    scaled_lr,
    stall_reason,
    step_stats,
)


def test_effective_rollouts_is_zero_when_every_reward_is_equal() -> None:
    for n in (1, 2, 8, 64):
        assert effective_rollouts(n, 0.0) == 0.0
        assert effective_rollouts(n, 1.0) == 0.0


def test_effective_rollouts_at_even_odds() -> None:
    assert effective_rollouts(2, 0.5) == 1.0  # 2 x (1 - 1/4 - 1/4)
    assert effective_rollouts(8, 0.5) == 8 * (1 - 2 / 256) == 7.9375
    assert effective_rollouts(1, 0.5) == 0.0  # one rollout never differs from itself
    assert math.isclose(effective_rollouts(8, 0.1), 8 * (1 - 0.1**8 - 0.9**8))


@pytest.mark.parametrize("p", [0.01, 0.05, 0.3, 0.5, 0.9, 0.999])
def test_effective_rollouts_grows_with_n(p: float) -> None:
    values = [effective_rollouts(n, p) for n in range(1, 130)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert all(v <= n for v, n in zip(values, range(1, 130), strict=False))


def test_effective_rollouts_is_small_for_hard_problems_and_refuses_bad_input() -> None:
    assert effective_rollouts(8, 0.01) < 0.7 < effective_rollouts(64, 0.01)
    with pytest.raises(ValueError, match="0 <= p <= 1"):
        effective_rollouts(8, 1.5)
    with pytest.raises(ValueError, match="n >= 1"):
        effective_rollouts(0, 0.5)
    assert group_effective_rollouts(4, [0.0, 0.5]) == (0.0 + 4 * (1 - 2 / 16)) / 2
    assert group_effective_rollouts(4, []) == 0.0


def _rows(step: int, rewards: dict[str, list[float]], n: int | None = None) -> list[dict]:
    return [{"step": step, "id": pid, "reward": r, "completion_tokens": 3, **({"generations": n} if n else {})}
            for pid, rs in rewards.items() for r in rs]


def test_step_stats_counts_zero_variance_groups_rollouts_and_tokens() -> None:
    rows = _rows(2, {"a": [1, 1], "b": [0, 1]}, n=2) + _rows(1, {"a": [0, 0], "b": [0, 0]}, n=2)
    one, two = step_stats(rows)
    assert one == StepStats(step=1, generations=2, rollouts=4, completion_tokens=12, zero_std=1.0, reward=0.0)
    assert two == StepStats(step=2, generations=2, rollouts=4, completion_tokens=12, zero_std=0.5, reward=0.75)
    assert step_stats(_rows(1, {"a": [0.5, 0.5]}))[0].generations is None  # an older buffer
    assert step_stats([]) == []


def _history(zero_std: list[float], rewards: list[float] | None = None) -> list[StepStats]:
    rewards = rewards or [0.0] * len(zero_std)
    return [StepStats(i + 1, 4, 8, 8, z, r) for i, (z, r) in enumerate(zip(zero_std, rewards, strict=True))]


def test_stall_fires_on_a_high_share_of_zero_variance_groups() -> None:
    rule = RolloutScaling(window=3, zero_std_fraction=0.6, min_reward_gain=None)
    assert stall_reason(_history([0.7, 0.6, 0.5]), rule) == ("zero-variance groups 0.60 >= 0.6 over the "
                                                            "last 3 steps")
    assert stall_reason(_history([0.7, 0.6, 0.4]), rule) is None  # mean 0.57
    assert stall_reason(_history([1.0, 1.0]), rule) is None  # fewer steps than the window
    assert stall_reason(_history([1.0, 0.0, 0.0, 0.0]), rule) is None  # only the last window counts


def test_stall_fires_on_a_flat_reward_and_not_on_a_rising_one() -> None:
    rule = RolloutScaling(window=2, zero_std_fraction=None, min_reward_gain=0.05)
    zeros = [0.0] * 4
    assert stall_reason(_history(zeros, [0.30, 0.32, 0.33, 0.31]), rule).startswith("mean reward rose 0.0100")
    assert stall_reason(_history(zeros, [0.1, 0.2, 0.3, 0.4]), rule) is None  # rose 0.2
    assert stall_reason(_history(zeros, [0.5, 0.4, 0.2, 0.1]), rule) is not None  # falling is not progress
    assert stall_reason(_history(zeros[:3], [0.3, 0.3, 0.3]), rule) is None  # needs two windows


def test_rule_needs_a_signal_and_a_rising_schedule() -> None:
    with pytest.raises(ValidationError, match="nothing can detect a stall"):
        RolloutScaling(zero_std_fraction=None, min_reward_gain=None)
    with pytest.raises(ValidationError, match="schedule must rise"):
        RolloutScaling(schedule=[8, 8, 16])
    with pytest.raises(ValidationError, match="schedule must rise"):
        RolloutScaling(schedule=[1, 4])


def test_next_generations_by_factor_and_by_schedule_stop_at_the_cap() -> None:
    assert RolloutScaling(max_generations=32).ladder(4) == [4, 8, 16, 32]
    assert RolloutScaling(factor=1.5, max_generations=20).ladder(6) == [6, 9, 14, 20]
    assert RolloutScaling(schedule=[8, 16, 32, 64], max_generations=40).ladder(8) == [8, 16, 32, 40]
    assert RolloutScaling(schedule=[8, 16, 32]).ladder(10) == [10, 16, 32]
    assert RolloutScaling().next_generations(64) is None
    assert RolloutScaling(schedule=[8, 16, 32], max_generations=64).next_generations(32) is None
    assert RolloutScaling(max_generations=64).next_generations(100) is None


def test_scaled_lr_keeps_lr_over_n_constant_only_when_asked() -> None:
    assert scaled_lr(1e-6, 8, 32, RolloutScaling()) == pytest.approx(4e-6)
    assert scaled_lr(1e-6, 8, 32, RolloutScaling(scale_lr=False)) == 1e-6
    assert scaled_lr(2e-6, 8, 8, RolloutScaling()) == 2e-6


def test_docstring_examples_hold() -> None:
    for module in (rollout_scaling, rollout_scaling_schema):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


def _grpo(**options):
    from schemas import GrpoStage

    base = {"id": "rl", "kind": "grpo", "model": "m", "data": "d", "prompts_per_step": 3, "generations": 2}
    return GrpoStage(**{**base, **options})


def test_grpo_batch_must_divide_over_processes_at_every_n_it_may_reach() -> None:
    _grpo(resources={"processes": 2}, rollout_scaling={"schedule": [4, 8]})
    with pytest.raises(ValidationError, match=r"= 9 completions per step \(generations raised to 3 by "
                                              r"rollout_scaling\) must divide evenly"):
        _grpo(resources={"processes": 2}, rollout_scaling={"factor": 1.5, "max_generations": 3})
    assert _grpo(rollout_scaling={"max_generations": 16}).generation_counts() == [2, 4, 8, 16]
    assert _grpo().generation_counts() == [2]


def test_grpo_scaling_that_can_never_rise_is_an_error() -> None:
    with pytest.raises(ValidationError, match="can never raise generations 8: max_generations is 8"):
        _grpo(generations=8, rollout_scaling={"max_generations": 8})
    with pytest.raises(ValidationError, match="the schedule ends at 8"):
        _grpo(generations=8, rollout_scaling={"schedule": [4, 8]})


def test_grpo_fingerprint_leaves_out_rollout_scaling_only_when_unset() -> None:
    from sdk.plan import result_params

    assert "rollout_scaling" not in result_params(_grpo())
    assert result_params(_grpo(rollout_scaling={}))["rollout_scaling"]["window"] == 5
