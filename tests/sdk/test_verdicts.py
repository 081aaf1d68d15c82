"""The two BAI verdicts flag the curve shapes they name, and only those; a short run or a change within
the curve's own noise gets no verdict."""

from __future__ import annotations

import random

from sdk.report.verdicts import MIN_STEPS, length_collapse, reward_hockey_stick


def _series(values: list[float], stretch: int = 3) -> list[tuple[int, float]]:
    """Each value held for `stretch` steps (a run of 3x as many logged steps, same shape)."""
    return list(enumerate([v for v in values for _ in range(stretch)], start=1))


def test_length_collapse_when_length_falls_early_and_stays_low():
    verdict = length_collapse(_series([100, 90, 60, 40, 35, 30, 32, 31, 30, 33]))
    assert verdict.flagged and "length collapse: YES" in str(verdict)


def test_a_noisy_100_step_collapse_is_still_a_collapse():
    rng = random.Random(0)
    curve = [100 - 70 * min(1, i / 30) + rng.gauss(0, 4) for i in range(100)]
    assert length_collapse(list(enumerate(curve, 1))).flagged


def test_no_length_collapse_when_length_recovers_or_grows():
    assert not length_collapse(_series([100, 90, 60, 40, 50, 70, 90, 100, 105, 110])).flagged
    assert not length_collapse(_series([100, 104, 108, 115, 120, 130, 135, 140, 150, 160])).flagged


def test_no_length_collapse_when_the_fall_comes_late():
    assert not length_collapse(_series([100, 101, 99, 100, 102, 100, 98, 60, 40, 30])).flagged


def test_reward_hockey_stick_when_an_early_dip_recovers_slowly():
    dip = [0.5, 0.35, 0.2, 0.1]
    climb = [0.1 + 0.025 * i for i in range(1, 21)]  # 20 steps to climb back 0.5 after a 3-step fall
    verdict = reward_hockey_stick(_series(dip + climb, stretch=1))
    assert verdict.flagged and "reward hockey stick: YES" in str(verdict)


def test_no_hockey_stick_for_a_rising_reward_or_a_quick_bounce():
    assert not reward_hockey_stick(_series([0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.55, 0.6])).flagged
    assert not reward_hockey_stick(_series([0.5, 0.3, 0.5, 0.6, 0.65, 0.7, 0.7, 0.75, 0.8, 0.8])).flagged


def test_an_8_step_noisy_curve_is_too_short_to_judge():
    """The quickstart's 8-step GRPO run printed "reward hockey stick: YES" on noise."""
    rng = random.Random(1)
    flat = [(step, 0.5 + rng.uniform(-0.2, 0.2)) for step in range(1, 9)]
    for verdict in (length_collapse(flat), reward_hockey_stick(flat)):
        assert not verdict.flagged and "too few steps to judge (8 logged, 20 needed)" in verdict.detail
    assert MIN_STEPS == 20


def test_pure_noise_is_rarely_a_verdict_and_a_real_shape_still_is():
    """40 steps of noise around a flat reward: a hockey stick on at most 5% of 200 seeds (without the noise
    margin: 10%); a 100-step dip-and-slow-climb under the same kind of noise: flagged on nearly every seed."""
    false, true = 0, 0
    for seed in range(200):
        rng = random.Random(seed)
        false += reward_hockey_stick([(s, 0.5 + rng.gauss(0, 0.15)) for s in range(1, 41)]).flagged
        shape = [0.5 - 0.04 * i if i < 10 else 0.1 + 0.4 * (i - 10) / 60 for i in range(100)]
        true += reward_hockey_stick([(s, v + rng.gauss(0, 0.05)) for s, v in enumerate(shape, 1)]).flagged
    assert false <= 10 and true >= 190, (false, true)


def test_verdicts_say_when_there_is_too_little_to_judge():
    assert "too few steps" in str(length_collapse(_series([5.0], stretch=1)))
    assert "flat" in str(reward_hockey_stick(_series([0.0] * 25, stretch=1)))
