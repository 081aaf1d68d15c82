"""Validation errors name the file, line, column and field, with a did-you-mean where one fits."""

from __future__ import annotations

import pytest

from sdk import api
from sdk.errors import RecipeError


def errors_of(write, text: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        api.load(write(text))
    return [str(p) for p in info.value.problems]


def test_validate_suggests_field_for_misspelled_key(write, tmp_path):
    errs = errors_of(write, """
        recipe: pipeline
        name: x
        stages:
          - id: sft
            kind: sft
            model: base
            data: train
            lrr: 1e-5
    """)
    assert errs == [f"{tmp_path}/r.yaml:8:5: stages.0.lrr: unknown field 'lrr' (did you mean 'lr'?)"]


def test_validate_suggests_recipe_kind(write, tmp_path):
    errs = errors_of(write, "recipe: pipline\nname: x\nstages: []\n")
    assert errs == [f"{tmp_path}/r.yaml:1:9: recipe: unknown recipe 'pipline' (did you mean 'pipeline'?)"]


def test_validate_suggests_stage_kind(write, tmp_path):
    errs = errors_of(write, "recipe: pipeline\nname: x\nstages:\n  - {id: e, kind: evalute}\n")
    assert errs == [f"{tmp_path}/r.yaml:4:19: stages.0.kind: unknown kind 'evalute' (did you mean 'evaluate'?)"]


def test_validate_reports_missing_recipe_kind(write, tmp_path):
    assert errors_of(write, "name: x\n") == [
        f"{tmp_path}/r.yaml:1:1: missing 'recipe' (one of: pipeline, re-distill, cnl-inject, bai-merge, coscale-rl, "
        "cognition-attribution)"]


def test_validate_collects_every_problem_in_file_order(write, tmp_path):
    errs = errors_of(write, """
        recipe: pipeline
        name: x
        models:
          base: tiny:qwen3
        stages:
          - {id: sft, kind: sft, model: base, data: d, epochs: -1}
          - {id: ev, kind: evaluate, models: [base], data: d, samples: 4}
    """)
    assert [e.split(": ", 2)[:2] for e in errs] == [
        [f"{tmp_path}/r.yaml:4:9", "models.base.source"],
        [f"{tmp_path}/r.yaml:6:56", "stages.0.epochs"],
        [f"{tmp_path}/r.yaml:7:5", "stages.1"],
    ]
    assert "unknown tiny preset 'qwen3'" in errs[0]
    assert "samples > 1 needs temperature > 0" in errs[2]


def test_validate_reports_missing_required_field_at_its_parent(write, tmp_path):
    errs = errors_of(write, "recipe: pipeline\nname: x\nstages:\n  - {id: s, kind: sft, model: m}\n")
    assert errs == [f"{tmp_path}/r.yaml:4:5: stages.0: missing required field 'data'"]


def test_validate_rejects_bad_data_source(write, tmp_path):
    errs = errors_of(write, "recipe: pipeline\nname: x\ndata:\n  d: {source: csv}\nstages: []\n")
    assert errs[0].startswith(f"{tmp_path}/r.yaml:4:15: data.d.source: unknown source 'csv'")


def test_every_shipped_recipe_validates_and_plans(tmp_path):
    from pathlib import Path

    shipped = sorted(Path(__file__).resolve().parents[2].joinpath("recipes").glob("*.yaml"))
    assert shipped, "no recipes shipped"
    for path in shipped:
        plan = api.compile(api.load(path))
        assert plan.stages, path
        statuses = api.plan(plan, store=tmp_path / "store", runner="local")  # the cloud one reads no store
        assert {s.state for s in statuses} == {"new"}


def test_validate_refuses_processes_for_single_process_stages(write, tmp_path):
    errs = errors_of(write, "recipe: pipeline\nname: x\nstages:\n"
                            "  - {id: g, kind: generate, model: m, data: d, resources: {processes: 2}}\n")
    assert errs == [f"{tmp_path}/r.yaml:4:5: stages.0: generate stages run as one process; "
                    "only sft and grpo take resources.processes > 1"]


def test_validate_checks_trl_batch_constraints_at_the_stage(write, tmp_path):
    errs = errors_of(write, """
        recipe: pipeline
        name: x
        stages:
          - {id: s, kind: sft, model: m, data: d, batch_size: 6, resources: {processes: 4}}
          - {id: r, kind: grpo, model: m, data: d, prompts_per_step: 3, generations: 2, grad_accum: 4}
          - {id: r1, kind: grpo, model: m, data: d, generations: 1}
    """)
    assert errs == [
        f"{tmp_path}/r.yaml:4:5: stages.0: batch_size 6 must divide evenly over processes x num_nodes x grad_accum = 4",
        f"{tmp_path}/r.yaml:5:5: stages.1: prompts_per_step x generations = 6 completions per step must divide "
        "evenly over processes x num_nodes x grad_accum = 4",
        f"{tmp_path}/r.yaml:6:58: stages.2.generations: Input should be greater than or equal to 2",
    ]


ANCHORED = """
recipe: pipeline
name: anchors
common: &lr {lr: 1.0e-3}
models: {base: tiny:qwen2}
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 8}
stages:
  - {id: sft, kind: sft, model: base, data: train, target: answer, max_steps: 1, batch_size: 2, <<: *lr}
"""


def test_an_anchor_under_an_unknown_top_level_key_is_told_where_anchors_go(write):
    with pytest.raises(RecipeError) as err:
        api.load(write(ANCHORED))
    assert str(err.value).endswith(":3:1: common: unknown field 'common' (values shared between blocks, and the "
                                   "YAML anchors (&name) that hold them, go under `vars:`)")
    moved = ANCHORED.replace("common: &lr", "vars:\n  common: &lr")
    assert api.load(write(moved, "moved.yaml")).name == "anchors"


def test_validate_takes_the_store_plan_takes(write, tmp_path, capsys):
    from sdk.cli import main

    path = write(ANCHORED.replace("common: &lr", "vars:\n  common: &lr"))
    assert main(["validate", str(path), "--store", str(tmp_path / "runs")]) == 0
    assert "ok (pipeline recipe 'anchors', 3 stages)" in capsys.readouterr().out


def test_plan_prints_a_tiny_models_real_parameter_count(write, capsys):
    from sdk.cli import main

    path = write(ANCHORED.replace("common: &lr", "vars:\n  common: &lr"))
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    import re

    from sdk.fit.shapes import model_shape

    count = model_shape("tiny:qwen2").params
    assert 50_000 < count < 1_000_000 and f"{count:,} params (tiny:qwen2 preset)" in out and "0M params" not in out
    assert re.search(r"; [\d,]{7} params \(tiny:qwen2 preset\)", out)


@pytest.mark.parametrize(("recipe", "change", "expected"), [
    ("bai-merge-tiny.yaml", ("alpha: [0.0, 0.2, 0.6]", 'alpha: [0.0, "0.2", 0.6]'),
     "alpha.1: give a number, not the string '0.2' (numbers are never read from text; remove the quotes)"),
    ("cnl-inject-tiny.yaml", ("heldout: 0.5", 'heldout: "0.5"'),
     "heldout: give a number, not the string '0.5' (numbers are never read from text; remove the quotes)"),
    ("coscale-rl-tiny.yaml", ("iterations: 2", "iterations: true"), "iterations: give a whole number, not true"),
    ("quickstart.yaml", ("seed: 1", 'seed: "1"'), "seed: give a whole number, not the string '1' (numbers are "
     "never read from text; remove the quotes)"),
])
def test_numbers_are_strict_in_every_kind(tmp_path, recipe, change, expected):
    """`alpha: "0.5"` is an error at its line, never a silent conversion (one rule for the whole schema)."""
    import shutil
    from pathlib import Path

    root = shutil.copytree(Path(__file__).resolve().parents[2] / "recipes", tmp_path / "recipes")
    text = (root / recipe).read_text()
    assert change[0] in text
    lines = text.replace(change[0], change[1], 1)
    (root / recipe).write_text(lines)
    with pytest.raises(RecipeError) as info:
        api.load(root / recipe)
    line = lines[: lines.index(change[1])].count("\n") + 1
    (problem,) = info.value.problems
    assert problem.line == line and str(problem).split(": ", 1)[1].endswith(expected)
