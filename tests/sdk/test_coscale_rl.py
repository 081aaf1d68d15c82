"""The coscale-rl kind: iterations x groups in the plan, the k schedule, and iteration 1 cached when only
iteration 2 changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from schemas.coscale_rl import scheduled
from sdk import api
from sdk.errors import RecipeError
from tests.conftest import ROOT

TINY = ROOT / "recipes" / "coscale-rl-tiny.yaml"
PAPER = ROOT / "recipes" / "coscale-rl.yaml"
ITERATION = ["probe{i}", "pools{i}", "solutions{i}", "scale{i}", "rl{i}_1", "rl{i}_2", "replay{i}", "merge{i}"]


def test_k_schedule_gives_each_iteration_its_value_and_holds_the_last():
    assert [scheduled([1, 5, 10, 20], i) for i in range(1, 7)] == [1, 5, 10, 20, 20, 20]
    assert scheduled([3], 4) == 3
    with pytest.raises(ValueError):
        scheduled([1], 0)


def test_plan_is_iterations_by_groups_each_iteration_starting_from_the_last_merge():
    plan = api.compile(api.load(TINY))
    iterations = [s.format(i=i) for i in (1, 2) for s in ITERATION]
    assert plan.ids == ["base", "train", "test", *iterations, "plain_grpo", "eval"]
    assert dict(plan["probe1"].inputs)["model"] == "base" and dict(plan["probe2"].inputs)["model"] == "merge1"
    assert dict(plan["rl2_2"].inputs) == {"model": "scale2", "data": "pools2.group2"}
    assert dict(plan["replay2"].inputs) == {"runs.rl2_1": "rl2_1", "runs.rl2_2": "rl2_2"}
    assert dict(plan["merge2"].inputs) == {"model": "scale2", "data": "replay2"}
    assert dict(plan["pools2"].inputs) == {"data": "probe2", "previous": "pools1"}
    assert [plan["solutions1"].spec.k, plan["solutions2"].spec.k] == [1, 2]
    assert dict(plan["solutions2"].inputs) == {"data": "pools2.unsolvable", "earlier": "solutions1"}
    assert "earlier" not in dict(api.compile(api.load(TINY, ["solutions.accumulate=false"]))["solutions2"].inputs)
    assert [plan[f"rl1_{g}"].spec.generations for g in (1, 2)] == [2, 4]
    assert plan["eval"].spec.models == ["base", "plain_grpo", "merge1", "merge2"]
    assert all(plan[s].spec.if_empty == "pass" for s in ("scale1", "rl1_1", "rl1_2", "merge1"))


def test_the_plain_grpo_arm_trains_the_base_on_every_problem_with_rl_settings_and_the_arm_budget():
    """Same problems, same GRPO settings, a fixed N, and steps that spend the rollout budget; no baseline: no stage."""
    plan = api.compile(api.load(TINY))
    grpo, rl = plan["plain_grpo"].spec, plan["rl2_2"].spec
    assert dict(plan["plain_grpo"].inputs) == {"model": "base", "data": "train"}
    assert (grpo.generations, grpo.steps, grpo.prompts_per_step) == (4, 3, 1)  # 12 rollouts / (1 x 4)
    assert (grpo.lr, grpo.reward, grpo.max_completion_tokens) == (rl.lr, rl.reward, rl.max_completion_tokens)
    # Without `rollouts`: what the CoScale-RL arm plans, 2 iterations x 2 steps x 1 prompt x (2 + 4) = 24.
    assert api.compile(api.load(TINY, ["~baseline.rollouts"]))["plain_grpo"].spec.steps == 6
    assert api.compile(api.load(TINY, ["baseline.rollouts=13"]))["plain_grpo"].spec.steps == 4  # rounded up
    scaled = api.compile(api.load(TINY, ["rl.rollout_scaling={schedule: [4, 8]}"]))
    assert scaled["plain_grpo"].spec.rollout_scaling is None and scaled["rl2_2"].spec.rollout_scaling is not None
    without = api.compile(api.load(TINY, ["~baseline"]))
    assert "plain_grpo" not in without.ids and without["eval"].spec.models == ["base", "merge1", "merge2"]
    assert without["merge2"].key == plan["merge2"].key  # the arm changes nothing of CoScale-RL's


def test_a_baseline_budget_below_one_step_is_located(write):
    bad = write(TINY.read_text().replace("rollouts: 12", "rollouts: 3"))
    with pytest.raises(RecipeError, match=r"r.yaml:\d+:\d+: baseline.rollouts: 3 rollouts are less than one step "
                                          r"of prompts_per_step x N = 1 x 4 = 4"):
        api.compile(api.load(bad))


@pytest.mark.parametrize("groups, iterations", [(1, 1), (3, 2), (4, 3)])
def test_plan_shape_follows_iterations_and_groups(groups, iterations):
    plan = api.compile(api.load(TINY, [f"pools.groups={groups}", f"iterations={iterations}", "~rl.group_generations",
                                       "rl.generations=2"]))
    rl = [s for s in plan.ids if s.startswith("rl")]
    assert rl == [f"rl{i}_{g}" for i in range(1, iterations + 1) for g in range(1, groups + 1)]
    assert len(plan["pools1"].outputs) == 4 + groups


def test_changing_only_iteration_2_keeps_every_iteration_1_stage_from_plan_json():
    def fingerprints(*overrides: str) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-m", "sdk.cli", "plan", "--json", str(TINY), *overrides],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True).stdout
        return {s["id"]: s["fingerprint"] for s in json.loads(out)["stages"]}

    before, after = fingerprints(), fingerprints("solutions.k.1=3")
    changed = sorted(s for s in before if before[s] != after[s])
    assert changed == sorted([*(s.format(i=2) for s in ITERATION[1:]), "eval"])
    first = ["base", "train", "test", *(s.format(i=1) for s in ITERATION)]
    assert [before[s] for s in first] == [after[s] for s in first]


def test_with_reprobe_the_groups_come_from_a_second_partition_after_data_scaling():
    plan = api.compile(api.load(TINY, ["pools.reprobe=true"]))
    assert plan.ids.index("reprobe1") == plan.ids.index("scale1") + 1
    assert dict(plan["reprobe1"].inputs) == {"model": "scale1", "data": "train"}
    assert dict(plan["repools1"].inputs) == {"data": "reprobe1", "previous": "pools1"}
    assert plan["repools1"].spec.spend == 0 and plan["pools1"].spec.spend == 1
    assert dict(plan["rl1_1"].inputs)["data"] == "repools1.group1"
    assert dict(plan["pools2"].inputs)["previous"] == "repools1"


def test_teacher_solutions_are_generated_then_filtered_then_capped(write):
    text = TINY.read_text().replace("base: smollm2-135m", "base: smollm2-135m\n  teacher: tiny:qwen2").replace(
        'solutions: {field: answer, template: "<answer>{solution}</answer>", k: [1, 2]}',
        "solutions: {teacher: {model: teacher, n: 4, max_new_tokens: 16}, k: [1, 2]}")
    plan = api.compile(api.load(write(text)))
    assert dict(plan["teacher1"].inputs) == {"model": "teacher", "data": "pools1.unsolvable"}
    assert plan["correct1"].spec.dedupe is False and dict(plan["solutions1"].inputs) == {"data": "correct1"}
    assert plan["solutions1"].spec.field == "response"


def test_merge_into_the_iteration_start_skips_the_scaled_policy():
    plan = api.compile(api.load(TINY, ["merge.into=start"]))
    assert dict(plan["merge1"].inputs)["model"] == "base" and dict(plan["merge2"].inputs)["model"] == "merge1"


def test_wiring_written_by_hand_is_located(write):
    bad = write(TINY.read_text().replace("rl:\n  steps: 2", "rl:\n  model: base\n  steps: 2"))
    with pytest.raises(RecipeError, match=r"r.yaml:\d+:\d+: rl.model: coscale-rl wires `model` itself"):
        api.compile(api.load(bad))


def test_one_rollout_count_per_group_is_required(write):
    bad = write(TINY.read_text().replace("group_generations: [2, 4]", "group_generations: [2, 4, 8]"))
    with pytest.raises(RecipeError, match="3 rollout counts for 2 groups"):
        api.compile(api.load(bad))


def test_group_rollout_counts_are_checked_per_group_not_against_the_unused_generations(write):
    """The block's own `generations` (default 8) is unused when groups have their own N: a schedule that ends at 8
    is fine for groups of 2 and 4, and a batch that does not divide is reported for the group, located."""
    scaled = write(TINY.read_text().replace("group_generations: [2, 4]",
                                            "group_generations: [2, 4]\n  rollout_scaling: {schedule: [2, 4, 8]}"))
    plan = api.compile(api.load(scaled))
    assert [plan[f"rl1_{g}"].spec.generation_counts() for g in (1, 2)] == [[2, 4, 8], [4, 8]]
    bad = write(TINY.read_text().replace("prompts_per_step: 1", "prompts_per_step: 3\n  grad_accum: 4"))
    with pytest.raises(RecipeError, match=r"r.yaml:\d+:\d+: rl.group_generations: group 1 \(N = 2\): "
                                          r"prompts_per_step x generations = 6 completions per step must divide"):
        api.compile(api.load(bad))


def test_solutions_need_exactly_one_source(write):
    bad = write(TINY.read_text().replace("{field: answer, ", "{"))
    with pytest.raises(RecipeError, match="solutions: .*a `field` of the problem rows or a `teacher`"):
        api.compile(api.load(bad))


def test_expand_gives_a_pipeline_with_the_same_plan(tmp_path):
    expanded = tmp_path / "expanded.yaml"
    expanded.write_text(yaml.safe_dump(api.expand(api.load(TINY))))
    again, plan = api.compile(api.load(expanded)), api.compile(api.load(TINY))
    assert {s.id: s.fingerprint for s in again.stages} == {s.id: s.fingerprint for s in plan.stages}


def test_paper_recipe_keeps_the_paper_settings():
    plan = api.compile(api.load(PAPER))
    pools = plan["pools1"].spec
    assert (pools.unsolvable, pools.solved) == (0.05, 0.70)
    assert [plan[f"solutions{i}"].spec.k for i in (1, 2, 3)] == [1, 5, 10]
    assert len([s for s in plan.ids if s.startswith("merge")]) == 3
    assert plan["rl1_3"].spec.generations == 32 and plan["rl1_3"].spec.rollout_scaling.schedule == [8, 16, 32, 64]
    # Plain GRPO on the CoScale-RL arm's planned rollouts: 3 x 100 steps x 64 prompts x (8 + 16 + 32) at N = 16.
    assert (plan["plain_grpo"].spec.generations, plan["plain_grpo"].spec.steps) == (16, 1050)


def test_counts_the_recipe_cannot_mean_are_errors_and_ones_it_might_are_located_warnings(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tiny = root / "recipes" / "coscale-rl-tiny.yaml"
    with pytest.raises(RecipeError) as info:  # more difficulty groups than problems: nothing to put in them
        api.compile(api.load(tiny, ["pools.groups=20", "rl.group_generations=[]"]))
    assert [str(p) for p in info.value.problems] == [
        "override 'pools.groups=20': pools.groups: 20 difficulty groups for 16 problems in 'train': every group "
        "needs problems of its own"]
    shipped = api.compile(api.load(root / "recipes" / "coscale-rl.yaml"))  # 4 values of k, 3 iterations
    text = (root / "recipes" / "coscale-rl.yaml").read_text()
    line = text[: text.index("  k: [1, 5, 10, 20]")].count("\n") + 1
    assert shipped.warnings[0] == (
        f"{root}/recipes/coscale-rl.yaml:{line}:6: solutions.k: 4 values of k for 3 iterations: 20 is never used "
        "(one value per iteration; past the list's end its last value holds)")
    done = subprocess.run([sys.executable, "-m", "sdk.cli", "validate", str(root / "recipes" / "coscale-rl.yaml")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr.startswith(f"warning: {shipped.warnings[0]}")
    assert not api.compile(api.load(tiny)).warnings  # k: [1, 2] for 2 iterations


def test_the_budget_table_counts_each_arm_planned_and_sampled_rollouts(tmp_path):
    """Planned from the stages' params, sampled as their summaries count their replay buffers; an empty group
    samples none."""
    from sdk.report.pools import budget_line, budget_rows

    def stage(sid: str, steps: int, n: int, sampled: int) -> dict:
        folder = tmp_path / sid
        folder.mkdir()
        rows = [{"step": i // n, "id": "p", "reward": 0.0} for i in range(sampled)]
        (folder / "replay.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        params = {"steps": steps, "prompts_per_step": 1, "generations": n}
        return {"id": sid, "folder": folder, "manifest": {"kind": "grpo", "params": params, "fingerprint": sid,
                                                          "summary": {"rollouts": len(rows)}}}

    stages = [stage("rl1_1", 2, 2, 0), stage("rl2_1", 2, 2, 4), stage("rl2_2", 2, 4, 8), stage("plain_grpo", 3, 4, 12)]
    assert budget_rows(stages) == [["CoScale-RL", "3", "16", "12"], ["plain GRPO", "1", "12", "12"]]
    assert budget_line(stages) == "RL rollouts sampled: CoScale-RL 12 (planned 16), plain GRPO 12 (planned 12)"
    assert budget_rows(stages[:3]) == [] and budget_line(stages[:3]) is None  # no baseline arm
