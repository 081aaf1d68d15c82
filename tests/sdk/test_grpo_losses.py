"""Every policy loss TRL's GRPOConfig implements, by its TRL name, from a recipe to the config; each loss's
own parameters refused on another loss; the new settings in the fingerprint only when set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas import GrpoStage
from sdk import api
from sdk.errors import RecipeError
from sdk.plan import result_params
from stages import grpo
from stages._context import StageContext

LOSSES: dict[str, dict[str, Any]] = {
    "grpo": {},
    "dapo": {"epsilon_high": 0.28, "mask_truncated_completions": True},
    "dr_grpo": {"scale_rewards": "none"},
    "bnpo": {},
    "cispo": {"epsilon_high": 5.0},
    "sapo": {"sapo_temperature_neg": 1.2, "sapo_temperature_pos": 0.9},
    "luspo": {"importance_sampling_level": "sequence"},
    "vespo": {"vespo_k_pos": 1.5, "vespo_lambda_pos": 2.5, "vespo_k_neg": 2.5, "vespo_lambda_neg": 1.5},
}
RECIPE = """
recipe: pipeline
name: losses
models: {{base: "tiny:qwen2"}}
data: {{train: {{source: reasoning_gym, task: basic_arithmetic, size: 8}}}}
stages:
  - {{id: rl, kind: grpo, model: base, data: train, steps: 2, prompts_per_step: 2, generations: 2, {fields}}}
"""


def _fields(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items())


@pytest.mark.parametrize("loss", list(LOSSES))
def test_each_loss_and_its_parameters_reach_trls_config(loss: str, write, tmp_path: Path) -> None:
    from trl import GRPOConfig

    options = {"loss_type": loss, **LOSSES[loss]}
    spec = api.compile(api.load(write(RECIPE.format(fields=_fields(options)))))["rl"].spec
    config = grpo._config(spec, StageContext(out=tmp_path), False, [1.0], [0], 2, 1e-2, 10)
    assert isinstance(config, GRPOConfig) and config.loss_type == loss
    for name, value in LOSSES[loss].items():
        assert getattr(config, name) == value, name


def test_gspo_is_grpo_with_sequence_ratios(write, tmp_path: Path) -> None:
    spec = api.compile(api.load(write(RECIPE.format(fields="importance_sampling_level: sequence"))))["rl"].spec
    config = grpo._config(spec, StageContext(out=tmp_path), False, [1.0], [0], 2, 1e-2, 10)
    assert (config.loss_type, config.importance_sampling_level) == ("grpo", "sequence")


def test_vespo_on_vllm_rollouts_uses_per_token_correction(tmp_path: Path) -> None:
    spec = GrpoStage(id="rl", kind="grpo", model="m", data="d", loss_type="vespo")
    assert grpo.loss_args(spec, vllm=True)["vllm_importance_sampling_mode"] == "token_truncate"
    assert "vllm_importance_sampling_mode" not in grpo.loss_args(spec, vllm=False)


@pytest.mark.parametrize(("fields", "message"), [
    ("sapo_temperature_neg: 1.2", "sapo_temperature_neg is a parameter of loss_type sapo, not of grpo"),
    ("loss_type: dapo, vespo_k_pos: 1.0", "vespo_k_pos is a parameter of loss_type vespo, not of dapo"),
    ("loss_type: luspo", "loss_type luspo is GSPO's sequence-level loss"),
    ("loss_type: vespo, importance_sampling_level: sequence", "loss_type vespo computes its sequence-level"),
    ("loss_type: dapo, importance_sampling_level: sequence", "GSPO is loss_type grpo with sequence ratios"),
    ("delta: 1.1", "delta 1.1 clips below 1 + epsilon (1.2)"),
    ("loss_type: ppo_clip", "Input should be 'grpo', 'dapo'"),
])
def test_a_setting_for_another_loss_is_a_located_error(fields: str, message: str, write, tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as info:
        api.load(write(RECIPE.format(fields=fields)))
    assert str(info.value).startswith(f"{tmp_path}/r.yaml:6:") and message in str(info.value)


def test_the_new_settings_change_a_fingerprint_only_when_set() -> None:
    plain = GrpoStage(id="rl", kind="grpo", model="m", data="d")
    assert not {"importance_sampling_level", "epsilon_high", "sapo_temperature_neg"} & set(result_params(plain))
    assert result_params(GrpoStage(id="rl", kind="grpo", model="m", data="d", scale_rewards="group")) == \
        result_params(plain)  # written as the default: the artifact cached before the field existed still fits
    dapo = GrpoStage(id="rl", kind="grpo", model="m", data="d", loss_type="dapo", epsilon_high=0.28)
    assert result_params(dapo)["epsilon_high"] == 0.28


def test_deterministic_reaches_the_trainer_and_refuses_vllm_rollouts(tmp_path: Path) -> None:
    spec = GrpoStage(id="rl", kind="grpo", model="m", data="d", deterministic=True, backend="auto")
    config = grpo._config(spec, StageContext(out=tmp_path), False, [1.0], [0], 2, 1e-2, 10)
    assert config.full_determinism is True and grpo.use_vllm(spec) is False  # auto: transformers rollouts
    assert result_params(spec)["deterministic"] is True
    assert "deterministic" not in result_params(GrpoStage(id="rl", kind="grpo", model="m", data="d"))
    with pytest.raises(ValueError, match="vLLM's rollouts are not reproducible bit for bit"):
        GrpoStage(id="rl", kind="grpo", model="m", data="d", deterministic=True, backend="vllm")
