"""The merge stage: equal to a plain computation and to mergekit, streamed into shards, checked before reading."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from schemas import Artifact
from schemas.stages.merge import MergeStage
from stages import merge
from stages._context import StageContext, StageError
from stages._merge_linear import merge_tensors
from stages._safetensors import INDEX, tensor_table


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three `tiny:qwen2` models of one shape (seeds 0, 1, 2) and a `tiny:qwen2-hd64` and `tiny:llama`."""
    from stages._models import build_tiny

    root = tmp_path_factory.mktemp("merge-models")
    made = {name: build_tiny(preset, seed, root / name / "model")
            for name, preset, seed in (("a", "qwen2", 0), ("b", "qwen2", 1), ("base", "qwen2", 2),
                                       ("wide", "qwen2-hd64", 0), ("llama", "llama", 0))}
    return {name: folder.parent for name, folder in made.items()}


def _artifact(folder: Path) -> Artifact:
    return Artifact(type="model", path=str(folder))


def _state(folder: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    return {k: v for f in files for k, v in load_file(str(f)).items()}


def _run(spec: MergeStage, models: dict[str, Path], ctx: StageContext) -> dict:
    inputs = {f"models.{name}": _artifact(models[name]) for name in spec.models}
    if spec.base:
        inputs["base"] = _artifact(models[spec.base])
    return merge.run(spec, inputs, ctx)


def _mergekit(config: dict, out: Path) -> dict:
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    run_merge(MergeConfiguration.model_validate(config), str(out),
              options=MergeOptions(copy_tokenizer=False, lazy_unpickle=False, quiet=True, write_model_card=False))
    return _state(out)


def _max_diff(x: dict, y: dict) -> float:
    assert set(x) == set(y)
    return max(float((x[k].float() - y[k].float()).abs().max()) for k in x)


def test_linear_equals_plain_average_and_mergekit_linear(models, ctx: StageContext, tmp_path: Path) -> None:
    spec = MergeStage(id="m", kind="merge", models=["a", "b"], weights=[0.3, 0.7], dtype="float32")
    summary = _run(spec, models, ctx)
    ours = _state(ctx.out / "model")
    a, b = _state(models["a"] / "model"), _state(models["b"] / "model")
    reference = {k: 0.3 * a[k] + 0.7 * b[k] for k in a}
    theirs = _mergekit({"merge_method": "linear", "dtype": "float32",
                        "models": [{"model": str(models["a"] / "model"), "parameters": {"weight": 0.3}},
                                   {"model": str(models["b"] / "model"), "parameters": {"weight": 0.7}}]},
                       tmp_path / "mergekit")
    assert _max_diff(ours, reference) <= 1e-6
    assert _max_diff(ours, theirs) <= 1e-6
    assert _max_diff(ours, a) > 1e-3  # the models really differ
    assert summary["engine"] == "recipe" and summary["tensors"] == len(a)


def test_task_arithmetic_equals_plain_formula_and_mergekit(models, ctx: StageContext, tmp_path: Path) -> None:
    spec = MergeStage(id="m", kind="merge", method="task_arithmetic", models=["a", "b"], weights=[0.5, 0.8],
                      base="base")
    _run(spec, models, ctx)
    ours = _state(ctx.out / "model")
    a, b, base = (_state(models[n] / "model") for n in ("a", "b", "base"))
    reference = {k: base[k] + 0.5 * (a[k] - base[k]) + 0.8 * (b[k] - base[k]) for k in a}
    theirs = _mergekit({"merge_method": "task_arithmetic", "dtype": "float32",
                        "base_model": str(models["base"] / "model"),
                        "models": [{"model": str(models["a"] / "model"), "parameters": {"weight": 0.5}},
                                   {"model": str(models["b"] / "model"), "parameters": {"weight": 0.8}}]},
                       tmp_path / "mergekit")
    assert _max_diff(ours, reference) <= 1e-6
    assert _max_diff(ours, theirs) <= 1e-6


def test_ties_runs_through_mergekit_and_loads(models, ctx: StageContext) -> None:
    from transformers import AutoModelForCausalLM

    spec = MergeStage(id="m", kind="merge", method="ties", models=["a", "b"], base="base",
                      parameters={"density": 0.5})
    summary = _run(spec, models, ctx)
    assert summary["engine"] == "mergekit"
    merged = _state(ctx.out / "model")
    assert _max_diff(merged, _state(models["a"] / "model")) > 1e-3
    assert AutoModelForCausalLM.from_pretrained(ctx.out / "model") is not None
    assert (ctx.out / "model" / "tokenizer.json").is_file()


def test_alpha_interpolates_base_and_model_and_keeps_files_of_config_from(models, ctx: StageContext) -> None:
    spec = MergeStage(id="m", kind="merge", models=["base", "a"], alpha=0.2, config_from="a", dtype="bfloat16")
    _run(spec, models, ctx)
    ours = _state(ctx.out / "model")
    a, base = _state(models["a"] / "model"), _state(models["base"] / "model")
    for k in a:  # bfloat16 output rounds exactly as torch does
        assert ours[k].dtype.is_floating_point and str(ours[k].dtype) == "torch.bfloat16"
        assert (ours[k] == (0.2 * base[k] + 0.8 * a[k]).to(ours[k].dtype)).all(), k
    config = json.loads((ctx.out / "model" / "config.json").read_text())
    assert config["dtype"] == "bfloat16"
    for name in ("tokenizer.json", "generation_config.json", "tokenizer_config.json"):
        assert (ctx.out / "model" / name).read_bytes() == (models["a"] / "model" / name).read_bytes()


def test_sharded_output_has_an_index_and_loads_as_the_same_model(models, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "sharded"
    out.mkdir()
    tables = [tensor_table(models[n] / "model") for n in ("a", "b")]
    facts = merge_tensors(tables, [0.5, 0.5], out, shard_bytes=100_000)
    index = json.loads((out / INDEX).read_text())
    assert facts["shards"] > 2 and len(set(index["weight_map"].values())) == facts["shards"]
    merge.copy_model_files(models["a"] / "model", out, "auto")
    a, b = _state(models["a"] / "model"), _state(models["b"] / "model")
    loaded = AutoModelForCausalLM.from_pretrained(out).state_dict()
    for k in a:
        assert float((loaded[k] - 0.5 * (a[k] + b[k])).abs().max()) <= 1e-6


def test_bfloat16_inputs_are_read_and_averaged(models, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    halves = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        save_file({k: v.bfloat16() for k, v in _state(models[name] / "model").items()},
                  str(folder / "model.safetensors"), metadata={"format": "pt"})
        halves.append(folder)
    out = tmp_path / "out"
    out.mkdir()
    merge_tensors([tensor_table(f) for f in halves], [0.5, 0.5], out)
    ours, a, b = _state(out), _state(halves[0]), _state(halves[1])
    for k in a:
        assert ours[k].dtype == a[k].dtype
        assert (ours[k] == (0.5 * a[k].float() + 0.5 * b[k].float()).bfloat16()).all()


@pytest.mark.parametrize(("other", "expected"), [
    ("wide", r"tensor 'model\.embed_tokens\.weight' has shape \[\d+, 64\] in 'a' and \[\d+, 128\] in 'wide'"),
    ("llama", r"'a' and 'llama' have different architectures: Qwen2ForCausalLM and LlamaForCausalLM"),
])
def test_incompatible_models_fail_before_reading_naming_both(models, ctx: StageContext, other: str,
                                                             expected: str) -> None:
    spec = MergeStage(id="m", kind="merge", models=["a", other])
    with pytest.raises(StageError, match=r"stage 'm': cannot merge: .*" + expected):
        _run(spec, models, ctx)
    assert not any((ctx.out / "model").glob("*.safetensors"))


def test_different_vocabulary_is_named_by_its_first_token(models, ctx: StageContext, tmp_path: Path) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(models["b"], changed)
    tok_file = changed / "model" / "tokenizer.json"
    tok = json.loads(tok_file.read_text())
    vocab = tok["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[10:12]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    tok_file.write_text(json.dumps(tok))
    spec = MergeStage(id="m", kind="merge", models=["a", "changed"])
    expected = (f"'a' and 'changed' have different tokenizer vocabularies: token 10 is {first!r} in one "
                f"and {second!r} in the other")
    with pytest.raises(StageError, match=re.escape(expected)):
        _run(spec, {**models, "changed": changed}, ctx)
