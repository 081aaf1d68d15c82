"""recipes/re-distill-small.yaml keeps the comparisons its README table rests on: the student and the
control learn from a fresh base with the same settings and the same N; `redistill.select=sample_effect`
changes only what comes after the RL run; the harder RL/test problems and the easy teacher data."""

from __future__ import annotations

from pathlib import Path

from sdk import api

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "recipes" / "re-distill-small.yaml"


def stages_of(*overrides: str) -> dict:
    return {s.id: s for s in api.compile(api.load(SMALL, list(overrides))).stages}


def test_small_recipe_compares_every_model_with_a_same_n_control() -> None:
    stages = stages_of()
    student, control = stages["student"].spec, stages["control"].spec
    assert dict(stages["student"].inputs) == {"model": "base", "data": "correct"}  # a fresh base
    assert dict(stages["control"].inputs) == {"model": "base", "data": "control_data"}
    assert (stages["control_data"].spec.data, stages["control_data"].spec.like) == ("warmup", "correct")
    same = ("lr", "epochs", "max_steps", "batch_size", "max_length", "scheduler", "seed")
    assert {f: getattr(control, f) for f in same} == {f: getattr(student, f) for f in same}
    assert stages["eval"].spec.models == ["base", "cold_start", "rl", "student", "control"]
    rl, red = stages["rl"].spec, stages["correct"].spec
    # N is below the number of prompts RL answers, so random-N and top-N by sample effect can differ
    assert red.max_rows is not None and red.max_rows < rl.steps * rl.prompts_per_step
    assert stages["samples"].spec.last_steps == rl.steps  # the whole replay buffer is the pool


def test_small_recipe_teacher_data_is_easier_than_the_rl_and_test_problems() -> None:
    data = api.compile(api.load(SMALL)).recipe.data
    warmup, train, test = data["warmup"], data["train"], data["test"]
    assert warmup.config["max_digits"] == 1 and train.config["max_digits"] == test.config["max_digits"] == 2
    assert train.config == test.config and train.seed != test.seed


def test_sample_effect_selection_reuses_the_rl_run_and_keeps_the_same_n() -> None:
    random, ranked = stages_of(), stages_of("redistill.select=sample_effect")
    for upstream in ("base", "warmup", "train", "test", "cold_start", "rl", "samples"):
        assert ranked[upstream].fingerprint == random[upstream].fingerprint, upstream
    assert ranked["selected"].spec.keep == random["correct"].spec.max_rows
    assert dict(ranked["student"].inputs)["data"] == "selected"
    assert ranked["student"].spec == random["student"].spec.model_copy(update={"data": "selected"})


def test_small_recipe_reuses_the_quickstarts_base_and_cold_start() -> None:
    quick = {s.id: s.fingerprint for s in api.compile(api.load(ROOT / "recipes" / "quickstart.yaml")).stages}
    small = stages_of()
    assert small["cold_start"].fingerprint == quick["cold_start"]
    assert small["base"].fingerprint == quick["base"]
