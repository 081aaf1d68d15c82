"""What the training stages hand TRL for a GPU run, checked without a GPU: the configs they build on the
installed transformers (5.23 in the main venv, 5.17 in the node-stack venv of .ci/vllm-cpu.sh), vLLM's
settings, the engine's size across rollout_scaling, the memory freed between segments, the batch split."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from schemas import Artifact, GrpoStage, SftStage
from stages import _grpo_scaling, grpo, sft
from stages._context import StageContext, StageError
from stages._data import read_rows


def _grpo(**options: Any) -> GrpoStage:
    base = {"id": "rl", "kind": "grpo", "model": "m", "data": "d", "steps": 3, "prompts_per_step": 2,
            "generations": 2, "max_completion_tokens": 8, "lr": 1e-2, "backend": "transformers"}
    return GrpoStage(**{**base, **options})


@pytest.mark.parametrize("enabled", [True, False])
def test_both_configs_build_on_this_transformers_with_checkpointing_as_asked(tmp_path: Path, enabled: bool) -> None:
    """transformers 5.17 (what vLLM 0.31 lets GPU nodes have) refuses `activation_checkpointing=`."""
    ctx = StageContext(out=tmp_path)
    spec = SftStage(id="s", kind="sft", model="m", data="d", activation_checkpointing=enabled)
    sft_config = sft._config(spec, ctx, assistant_only=False)
    grpo_config = grpo._config(_grpo(activation_checkpointing=enabled), ctx, False, [1.0], [0], 2, 1e-2, 10)
    for config in (sft_config, grpo_config):
        assert config.gradient_checkpointing is enabled  # the name both versions keep (5.23: mirrored)
        assert getattr(config, "activation_checkpointing", enabled) is enabled


def test_vllm_settings_and_context_reach_grpo_config(tmp_path: Path) -> None:
    ctx = StageContext(out=tmp_path)
    spec = _grpo(vllm={"gpu_memory_utilization": 0.45, "sleep": True, "tensor_parallel": 1}, max_completion_tokens=64)
    config = grpo._config(spec, ctx, True, [1.0], [7], 2, 1e-2, longest_prompt=37)
    assert (config.vllm_gpu_memory_utilization, config.vllm_enable_sleep_mode, config.vllm_tensor_parallel_size) == \
        (0.45, True, 1)
    assert config.vllm_mode == "colocate" and config.generation_kwargs == {"stop_token_ids": [7]}
    assert config.vllm_max_model_length == 37 + 64  # the longest prompt here, not the model's whole context
    capped = grpo._config(_grpo(max_prompt_tokens=20, max_completion_tokens=64), ctx, True, [1.0], [7], 2, 1e-2, 37)
    assert capped.vllm_max_model_length == 20 + 64
    assert grpo._config(_grpo(), ctx, False, [1.0], [7], 2, 1e-2, 37).vllm_gpu_memory_utilization == 0.3  # TRL's


def test_vllm_settings_are_validated_and_stay_out_of_the_fingerprint() -> None:
    from sdk.plan import result_params

    assert "vllm" not in result_params(_grpo(vllm={"gpu_memory_utilization": 0.5, "sleep": True}))
    assert result_params(_grpo(vllm={"sleep": True})) == result_params(_grpo())
    with pytest.raises(ValueError, match="tensor_parallel 3 must divide"):
        _grpo(vllm={"tensor_parallel": 3}, resources={"processes": 4}, prompts_per_step=4)
    with pytest.raises(ValueError, match="less than 1"):
        _grpo(vllm={"gpu_memory_utilization": 1.5})


def test_the_train_rows_report_the_longest_prompt(tiny_model: Artifact, arithmetic_data: Artifact) -> None:
    from stages._chat import prompt_text
    from stages._models import load_tokenizer

    tokenizer = load_tokenizer(tiny_model, padding_side="left")
    rows = read_rows(arithmetic_data.rows)
    _, dropped, longest = grpo.train_rows(_grpo(), rows, tokenizer)
    lengths = [len(tokenizer(prompt_text(tokenizer, r), add_special_tokens=False)["input_ids"]) for r in rows]
    assert dropped == 0 and longest == max(lengths)
    kept, dropped, longest = grpo.train_rows(_grpo(max_prompt_tokens=min(lengths)), rows, tokenizer)
    assert longest == min(lengths) and dropped == sum(n > min(lengths) for n in lengths)
    assert len(kept) == len(rows) - dropped


def test_the_per_device_batch_is_never_floored() -> None:
    spec = _grpo(prompts_per_step=8, generations=4, grad_accum=2, resources={"processes": 4})
    assert grpo.per_device_batch(spec, 4, world=4) == 4
    with pytest.raises(StageError, match=r"32 completions per step do not divide over 3 processes x grad_accum 2.*"
                                         r"prompts_per_step, grad_accum or resources.processes"):
        grpo.per_device_batch(spec, 4, world=3)  # the launcher started another number of ranks than planned


def test_the_engine_is_sized_for_the_largest_n_and_later_segments_reuse_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRL sizes `max_num_seqs` from the first segment's N; after rollout_scaling raises N to 64 every step
    would generate in waves. The first engine gets room for the top of the ladder, the next segments get it."""
    from trl.trainer import grpo_trainer

    built: list[dict] = []

    class Engine:
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs)
            self.model, self.accelerator = kwargs["model"], kwargs["accelerator"]

    monkeypatch.setattr(grpo_trainer, "VLLMGeneration", Engine)
    spec = GrpoStage(id="rl", kind="grpo", model="m", data="d", prompts_per_step=64, generations=8, grad_accum=64,
                     rollout_scaling={"schedule": [8, 16, 32, 64]}, resources={"processes": 8})
    size = grpo.engine_batch(spec, world=8)
    assert size == 64 * 64 // (8 * 64) * 64  # per-device micro-batch at N=64, x steps per generation
    trl_size = 64 * 8 // (8 * 64) * 64  # what TRL would ask for at N=8
    with _grpo_scaling.vllm_engine(None, size):
        first = grpo_trainer.VLLMGeneration(model="m1", accelerator="a1", max_num_seqs=trl_size)
    assert built[-1]["max_num_seqs"] == size == 8 * trl_size
    with _grpo_scaling.vllm_engine(first, size):
        again = grpo_trainer.VLLMGeneration(model="m2", accelerator="a2", max_num_seqs=trl_size * 2)
    assert again is first and len(built) == 1 and (first.model, first.accelerator) == ("m2", "a2")
    assert grpo_trainer.VLLMGeneration is Engine  # put back


