"""`recipe plan --expand` prints a pipeline recipe that validates and compiles to the same stages, for
every shipped recipe (so for every recipe kind: the registry test makes each kind ship a tiny twin)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sdk import api

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_expanded_recipe_validates_and_compiles_to_the_same_fingerprints(path: Path, tmp_path: Path) -> None:
    """Written to another folder, with nothing beside it: local data paths come out absolute."""
    plan = api.compile(api.load(path))
    expanded = tmp_path / path.name
    expanded.write_text(yaml.safe_dump(api.expand(path), sort_keys=False))
    again = api.compile(api.load(expanded))
    assert again.recipe.recipe == "pipeline"
    assert {s.id: s.fingerprint for s in again.stages} == {s.id: s.fingerprint for s in plan.stages}
    assert (again.name, again.store, again.tracking) == (plan.name, plan.store, plan.tracking)


def test_re_distill_control_takes_the_students_row_count_at_run_time(tmp_path: Path) -> None:
    plan = api.compile(api.load(ROOT / "recipes" / "re-distill-tiny.yaml"))
    stages = {s.id: s for s in plan.stages}
    take, control, student = stages["control_data"].spec, stages["control"].spec, stages["student"].spec
    assert (take.kind, take.data, take.like) == ("take", "warmup", "correct")
    assert (control.model, control.data, control.target) == ("base", "control_data", "answer")
    same = ("lr", "max_steps", "batch_size", "max_length", "epochs", "scheduler")
    assert {f: getattr(control, f) for f in same} == {f: getattr(student, f) for f in same}
    assert "control" in stages["eval"].spec.models
    # the filtered samples are an input of the take: change them and the control is redone
    other = api.compile(api.load(ROOT / "recipes" / "re-distill-tiny.yaml", ["redistill.last_steps=2"]))
    redone = {s.id: s.fingerprint for s in other.stages}
    assert redone["control_data"] != stages["control_data"].fingerprint
    assert redone["control"] != stages["control"].fingerprint


def test_re_distill_control_without_data_or_cold_start_is_located(tmp_path: Path) -> None:
    from sdk.errors import RecipeError

    text = (ROOT / "recipes" / "re-distill-tiny.yaml").read_text()
    text = text.replace("cold_start: {", "# cold_start: {")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match="control needs `data`") as err:
        api.compile(api.load(path))
    assert "r.yaml:" in str(err.value)


def test_re_distill_sample_effect_ranks_all_correct_samples_then_keeps_the_top(tmp_path: Path) -> None:
    plan = api.compile(api.load(ROOT / "recipes" / "re-distill-tiny.yaml",
                                ["redistill.select=sample_effect", "redistill.samples=4"]))
    stages = {s.id: s.spec for s in plan.stages}
    ranked = stages["selected"]
    assert (ranked.kind, ranked.model, ranked.data, ranked.start, ranked.end, ranked.keep) == (
        "sample_effect", "base", "correct", "cold_start", "rl", 4)
    assert stages["correct"].max_rows is None  # every correct sample is a candidate
    assert (stages["student"].data, stages["control_data"].like) == ("selected", "selected")
