"""Rollout scaling, pure and torch-free: step statistics, the stall detector, the N schedule, N_eff.

CoScale-RL (METHODS.md section 2) gives a group of problems more rollouts per prompt (N) when its RL
stalls, and measures what N buys with the effective rollout count N_eff = N (1 - p^N - (1 - p)^N):
a prompt with pass rate p teaches something only when its N rewards differ, which happens with
probability 1 - p^N - (1 - p)^N. The GRPO stage (stages/grpo.py) calls these; so can a report, on
the rows of a replay buffer (`stages._replay_buffer`), whose rows carry `generations` (N) and whose
rows per step are that step's rollout count. The N schedule itself (`next_generations`, `ladder`) is
on `schemas.RolloutScaling`, where the plan checks every N a run may reach.

    >>> effective_rollouts(8, 0.5)
    7.9375
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from schemas.rollout_scaling import RolloutScaling

__all__ = ["StepStats", "effective_rollouts", "group_effective_rollouts", "scaled_lr", "stall_reason",
           "step_stats"]


class StepStats(NamedTuple):
    """What one optimizer step's rollouts were and earned."""

    step: int
    generations: int | None
    """N: completions per prompt (None in buffers written before it was recorded)."""
    rollouts: int
    """Completions generated for the step (prompts x N): the step's rollout compute."""
    completion_tokens: int
    """Tokens in those completions."""
    zero_std: float
    """Share of the step's prompts whose completions all got the same reward."""
    reward: float
    """Mean reward of the step's completions."""


def effective_rollouts(n: int, p: float) -> float:
    """N_eff = N (1 - p^N - (1 - p)^N): how many of N rollouts of a prompt with pass rate p carry signal.

    0 at p = 0 or 1 (every reward equal), largest at p = 0.5, and it never falls as N grows.
    """
    if n < 1 or not 0.0 <= p <= 1.0:
        raise ValueError(f"effective_rollouts needs n >= 1 and 0 <= p <= 1, got n={n}, p={p}")
    return n * (1.0 - p**n - (1.0 - p) ** n)


def group_effective_rollouts(n: int, pass_rates: Iterable[float]) -> float:
    """Mean N_eff over a group's problems (each with its own pass rate); 0 for an empty group."""
    rates = list(pass_rates)
    return sum(effective_rollouts(n, p) for p in rates) / len(rates) if rates else 0.0


def step_stats(rows: Iterable[Mapping[str, Any]]) -> list[StepStats]:
    """Per-step statistics of replay-buffer rows (`step`, `id`, `reward`, ...), in step order.

    A prompt's group is its rows with the same step and id; its rewards are equal when they span less
    than 1e-9 (TRL's `frac_reward_zero_std` uses a tolerance of the same order).
    """
    by_step: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_step[int(row["step"])].append(row)
    return [_stats(step, by_step[step]) for step in sorted(by_step)]


def _stats(step: int, rows: Sequence[Mapping[str, Any]]) -> StepStats:
    groups: dict[Any, list[float]] = defaultdict(list)
    for row in rows:
        groups[row.get("id")].append(float(row.get("reward") or 0.0))
    flat = sum(max(rewards) - min(rewards) < 1e-9 for rewards in groups.values())
    counts = {row["generations"] for row in rows if row.get("generations") is not None}
    return StepStats(step=step, generations=max(counts) if counts else None, rollouts=len(rows),
                     completion_tokens=sum(int(row.get("completion_tokens") or 0) for row in rows),
                     zero_std=flat / len(groups), reward=sum(r for g in groups.values() for r in g) / len(rows))


def stall_reason(history: Sequence[StepStats], rule: RolloutScaling) -> str | None:
    """Why the run has stalled, judged on `history` (the steps since N last changed), or None.

    >>> flat = [StepStats(s, 4, 8, 40, 0.75, 0.25) for s in range(1, 6)]
    >>> stall_reason(flat, RolloutScaling(window=5))
    'zero-variance groups 0.75 >= 0.5 over the last 5 steps'
    """
    window = rule.window
    if len(history) < window:
        return None
    last = history[-window:]
    if rule.zero_std_fraction is not None:
        share = sum(s.zero_std for s in last) / window
        if share >= rule.zero_std_fraction:
            return f"zero-variance groups {share:.2f} >= {rule.zero_std_fraction} over the last {window} steps"
    if rule.min_reward_gain is not None and len(history) >= 2 * window:
        before = history[-2 * window:-window]
        gain = (sum(s.reward for s in last) - sum(s.reward for s in before)) / window
        if gain < rule.min_reward_gain:
            return f"mean reward rose {gain:.4f} < {rule.min_reward_gain} over the last {window} steps"
    return None


def scaled_lr(lr: float, start: int, n: int, rule: RolloutScaling) -> float:
    """The learning rate at N = `n` for a run that began at N = `start` with `lr` (lr / N constant if asked)."""
    return lr * n / start if rule.scale_lr else lr