def test_the_old_policy_is_gone_before_the_next_segment_builds_its_model(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """At a raise of N, the finished trainer's model (held by it, its accelerator and the vLLM engine) is
    collected before the next segment loads its own: never two policies beside vLLM's reservation."""

    class Model:
        pass

    segments: list[weakref.ref] = []
    alive_at_build: list[bool] = []
    engines: list[Any] = []

    def fake_trainer(spec, inputs, ctx, train, rows, vllm, segment, rewards, engine, longest_prompt=0):
        gc.collect()
        alive_at_build.extend(ref() is not None for ref in segments)
        model = Model()
        segments.append(weakref.ref(model))
        engine = engine or SimpleNamespace(model=None, accelerator=None)
        engine.model, engine.accelerator = model, SimpleNamespace()
        engines.append(engine)
        first = len(segments) == 1

        def train(resume_from_checkpoint=None):
            if first:
                segment.stop = {"step": 1, "from": 2, "to": 4, "lr": 1e-2, "reason": "stalled"}

        trainer = SimpleNamespace(model=model, vllm_generation=engine, train=train,
                                  accelerator=SimpleNamespace(free_memory=lambda: None))
        return trainer, rewards

    monkeypatch.setattr(grpo, "_trainer", fake_trainer)
    spec = _grpo(rollout_scaling={"schedule": [2, 4]})
    ctx = StageContext(out=tmp_path / "out", checkpoint_dir=tmp_path / "checkpoints")
    trainer, _ = grpo._train_in_segments(spec, {}, ctx, [], [], True, None, 10)
    assert len(segments) == 2 and alive_at_build == [False]  # the first model was gone when the second was built
    assert engines[0] is engines[1] and trainer.vllm_generation.model is segments[1]()


def test_training_loads_the_weights_in_the_stage_dtype(tmp_path: Path, tiny_model: Artifact,
                                                       arithmetic_data: Artifact) -> None:
    """`dtype` decides what training holds (and what the fit check counts), not the checkpoint's dtype."""
    from safetensors import safe_open

    spec = SftStage(id="s", kind="sft", model="m", data="d", target="answer", max_steps=1, batch_size=2,
                    max_length=64, lr=1e-3, dtype="bfloat16")
    sft.run(spec, {"model": tiny_model, "data": arithmetic_data}, StageContext(out=tmp_path))
    with safe_open(str(tmp_path / "model" / "model.safetensors"), "pt") as f:
        dtypes = {str(f.get_slice(k).get_dtype()) for k in f.keys()}
    assert dtypes == {"BF16"}
    from sdk.plan import result_params

    assert "dtype" not in result_params(spec.model_copy(update={"dtype": "float32"}))  # the old default: caches stay
    assert result_params(spec)["dtype"] == "bfloat16"


def test_free_device_memory_collects_cycles() -> None:
    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the collector frees
    ref = weakref.ref(a)
    del a, b
    _grpo_scaling.free_device_memory()
    assert ref() is None


def test_max_grad_norm_reaches_both_trainers_and_the_fingerprint_only_when_set(tmp_path: Path) -> None:
    """TRL clips at 1.0 unless told; cnl-inject's first-order argument wants no clipping (0)."""
    from sdk.plan import result_params

    ctx = StageContext(out=tmp_path)
    for norm in (0.0, 0.5):
        spec = SftStage(id="s", kind="sft", model="m", data="d", max_grad_norm=norm)
        assert sft._config(spec, ctx, assistant_only=False).max_grad_norm == norm
        assert grpo._config(_grpo(max_grad_norm=norm), ctx, False, [1.0], [0], 2, 1e-2, 10).max_grad_norm == norm
        assert result_params(spec)["max_grad_norm"] == norm
    default = SftStage(id="s", kind="sft", model="m", data="d")
    assert sft._config(default, ctx, assistant_only=False).max_grad_norm == 1.0
    assert "max_grad_norm" not in result_params(default)  # the default ran before the field existed: caches stay
