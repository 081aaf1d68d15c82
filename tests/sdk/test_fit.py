"""The memory fit check: the arithmetic, the shapes it reads, and the paper recipe before/after its micro-batch fix."""

from __future__ import annotations

import json
import math

import pytest

from runners.skypilot import SkyPilot
from sdk import api
from sdk.cli import main
from sdk.errors import RecipeError
from sdk.fit.check import check, gpu_memory, locator
from sdk.fit.estimate import (
    CPU_TILE_COPIES,
    CPU_TILE_TOKENS,
    CPU_TILE_VOCAB,
    GB,
    LOGIT_BYTES,
    Setup,
    estimate,
    lora_params,
)
from sdk.fit.shapes import KNOWN_CONFIGS, Shape, from_config, model_shape
from tests.runners.conftest import ROOT

PAPER = str(ROOT / "recipes" / "re-distill.yaml")
SHAPE = Shape(hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, vocab=512, qkv_bias=True)


def test_param_counts_match_the_published_qwen_sizes() -> None:
    assert from_config(KNOWN_CONFIGS["Qwen/Qwen2.5-0.5B"], "").params == 494_032_768
    assert from_config(KNOWN_CONFIGS["Qwen/Qwen2.5-1.5B"], "").params == 1_543_714_304
    assert from_config(KNOWN_CONFIGS["smollm2-135m"], "").params == 134_515_008


@pytest.mark.parametrize("preset", ["qwen2", "qwen2-hd64", "llama"])
def test_tiny_shapes_match_the_built_models(tmp_path, preset) -> None:
    from stages._models import build_tiny
    from stages.model import _count_params

    build_tiny(preset, 0, tmp_path / "m")
    assert model_shape(f"tiny:{preset}").params == _count_params(tmp_path / "m")
    assert model_shape(str(tmp_path / "m")).params == _count_params(tmp_path / "m")


def test_model_states_per_strategy() -> None:
    p = SHAPE.params
    one = estimate(SHAPE, Setup("sft", 1, 8, 8)).parts
    assert (one["weights"], one["gradients"], one["optimizer"]) == (4 * p, 4 * p, 8 * p)
    ddp = estimate(SHAPE, Setup("sft", 1, 8, 8, world=8)).parts
    assert ddp["gradients"] == 8 * p and ddp["optimizer"] == 8 * p  # DDP buckets: a second gradient copy
    fsdp = estimate(SHAPE, Setup("sft", 1, 8, 8, world=8, strategy="fsdp")).parts
    assert fsdp["optimizer"] == p and fsdp["gradients"] == p / 2 and fsdp["weights"] < one["weights"]
    zero3 = estimate(SHAPE, Setup("sft", 1, 8, 8, world=8, strategy="deepspeed-zero3")).parts
    assert zero3["optimizer"] == p and zero3["gradients"] == 2 * p / 8
    lora = estimate(SHAPE, Setup("sft", 1, 8, 8, lora_params=lora_params(SHAPE, 8, "all-linear"))).parts
    assert lora["weights"] == 4 * p and lora["optimizer"] == 8 * lora_params(SHAPE, 8, "all-linear")


def test_optimizer_states_and_cnl_buffers_follow_the_sft_stage() -> None:
    from sdk.fit.check import setup_for

    p = SHAPE.params
    plan = api.compile(api.load(str(ROOT / "recipes" / "cnl-inject-tiny.yaml")))
    parts = {s.id: estimate(SHAPE, setup_for(s, SHAPE, None)[0]).parts for s in plan.stages if s.kind == "sft"}
    assert parts["sft"]["optimizer"] == 0 and "CNL buffers" not in parts["sft"]  # plain SGD keeps no state
    scratch = 4 * SHAPE.vocab * SHAPE.hidden  # one conflict test at a time, the embedding's size
    assert parts["cnl"]["CNL buffers"] == 4 * p + scratch  # SGD: g_M only (the gradient itself is masked)
    for optimizer, states, buffers in (("momentum", 1, 2), ("adamw", 2, 2)):  # update masking: + the step's start
        over = api.compile(api.load(str(ROOT / "recipes" / "cnl-inject-tiny.yaml"), [f"train.optimizer={optimizer}"]))
        cnl = estimate(SHAPE, setup_for(over["cnl"], SHAPE, None)[0]).parts
        assert (cnl["optimizer"], cnl["CNL buffers"]) == (4 * p * states, 4 * p * buffers + scratch), optimizer


