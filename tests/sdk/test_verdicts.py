"""The two BAI verdicts flag the curve shapes they name, and only those."""

from __future__ import annotations

from sdk.report.verdicts import length_collapse, reward_hockey_stick


def _series(values: list[float]) -> list[tuple[int, float]]:
    return list(enumerate(values, start=1))


def test_length_collapse_when_length_falls_early_and_stays_low():
    verdict = length_collapse(_series([100, 90, 60, 40, 35, 30, 32, 31, 30, 33]))
    assert verdict.flagged and "length collapse: YES" in str(verdict)


def test_no_length_collapse_when_length_recovers_or_grows():
    assert not length_collapse(_series([100, 90, 60, 40, 50, 70, 90, 100, 105, 110])).flagged
    assert not length_collapse(_series([100, 104, 108, 115, 120, 130, 135, 140, 150, 160])).flagged


def test_no_length_collapse_when_the_fall_comes_late():
    assert not length_collapse(_series([100, 101, 99, 100, 102, 100, 98, 60, 40, 30])).flagged


def test_reward_hockey_stick_when_an_early_dip_recovers_slowly():
    dip = [0.5, 0.35, 0.2, 0.1]
    climb = [0.1 + 0.025 * i for i in range(1, 21)]  # 20 steps to climb back 0.5 after a 3-step fall
    verdict = reward_hockey_stick(_series(dip + climb))
    assert verdict.flagged and "reward hockey stick: YES" in str(verdict)


def test_no_hockey_stick_for_a_rising_reward_or_a_quick_bounce():
    assert not reward_hockey_stick(_series([0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.55, 0.6])).flagged
    assert not reward_hockey_stick(_series([0.5, 0.3, 0.5, 0.6, 0.65, 0.7, 0.7, 0.75, 0.8, 0.8])).flagged


def test_verdicts_say_when_there_is_too_little_to_judge():
    assert "too few steps" in str(length_collapse(_series([5.0])))
    assert "flat" in str(reward_hockey_stick(_series([0.0, 0.0, 0.0])))
