"""A cloud plan's schedule: which tasks run together, wall time one after another vs at once, one cost."""

from __future__ import annotations

import json

from runners.skypilot import SkyPilot
from runners.skypilot.timeline import task_needs, timeline
from sdk import api

HOURS = {"train": 2, "again": 1, "wide": 3}


def _estimate(path):
    return api.plan(path, runner=SkyPilot(price=lambda machine: 2.0)).estimate


def test_independent_tasks_share_a_step_and_cut_the_wall_time_not_the_cost(recipe_file):
    est = _estimate(recipe_file(merge_stages=False, hours=HOURS))
    assert dict(task_needs(est)) == {"base": [], "rows": [], "keep": ["rows"], "train": ["base", "keep"],
                                     "again": ["keep"], "wide": ["again"]}
    t = timeline(est)
    assert t.schedule.waves == (("base", "rows"), ("keep",), ("train", "again"), ("wide",))
    assert (t.sequential_hours, t.parallel_hours) == (6, 5)
    assert t.cost == est.total  # the budget is checked against the sum over every task, parallel or not
    one = timeline(est, max_parallel=1)
    assert one.parallel_hours == one.sequential_hours == 6 and one.schedule.widest == 1


def test_plan_prints_the_schedule_and_max_parallel_caps_it(recipe_file, cli):
    runner = SkyPilot(price=lambda machine: 2.0)
    code, out = cli(runner, "plan", recipe_file(merge_stages=False, hours=HOURS))
    assert code == 0
    assert "schedule: 4 steps, up to 2 tasks at once; wall time 6 h one after another, 5 h with independent " \
           "tasks at once; cost $" in out
    assert "  3. train, again\n" in out
    code, out = cli(runner, "plan", recipe_file(merge_stages=False, hours=HOURS, max_parallel=1), "--json")
    schedule = json.loads(out)["schedule"]
    assert schedule["max_parallel"] == 1 and schedule["hours_parallel"] == 6 and len(schedule["steps"]) == 6
