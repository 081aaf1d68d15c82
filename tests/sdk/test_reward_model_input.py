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


@pytest.mark.parametrize(("config", "why"), [
    ({"architectures": ["Qwen2ForCausalLM"]}, "is a Qwen2ForCausalLM, not a sequence classifier: loaded as a "
     "reward model its score head would be random"),
    ({"architectures": ["Qwen2ForSequenceClassification"], "id2label": {"0": "bad", "1": "good"}},
     "has 2 outputs (num_labels); a reward model scores with one"),
])
def test_a_local_model_that_is_no_reward_model_is_refused_at_validate_where_it_is_named(write, tmp_path, config,
                                                                                         why):
    import json

    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "config.json").write_text(json.dumps(config))
    with pytest.raises(RecipeError) as info:
        api.compile(api.load(write(RECIPE.replace("{source: tiny:qwen2, seed: 1}", "./lm"))))
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path}/r.yaml:5:10: models.judge: reward model 'judge' of stage 'rl' {why} (give a "
        "sequence-classification model with one output (a reward model), e.g. Skywork-Reward-V2)"]
    (tmp_path / "lm" / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForSequenceClassification"],
                                                             "num_labels": 1}))
    assert api.compile(api.load(write(RECIPE.replace("{source: tiny:qwen2, seed: 1}", "./lm"))))


def test_plan_says_what_is_checked_of_a_hub_reward_model_when_its_stage_loads_it(write, tmp_path):
    import subprocess
    import sys

    path = write(RECIPE.replace("{source: tiny:qwen2, seed: 1}", "Skywork/Skywork-Reward-V2-Qwen3-0.6B"))
    done = subprocess.run([sys.executable, "-m", "sdk.cli", "plan", str(path), "--store", str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=tmp_path, env={"HF_HUB_OFFLINE": "1",
                                                                             "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert ("note: reward model 'judge' (Skywork/Skywork-Reward-V2-Qwen3-0.6B) is a hub model: rl check that it "
            "is a sequence classifier with one output when they load it") in done.stdout
