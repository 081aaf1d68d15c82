"""An override (or a written value) that the compiled plan would silently ignore is an error that says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdk import api
from sdk.errors import RecipeError

ROOT = Path(__file__).resolve().parents[2]
RE_DISTILL = ROOT / "recipes" / "re-distill-tiny.yaml"

SWEPT = """
recipe: pipeline
name: swept
models:
  base: tiny:qwen2
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 32, seed: 1}
stages:
  - {id: sft, kind: sft, model: base, data: train, max_steps: 5, matrix: {lr: [1.0e-3, 1.0e-4]}}
"""


def error_of(path: Path, *overrides: str) -> str:
    with pytest.raises(RecipeError) as err:
        api.compile(api.load(path, list(overrides)))
    return str(err.value)


def test_overriding_a_field_the_matrix_sweeps_is_an_error(write):
    path = write(SWEPT)
    message = error_of(path, "stages.sft.lr=0.5")
    assert message.startswith("override 'stages.sft.lr=0.5': stages.0.lr: 'lr' is swept by this stage's matrix")
    assert "never take effect" in message
    written = write(SWEPT.replace("max_steps: 5,", "max_steps: 5, lr: 0.5,"), "written.yaml")
    assert error_of(written).startswith(f"{written}:8:")
    branches = [s.id for s in api.compile(api.load(path, ["stages.sft.matrix.lr=[0.5, 0.25]"])).stages]
    assert branches[-2:] == ["sft[lr=0.5]", "sft[lr=0.25]"]


@pytest.mark.parametrize(("override", "why"), [
    ("rl.model=xyz", "the RL starts from the cold-started model"),
    ("cold_start.model=xyz", "the cold start trains `base`"),
    ("redistill.sft.model=base", "the student is `student:`"),
    ("redistill.sft.data=warmup", "the student learns the samples"),
    ("followup_rl={data: train, model: xyz}", "the follow-up RL continues from the student"),
    ("rl.id=policy", "re-distill names its stages itself"),
])
def test_re_distill_wiring_fields_cannot_be_overridden(override, why):
    message = error_of(RE_DISTILL, override)
    assert message.startswith(f"override {override!r}: ") and why in message


def test_re_distill_knobs_still_take_effect():
    plan = api.compile(api.load(RE_DISTILL, ["rl.lr=0.002", "redistill.sft.max_steps=3"]))
    assert plan["rl"].spec.lr == 0.002 and plan["student"].spec.max_steps == 3
