"""GRPO on the tiny model: trains and saves, keeps every rollout, custom rewards, resume, backend errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from schemas import Artifact, GrpoStage
from stages import _replay_buffer, grpo
from stages._checkpoints import resume_point
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._models import load_model
from stages._rewards import has_format

FIELDS = {"step", "id", "prompt", "completion", "reward", "correct", "answer", "finished", "completion_tokens"}


def _spec(**options) -> GrpoStage:
    base = {"id": "grpo", "kind": "grpo", "model": "m", "data": "d", "steps": 3, "prompts_per_step": 2,
            "generations": 2, "max_completion_tokens": 8, "lr": 1e-2, "backend": "transformers"}
    return GrpoStage(**{**base, **options})


def _weights(folder: str | Path) -> dict:
    return {k: v.clone() for k, v in load_model(folder).state_dict().items()}


def test_grpo_trains_saves_model_and_full_replay_buffer(tmp_path: Path, tiny_model: Artifact,
                                                        arithmetic_data: Artifact) -> None:
    ctx = StageContext(out=tmp_path, tracking={"backend": "tensorboard"})
    spec = _spec(reward={"format": 0.5, "custom": ["tests.stages.grpo_rewards:text_length"]})
    summary = grpo.run(spec, {"model": tiny_model, "data": arithmetic_data}, ctx)
    assert summary["steps"] == 3 and summary["rollouts"] == 3 * 2 * 2 and summary["resumed_from_step"] == 0
    assert summary["first_reward"] is not None and 1 <= summary["mean_completion_length"] <= 8
    rows = read_rows(tmp_path / "replay.jsonl")
    assert len(rows) == 12 and all(FIELDS <= set(r) for r in rows)
    assert sorted({r["step"] for r in rows}) == [1, 2, 3]
    assert all(sum(r["step"] == s for r in rows) == 4 for s in (1, 2, 3))
    ids = {r["id"] for r in read_rows(arithmetic_data.rows)}
    assert {r["id"] for r in rows} <= ids
    # text_length (weight 1) is the only reward a random model earns.
    assert any(r["reward"] > 0 for r in rows)
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert (tmp_path / "problems.jsonl").is_file()
    # No checkpoint after the last step (save_steps 25 does not fall on step 3): the model is written right after.
    assert resume_point(ctx.checkpoints) == (None, 0)
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    before, after = _weights(tiny_model.model), _weights(tmp_path / "model")
    assert any(not before[k].equal(after[k]) for k in before)


def test_resume_cuts_the_buffer_back_to_the_checkpoint(ctx: StageContext, tiny_model: Artifact,
                                                       arithmetic_data: Artifact) -> None:
    inputs = {"model": tiny_model, "data": arithmetic_data}
    grpo.run(_spec(steps=2, save_steps=2), inputs, ctx)  # as if killed before the commit
    stale = {"step": 3, "id": "x", "prompt": "p", "completion": "torn", "reward": 0, "correct": False}
    _replay_buffer.append(ctx.out / "replay.jsonl", [stale])  # generated after the checkpoint, then killed
    summary = grpo.run(_spec(steps=3, save_steps=2), inputs, ctx)
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 3
    rows = read_rows(ctx.out / "replay.jsonl")
    assert [r["step"] for r in rows] == [1] * 4 + [2] * 4 + [3] * 4
    assert "torn" not in {r["completion"] for r in rows}


def test_lora_grpo_merges_into_a_full_model(ctx: StageContext, tiny_model: Artifact,
                                            arithmetic_data: Artifact) -> None:
    spec = _spec(steps=1, lora={"r": 4, "target_modules": ["q_proj", "v_proj"]},
                 reward={"custom": ["tests.stages.grpo_rewards:text_length"]})
    grpo.run(spec, {"model": tiny_model, "data": arithmetic_data}, ctx)
    files = {p.name for p in (ctx.out / "model").iterdir()}
    assert "model.safetensors" in files and "adapter_config.json" not in files


def test_too_few_prompts_and_bad_custom_reward_are_stage_errors(ctx, tiny_model, arithmetic_data) -> None:
    inputs = {"model": tiny_model, "data": arithmetic_data}
    with pytest.raises(StageError, match="prompts_per_step is 8"):
        grpo.run(_spec(prompts_per_step=8), inputs, ctx)
    with pytest.raises(StageError, match="max_prompt_tokens"):
        grpo.run(_spec(max_prompt_tokens=2), inputs, ctx)
    with pytest.raises(StageError, match="no function 'nope'"):
        grpo.run(_spec(reward={"custom": ["tests.stages.grpo_rewards:nope"]}), inputs, ctx)
    with pytest.raises(StageError, match="cannot import module"):
        grpo.run(_spec(reward={"custom": ["no_such_module_x:f"]}), inputs, ctx)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_vllm_backend_without_vllm_names_the_extra(ctx, tiny_model, arithmetic_data) -> None:
    with pytest.raises(StageError, match=r"recipe\[vllm\].*`vllm` extra"):
        grpo.run(_spec(backend="vllm"), {"model": tiny_model, "data": arithmetic_data}, ctx)
    assert grpo.use_vllm(_spec(backend="auto")) is False


def test_format_reward_follows_the_rows_extractor() -> None:
    tagged, boxed = {"meta": {"extract": "answer_tag"}}, {"meta": {"extract": "boxed"}}
    assert has_format(tagged, "so <answer>4</answer>") == 1.0
    assert has_format(tagged, "so \\boxed{4}") == 0.0 and has_format(tagged, "<answer> </answer>") == 0.0
    assert has_format(boxed, "so \\boxed{4}") == 1.0 and has_format(boxed, "<answer>4</answer>") == 0.0


def test_torn_last_line_is_skipped_and_truncate_keeps_old_steps(tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    _replay_buffer.append(path, [{"step": s, "id": s} for s in (1, 2, 3)])
    with path.open("a") as handle:
        handle.write('{"step": 4, "id"')
    assert [r["step"] for r in _replay_buffer.read(path)] == [1, 2, 3]
    assert _replay_buffer.truncate(path, 2) == 2
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]


def _reward_model(folder: Path, tiny_model: Artifact) -> Artifact:
    """A tiny sequence-classification model on the tiny tokenizer whose score grows with the 'answer' token."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, Qwen2ForSequenceClassification

    config = AutoConfig.from_pretrained(tiny_model.model)
    config.num_labels = 1
    torch.manual_seed(0)
    model = Qwen2ForSequenceClassification(config)
    with torch.no_grad():
        model.score.weight.normal_(0, 5.0)  # large, varied scores: a reward the trainer must see
    model.save_pretrained(folder / "model")
    AutoTokenizer.from_pretrained(tiny_model.model).save_pretrained(folder / "model")
    return Artifact(type="model", path=str(folder))


