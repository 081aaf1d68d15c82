"""A grpo reward model is an input like `model` and `data`: resolved, typed and located by the compiler."""

from __future__ import annotations

import pytest

from sdk import api
from sdk.errors import RecipeError

RECIPE = """
recipe: pipeline
name: rm
models:
  base: tiny:qwen2
  judge: {source: tiny:qwen2, seed: 1}
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 8, seed: 1}
stages:
  - {id: rl, kind: grpo, model: base, data: train, steps: 2, reward: {correct: 1.0, model: {name: judge, weight: 0.5}}}
"""


def test_reward_model_is_an_input_of_the_grpo_stage(write):
    plan = api.compile(api.load(write(RECIPE)))
    assert dict(plan["rl"].inputs) == {"model": "base", "data": "train", "reward_model": "judge"}
    assert "name" not in plan["rl"].payload["params"]["reward"]["model"]  # the input's fingerprint stands for it
    assert plan["rl"].payload["params"]["reward"]["model"]["weight"] == 0.5


def test_reward_model_shorthand_and_unknown_name_located(write, tmp_path):
    short = api.compile(api.load(write(RECIPE.replace("{name: judge, weight: 0.5}", "judge"))))
    assert dict(short["rl"].inputs)["reward_model"] == "judge"
    with pytest.raises(RecipeError) as info:
        api.compile(api.load(write(RECIPE.replace("name: judge", "name: jugde"))))
    assert str(info.value).startswith(f"{tmp_path}/r.yaml:9:92: stages.0.reward.model: no model, dataset or "
                                      "stage named 'jugde'")
