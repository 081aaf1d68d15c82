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
    assert errors_of(write, "name: x\n") == [f"{tmp_path}/r.yaml:1:1: missing 'recipe' (one of: pipeline, re-distill)"]


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
        statuses = api.plan(plan, store=tmp_path / "store")
        assert {s.state for s in statuses} == {"new"}