def test_reward_model_reaches_the_trainer_and_moves_the_reward_curve(tmp_path: Path, tiny_model: Artifact,
                                                                     arithmetic_data: Artifact) -> None:
    rm = _reward_model(tmp_path / "rm", tiny_model)
    inputs = {"model": tiny_model, "data": arithmetic_data}
    for name in ("plain", "rm-run"):
        (tmp_path / name).mkdir()
    plain = grpo.run(_spec(steps=2, reward={"correct": 1.0}), inputs, StageContext(out=tmp_path / "plain"))
    spec = _spec(steps=2, reward={"correct": 1.0, "model": {"name": "rm", "weight": 1.0}})
    assert spec.reward_model == "rm" and dict(spec.INPUTS)["reward_model"] == "model"
    ctx = StageContext(out=tmp_path / "rm-run", tracking={"backend": "tensorboard"})
    scored = grpo.run(spec, {**inputs, "reward_model": rm}, ctx)
    assert plain["first_reward"] == 0 and plain["last_reward"] == 0  # a random model never answers right
    assert scored["first_reward"] != 0 and scored["last_reward"] != 0  # the reward model's scores count
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = next(p.parent for p in (ctx.out / "tensorboard").rglob("events.out.tfevents.*"))
    acc = EventAccumulator(str(run))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train/rewards/model/mean" in tags, tags
    assert any(abs(e.value) > 0 for e in acc.Scalars("train/rewards/model/mean"))


def test_a_causal_lm_given_as_reward_model_fails_at_load_not_with_a_random_head(tiny_model: Artifact) -> None:
    """A hub or outside model the plan could not read is checked when the stage loads it; a stored
    `tiny:` model (random, a stand-in in tests) is let through."""
    from stages._models import load_reward_model

    outside = Artifact(type="model", path=str(Path(tiny_model.model).parent.parent / "elsewhere"),
                       ref=tiny_model.model)
    with pytest.raises(StageError, match="is a Qwen2ForCausalLM, not a sequence classifier"):
        load_reward_model(outside)


def test_a_deterministic_grpo_stage_gives_the_same_weights_bit_for_bit(tmp_path: Path, tiny_model: Artifact,
                                                                      arithmetic_data: Artifact) -> None:
    inputs = {"model": tiny_model, "data": arithmetic_data}
    runs = []
    for name in ("first", "second"):
        ctx = StageContext(out=tmp_path / name)
        ctx.out.mkdir()
        spec = _spec(steps=2, deterministic=True, seed=3, reward={"custom": ["tests.stages.grpo_rewards:text_length"]})
        grpo.run(spec, inputs, ctx)  # text_length: rewards that differ within a group, so the weights move
        runs.append((_weights(ctx.out / "model"), read_rows(ctx.out / "replay.jsonl")))
    (first, first_rollouts), (second, second_rollouts) = runs
    assert all(first[k].equal(second[k]) for k in first)  # bitwise, not approximately
    assert [r["completion"] for r in first_rollouts] == [r["completion"] for r in second_rollouts]
    assert any(not first[k].equal(_weights(tiny_model.model)[k]) for k in first)  # and it did train
