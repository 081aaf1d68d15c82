"""The schedule is a pure function of the plan's shape and the limits."""

from __future__ import annotations

from typing import Any

import pytest

from sdk.plan import Plan, Stage
from sdk.run.schedule import levels, schedule


def _plan(edges: dict[str, list[str]]) -> Plan:
    """A plan with these stages (in this order), each fed by the stages listed (specs play no part)."""
    stages = tuple(Stage(sid, Any, tuple((f"in{i}", d) for i, d in enumerate(deps)), sid, {},  # type: ignore[arg-type]
                         needs=tuple(deps)) for sid, deps in edges.items())
    return Plan("shape", stages)


CHAIN = _plan({"a": [], "b": ["a"], "c": ["b"]})
FAN = _plan({"data": [], "sft[lr=1]": ["data"], "sft[lr=2]": ["data"], "sft[lr=3]": ["data"]})
DIAMOND = _plan({"data": [], "left": ["data"], "right": ["data"], "merge": ["left", "right"]})


def test_a_chain_runs_one_stage_at_a_time() -> None:
    assert schedule(CHAIN).waves == (("a",), ("b",), ("c",))
    assert levels(CHAIN) == {"a": 0, "b": 1, "c": 2}


def test_a_fan_out_of_three_runs_its_branches_together() -> None:
    s = schedule(FAN)
    assert s.waves == (("data",), ("sft[lr=1]", "sft[lr=2]", "sft[lr=3]"))
    hours = {"data": 0.0, "sft[lr=1]": 1.0, "sft[lr=2]": 2.0, "sft[lr=3]": 1.5}
    assert (s.sequential_hours(hours), s.parallel_hours(hours)) == (4.5, 2.0)


def test_a_diamond_waits_for_both_sides() -> None:
    assert schedule(DIAMOND).waves == (("data",), ("left", "right"), ("merge",))
    assert levels(DIAMOND)["merge"] == 2


def test_max_parallel_two_splits_a_level() -> None:
    s = schedule(FAN, max_parallel=2)
    assert s.waves == (("data",), ("sft[lr=1]", "sft[lr=2]"), ("sft[lr=3]",))
    assert s.widest == 2
    assert schedule(FAN, max_parallel=1).waves == tuple((sid,) for sid in FAN.ids)


def test_devices_are_never_oversubscribed() -> None:
    gpus = {"data": 0, "sft[lr=1]": 2, "sft[lr=2]": 2, "sft[lr=3]": 2}
    s = schedule(FAN, devices=4, need=lambda st: gpus[st.id])
    assert s.waves == (("data",), ("sft[lr=1]", "sft[lr=2]"), ("sft[lr=3]",))
    # a stage needing more than the machine has runs alone rather than never
    big = schedule(FAN, devices=1, need=lambda st: gpus[st.id])
    assert big.waves == (("data",), ("sft[lr=1]",), ("sft[lr=2]",), ("sft[lr=3]",))


def test_a_selection_schedules_only_the_selected_stages() -> None:
    assert schedule(DIAMOND, ["left", "right", "merge"]).waves == (("left", "right"), ("merge",))
    with pytest.raises(ValueError):
        schedule(CHAIN, max_parallel=0)