def test_logits_and_activations_scale_with_the_micro_batch_and_checkpointing() -> None:
    est = estimate(SHAPE, Setup("sft", 4, 100, 100, bf16=True)).parts
    assert est["logits"] == 4 * 100 * 512 * LOGIT_BYTES["sft"][0]
    on = estimate(SHAPE, Setup("sft", 4, 1000, 1000, bf16=True, checkpointing=True)).parts["activations"]
    off = estimate(SHAPE, Setup("sft", 4, 1000, 1000, bf16=True, checkpointing=False)).parts["activations"]
    half = estimate(SHAPE, Setup("sft", 2, 1000, 1000, bf16=True, checkpointing=False)).parts["activations"]
    assert on < off and math.isclose(half, off / 2)
    grpo = estimate(SHAPE, Setup("grpo", 2, 1100, 1000, rollout_batch=8, vllm_bytes=24 * GB)).parts
    assert grpo["rollouts (vLLM)"] == 24 * GB and grpo["logits"] == 2 * 1000 * 512 * LOGIT_BYTES["grpo"][1]


def test_gpu_names_map_to_their_memory() -> None:
    assert gpu_memory("H100:8") == ("H100 (80 GB)", 80 * GB)
    assert gpu_memory("A100-80GB:4")[1] == 80 * GB and gpu_memory(None) == ("cpu", None)
    assert gpu_memory("XYZ:1")[1] is None


def test_the_paper_recipe_fits_80gb_per_gpu() -> None:
    recipe = api.load(PAPER)
    fits = {f.stage.id: f for f in api.fit(api.compile(recipe), lambda s: "H100:8")}
    assert set(fits) == {"rl", "student", "eval"}  # eval: vLLM on one GPU
    for fit in fits.values():
        assert fit.peak is not None and fit.peak < 80 * GB and not fit.over
    assert fits["rl"].estimate.parts["logits"] < 10 * GB


def test_the_paper_recipe_with_one_micro_batch_per_step_is_refused_at_its_knob(tmp_path, capsys) -> None:
    """Before the fix, 128 completions of 5,120 tokens went through one forward pass per GPU."""
    before = tmp_path / "re-distill.yaml"
    lines = open(PAPER).read().splitlines()
    before.write_text("\n".join(line for line in lines if line.strip() != "grad_accum: 64") + "\n")
    recipe = api.load(before)
    with pytest.raises(RecipeError) as err:
        check(api.fit(api.compile(recipe), lambda stage: "H100:8"), locator(recipe))
    line = next(i for i, text in enumerate(before.read_text().splitlines(), 1) if text.startswith("rl:"))
    message = str(err.value)
    assert message.startswith(f"{before}:{line + 1}:3: rl.grad_accum: needs ~723.7 GB per GPU (logits 477.9")
    assert "but the GPU, H100 (80 GB), has 80 GB: raise grad_accum (now 1)" in message
    assert main(["plan", PAPER, "rl.grad_accum=1"]) == 2
    out, err = capsys.readouterr()
    assert "memory: rl (grpo): ~723.7 GB per GPU of H100 (80 GB)" in out and "DOES NOT FIT" in out
    assert err.startswith("error: override 'rl.grad_accum=1': rl.grad_accum: needs ~723.7 GB")
    with pytest.raises(RecipeError, match="rl.grad_accum: needs ~723.7 GB"):
        api.apply(api.load(PAPER, ["rl.grad_accum=1"]), runner=SkyPilot(price=lambda m: 1.0), dry_run=True,
                  out=tmp_path / "tasks")
    assert not (tmp_path / "tasks").exists()


