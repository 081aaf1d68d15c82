"""Hints that help: did-you-mean from the block the key is in, names from everything declared, errors at
the line the user wrote, and recipes built in Python compiled like loaded ones (every kind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdk import api
from sdk.errors import RecipeError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))

ONE_STAGE = """
recipe: pipeline
name: x
models:
  base: tiny:qwen2
data:
  d: {source: reasoning_gym, task: basic_arithmetic, size: 8}
stages:
  - {id: s, kind: sft, model: %s, data: d%s}
"""


def problems(path: Path, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(RecipeError) as err:
        api.compile(api.load(path, overrides))
    return [str(p) for p in err.value.problems]


def test_a_field_of_another_stage_kind_is_named_as_such_never_suggested_as_itself(write, tmp_path):
    path = write(ONE_STAGE % ("base", ", steps: 3"))
    assert problems(path) == [f"{path}:8:46: stages.0.steps: unknown field 'steps' "
                              "(`steps` is a field of grpo, not of sft; did you mean 'max_steps'?)"]


def test_did_you_mean_comes_from_the_block_the_key_is_in(write):
    path = write(ONE_STAGE.replace("size: 8}", "size: 8, sed: 1}") % ("base", ""))
    assert problems(path) == [f"{path}:6:63: data.d.sed: unknown field 'sed' (did you mean 'seed'?)"]


def test_a_misspelled_model_is_suggested_from_every_declared_name(write):
    path = write(ONE_STAGE % ("bsae", ""))  # no stage uses `base`, so it is no source stage
    assert problems(path) == [f"{path}:8:31: stages.0.model: no model, dataset or stage named 'bsae' "
                              "(did you mean 'base'?)"]


def test_redistill_base_misspelled_is_reported_at_its_line(tmp_path):
    text = (ROOT / "recipes" / "re-distill-tiny.yaml").read_text()
    assert "\nbase: base\n" in text
    path = tmp_path / "r.yaml"
    path.write_text(text.replace("\nbase: base\n", "\nbase: bse\n"))
    line = text.split("\nbase: base\n")[0].count("\n") + 2
    assert problems(path) == [f"{path}:{line}:7: base: no model named 'bse' (did you mean 'base'?)"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_a_recipe_built_in_python_compiles_like_the_file(path, monkeypatch):
    loaded = api.load(path)
    monkeypatch.chdir(path.parent)  # a recipe built in Python finds its files from the working directory
    built = type(loaded).model_validate(loaded.model_dump(exclude_unset=True))
    assert getattr(built, "_source", None) is None
    assert [(s.id, s.fingerprint) for s in api.compile(built).stages] == \
        [(s.id, s.fingerprint) for s in api.compile(loaded).stages]


def test_a_recipe_built_in_python_gets_its_mistakes_as_recipe_errors(monkeypatch):
    path = ROOT / "recipes" / "re-distill-tiny.yaml"
    monkeypatch.chdir(path.parent)
    data = api.load(path).model_dump(exclude_unset=True)
    del data["rl"]["data"]
    built = type(api.load(path)).model_validate(data)
    with pytest.raises(RecipeError, match=r"^<recipe>:1:1: rl: rl needs `data`"):
        api.compile(built)
    data["base"] = "bse"
    with pytest.raises(RecipeError, match=r"base: no model named 'bse' \(did you mean 'base'\?\)"):
        api.compile(type(built).model_validate(data))


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("args", "expected"), [
    (("apply", "--only", "sfft", "--dry-run"), "no stage named 'sfft' in this plan (did you mean 'sft'?; stages: "),
    (("apply", "--until", "evl", "--dry-run"), "no stage named 'evl' in this plan (did you mean 'eval'?; stages: "),
    (("apply", "--force", "smple", "--dry-run"), "no stage named 'smple' in this plan (did you mean 'sample'?; "),
    (("validate", "stages.sfft.lr=1e-3"), "override 'stages.sfft.lr=1e-3': stages: no list item with id 'sfft' "
     "(did you mean 'sft'?)"),
    (("validate", "stages.sft.matrix.learning_rate=[1e-3]"), "override 'stages.sft.matrix.learning_rate=[1e-3]': "
     "stages.0.matrix.learning_rate: sft has no field 'learning_rate' (did you mean 'lr'?)"),
    (("validate", "stages.sft.learning_rate=1e-3"), "override 'stages.sft.learning_rate=1e-3': "
     "stages.0.learning_rate: unknown field 'learning_rate' (did you mean 'lr'?)"),
    (("validate", "stages.sft.num_generations=4"), "override 'stages.sft.num_generations=4': "
     "stages.0.num_generations: unknown field 'num_generations' (`num_generations` (here `generations`) is a "
     "field of grpo, not of sft)"),
])
def test_names_typed_on_the_command_line_get_the_same_did_you_mean(tmp_path, args, expected):
    import subprocess
    import sys

    command, *rest = args
    done = subprocess.run([sys.executable, "-m", "sdk.cli", command, str(ROOT / "recipes/pipeline-tiny.yaml"), *rest,
                           *(["--store", str(tmp_path)] if command == "apply" else [])],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {expected}"), done.stderr