def test_plan_says_when_the_shape_is_unknown(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE" in model_shape("someone/unknown-model")


def test_a_half_precision_checkpoint_trains_in_its_dtype(tmp_path) -> None:
    """A bf16 config.json loaded with `dtype: auto` trains in bf16: 2 bytes per weight, gradient and Adam
    moment (measured on an H200: 0.5B Qwen2 states 3.05 GB in bf16, 6.0 GB in fp32; 494M params)."""
    config = {**KNOWN_CONFIGS["Qwen/Qwen2.5-0.5B"], "torch_dtype": "bfloat16"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    half, full = model_shape(str(tmp_path)), model_shape(str(tmp_path), dtype="float32")
    assert isinstance(half, Shape) and isinstance(full, Shape)
    assert (half.weight_bytes, full.weight_bytes) == (2, 4)
    states = lambda shape: sum(estimate(shape, Setup("sft", 1, 8, 8)).parts[k] for k in ("weights", "optimizer"))  # noqa: E731
    assert abs(states(half) / GB - 3.05) < 0.1 * 3.05 and abs(states(full) / GB - 6.0) < 0.1 * 6.0
    assert model_shape("Qwen/Qwen2.5-1.5B").weight_bytes == 2  # built-in copy carries the hub's dtype
    assert model_shape("tiny:qwen2").weight_bytes == 4 and model_shape("tiny:qwen2", dtype="bfloat16").weight_bytes == 2


def test_rollout_scaling_is_fitted_at_the_largest_n_it_may_reach() -> None:
    fixed = {f.stage.id: f for f in api.fit(api.compile(api.load(PAPER)), lambda s: "H100:8")}["rl"]
    raised = api.load(PAPER, ["rl.rollout_scaling={max_generations: 16}"])
    scaled = {f.stage.id: f for f in api.fit(api.compile(raised), lambda s: "H100:8")}["rl"]
    assert scaled.estimate.parts["logits"] == pytest.approx(2 * fixed.estimate.parts["logits"])


def test_cpu_logits_are_the_fused_heads_tiles_whatever_the_batch() -> None:
    """On CPU TRL's fused LM head scores small tiles (stages/_memory.py), not the whole [tokens x vocab]."""
    from stages import _memory

    assert (CPU_TILE_TOKENS, CPU_TILE_VOCAB, CPU_TILE_COPIES) == (
        _memory.TILE_TOKENS, _memory.TILE_VOCAB, _memory.TILE_COPIES)
    big = Shape(hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, vocab=49152)
    heads = 2 * 4 * 49152 * 576
    for micro, seq in ((8, 128), (64, 2048)):
        cpu = estimate(big, Setup("sft", micro, seq, seq, gpu=False)).parts["logits"]
        assert cpu == 8 * 1024 * 4096 * 4 + heads
        assert cpu < estimate(big, Setup("sft", micro, seq, seq)).parts["logits"]
    assert estimate(SHAPE, Setup("grpo", 2, 30, 10, gpu=False)).parts["logits"] == 8 * 60 * 512 * 4 + 8 * 512 * 64


MEASURED_QUICKSTART_RSS = {"rl": 2.82 * GB, "student": 2.79 * GB}
"""`/usr/bin/time -v` peaks of the quickstart's stage processes on CPU (SmolLM2-135M, fp32): GRPO 2 steps
with a checkpoint each, the student SFT 3 steps (their peaks come by step 2)."""


def test_the_cpu_rss_prediction_bounds_the_measured_quickstart_peaks() -> None:
    fits = {f.stage.id: f for f in api.fit(api.compile(api.load(str(ROOT / "recipes" / "quickstart.yaml"))),
                                           lambda s: None)}
    for stage, measured in MEASURED_QUICKSTART_RSS.items():
        assert fits[stage].device == "cpu" and measured < fits[stage].peak < 2 * measured


MEASURED_CNL_RSS = {"cnl": 2_682_000 * 1024, "sft": 1_732_000 * 1024}
"""Peak RSS (ru_maxrss, KiB) of cnl-inject-tiny's arms on CPU, SGD: `cnl` with g_M refreshed every step
(4 steps), `sft` unmasked (19 steps). Before the old g_M was freed ahead of each refresh, `cnl` peaked at
3.21e6 KiB."""


def test_the_cpu_rss_prediction_bounds_the_measured_cnl_peaks() -> None:
    plan = api.compile(api.load(str(ROOT / "recipes" / "cnl-inject-tiny.yaml"), ["cnl.ref_grad_every=1"]))
    fits = {f.stage.id: f for f in api.fit(plan, lambda s: None)}
    for stage, measured in MEASURED_CNL_RSS.items():
        assert fits[stage].device == "cpu" and measured < fits[stage].peak < 1.5 * measured, stage


SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_training_stage_of_every_shipped_recipe_is_estimated_and_fits(path, monkeypatch) -> None:
    """Through each recipe's own runner (a merged actor, a chained student, a reward model all followed back
    to a named model); the GPU recipes fit their GPUs, the tiny ones get a CPU prediction."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = api.load(path)
    runner = SkyPilot(price=lambda m: 1.0) if recipe.runner.kind == "skypilot" else None
    fits = api.plan(api.compile(recipe), runner=runner).memory
    plan = api.compile(recipe)
    training = {s.id for s in plan.stages if s.spec.DISTRIBUTED}
    assert training <= {f.stage.id for f in fits}
    for fit in fits:
        assert fit.peak is not None, fit.line()
        assert not fit.over, fit.line()
        if fit.stage.spec.DISTRIBUTED and recipe.runner.kind == "skypilot":
            assert fit.capacity == 80 * GB and fit.peak < 80 * GB


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_grpo_stage_splits_its_batch_evenly_at_every_n(path, monkeypatch) -> None:
    """The per-device batch at the stage's processes x nodes, for every N rollout_scaling may reach."""
    from stages.grpo import per_device_batch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for stage in api.compile(api.load(path)).stages:
        if stage.kind == "grpo":
            world = stage.spec.resources.processes * stage.spec.resources.num_nodes
            for n in stage.spec.generation_counts():
                assert per_device_batch(stage.spec, n, world) * world * stage.spec.grad_accum == \
                    stage.spec.prompts_per_step * n


def test_bai_merges_rl_branches_are_estimated_through_the_merges(monkeypatch) -> None:
    """Before: `memory not estimated: stage 'actor[alpha=0.1]' names no model input`, and with grad_accum 1
    it needed ~386 GB per GPU (64 completions per micro-batch)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = api.load(ROOT / "recipes" / "bai-merge.yaml")
    fits = {f.stage.id: f for f in api.fit(api.compile(recipe), lambda s: "H100:8")}
    rl = fits["rl[alpha=0.5]"]
    assert rl.estimate is not None and "1,544M params" in rl.note and "micro-batch 2 x (1024 + 4096)" in rl.note
    assert rl.estimate.parts["reward model"] == pytest.approx(4 * from_config(
        KNOWN_CONFIGS["Skywork/Skywork-Reward-V2-Qwen3-0.6B"], "").params)
    assert rl.estimate.parts["reference model"] == rl.estimate.parts["weights"]  # beta 0.001: TRL keeps one
    old = {f.stage.id: f for f in api.fit(api.compile(api.load(ROOT / "recipes" / "bai-merge.yaml",
                                                               ["rl.grad_accum=1"])), lambda s: "H100:8")}
    assert old["rl[alpha=0.5]"].over and old["rl[alpha=0.5]"].peak > 350 * GB


def test_training_counts_the_stage_dtype_not_the_checkpoints(monkeypatch) -> None:
    """Qwen2.5's checkpoints are bf16, but the stages train in float32 unless `dtype: bfloat16`: the
    estimate used to count 2 bytes per weight (re-distill's rl: 49.9 GB, against 65.3 with fp32 states)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fp32 = {f.stage.id: f for f in api.fit(api.compile(api.load(PAPER)), lambda s: "H100:8")}["rl"]
    bf16 = {f.stage.id: f for f in api.fit(api.compile(api.load(PAPER, ["rl.dtype=bfloat16"])),
                                           lambda s: "H100:8")}["rl"]
    params = from_config(KNOWN_CONFIGS["Qwen/Qwen2.5-1.5B"], "").params
    assert fp32.estimate.parts["weights"] == 4 * params and bf16.estimate.parts["weights"] == 2 * params
    assert fp32.estimate.parts["optimizer"] == 2 * 4 * params
    assert fp32.peak / GB == pytest.approx(65.3, abs=0.1) and bf16.peak < fp32.peak


def test_vllm_share_and_sleep_mode_change_the_grpo_estimate(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def rl(*overrides: str):
        return {f.stage.id: f for f in api.fit(api.compile(api.load(PAPER, list(overrides))),
                                               lambda s: "H100:8")}["rl"]

    base, wider, asleep = rl(), rl("rl.vllm.gpu_memory_utilization=0.5"), rl("rl.vllm.sleep=true")
    assert base.estimate.parts["rollouts (vLLM)"] == pytest.approx(0.3 * 80 * GB)
    assert wider.peak - base.peak == pytest.approx(0.2 * 80 * GB)
    parts = asleep.estimate.parts
    batch = parts["activations"] + parts["logits"]
    assert asleep.peak == pytest.approx(base.peak - batch - parts["rollouts (vLLM)"] + max(batch, 24 * GB))
    assert "asleep in the update" in asleep.line()


def test_a_32b_teacher_is_spread_over_its_gpus_and_its_kv_room_is_shown(monkeypatch) -> None:
    """coscale-rl's QwQ-32B teacher: on one H100 its 65.5 GB of weights leave ~6.5 GB of vLLM's 72 for KV
    cache; on H100:8 it runs as 4 engines of tensor parallel 2 with ~39 GB of KV cache per GPU."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plan = api.compile(api.load(ROOT / "recipes" / "coscale-rl.yaml"))
    eight = {f.stage.id: f for f in api.fit(plan, lambda s: "H100:8")}["teacher1"]
    one = {f.stage.id: f for f in api.fit(plan, lambda s: "H100:1")}["teacher1"]
    assert "tensor parallel 2 x data parallel 4" in eight.note and not eight.over
    assert eight.estimate.parts["KV cache"] / GB == pytest.approx(72 - 65.5 / 2, abs=0.1)
    assert "tensor parallel 1 x data parallel 1" in one.note
    assert one.estimate.parts["KV cache"] / GB == pytest.approx(72 - 65.5, abs=0.1)
    too_small = {f.stage.id: f for f in api.fit(plan, lambda s: "L4:1")}["teacher1"]
    assert too_small.over and "DOES NOT FIT" in too_small.line()
