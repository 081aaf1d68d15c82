"""The compiler checks references and types before anything runs, and unrolls fan-out."""

from __future__ import annotations

import pytest
import yaml

from sdk import api
from sdk.errors import RecipeError
from tests.sdk.conftest import PIPELINE


def compile_text(write, text: str):
    return api.compile(api.load(write(text)))


def test_compile_orders_sources_first_then_file_order(pipeline):
    plan = api.compile(api.load(pipeline))
    assert plan.ids == ["base", "train", "test", "sft", "sample", "keep", "eval"]
    assert dict(plan["eval"].inputs) == {"models.base": "base", "models.sft": "sft", "data": "test"}


def test_compile_reports_unknown_reference_with_suggestion(write, tmp_path):
    with pytest.raises(RecipeError) as info:
        compile_text(write, PIPELINE.replace("data: sample}", "data: smple}"))
    assert str(info.value) == (f"{tmp_path}/r.yaml:11:36: stages.2.data: no model, dataset or stage named "
                               "'smple' (did you mean 'sample'?)")


def test_compile_reports_wrong_artifact_type(write, tmp_path):
    with pytest.raises(RecipeError) as info:
        compile_text(write, PIPELINE.replace("models: [base, sft]", "models: [base, train]"))
    assert str(info.value) == (f"{tmp_path}/r.yaml:12:47: stages.3.models.1: 'train' gives a dataset, "
                               "but 'models' needs a model")


def test_compile_reports_cycles(write):
    text = PIPELINE.replace("model: sft, data: train, n: 2", "model: sft, data: keep, n: 2")
    text = text.replace("{id: sft, kind: sft, model: base", "{id: sft, kind: sft, model: base")
    with pytest.raises(RecipeError, match="cycle"):
        compile_text(write, text.replace("data: train, max_steps", "data: keep, max_steps"))


def test_compile_refuses_stage_named_like_a_model(write):
    with pytest.raises(RecipeError, match="stage id 'base' is also the name of a model"):
        compile_text(write, PIPELINE.replace("{id: sft,", "{id: base,").replace("model: sft", "model: base"))


def test_compile_refuses_missing_local_files(write, tmp_path):
    text = PIPELINE.replace("train: {source: reasoning_gym, task: basic_arithmetic, size: 32, seed: 1}",
                            "train: {source: jsonl, path: missing.jsonl}")
    with pytest.raises(RecipeError, match=r"r.yaml:6:32: data.train.path: no such file"):
        compile_text(write, text)


def test_compile_fingerprints_jsonl_by_content_not_path(write, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "rows.jsonl").write_text('{"prompt": "1+1?", "answer": "2", "response": "2"}\n')
    text = PIPELINE.replace("train: {source: reasoning_gym, task: basic_arithmetic, size: 32, seed: 1}",
                            "train: {source: jsonl, path: a/rows.jsonl}")
    one = compile_text(write, text)
    two = compile_text(write, text.replace("a/rows.jsonl", "b/rows.jsonl"))
    assert one["train"].fingerprint == two["train"].fingerprint
    (tmp_path / "b" / "rows.jsonl").write_text('{"prompt": "1+1?", "answer": "3", "response": "3"}\n')
    assert compile_text(write, text.replace("a/rows.jsonl", "b/rows.jsonl"))["train"].fingerprint != \
        one["train"].fingerprint


def test_matrix_fans_out_and_carries_branches_downstream(write):
    plan = compile_text(write, PIPELINE.replace("lr: 1.0e-3}", "matrix: {lr: [1.0e-3, 1.0e-4]}}"))
    assert plan.ids == ["base", "train", "test", "sft[lr=0.001]", "sft[lr=0.0001]", "sample[lr=0.001]",
                        "sample[lr=0.0001]", "keep[lr=0.001]", "keep[lr=0.0001]", "eval"]
    assert plan["sft[lr=0.0001]"].spec.lr == 1e-4
    assert dict(plan["sample[lr=0.0001]"].inputs)["model"] == "sft[lr=0.0001]"
    assert [d for _, d in plan["eval"].inputs] == ["base", "sft[lr=0.001]", "sft[lr=0.0001]", "test"]


def test_matrix_of_unknown_field_is_located(write):
    with pytest.raises(RecipeError, match=r"stages.0.matrix.lrr: sft has no field 'lrr'"):
        compile_text(write, PIPELINE.replace("lr: 1.0e-3}", "matrix: {lrr: [1, 2]}}"))


def test_expand_gives_a_pipeline_that_compiles_to_the_same_plan(write, tmp_path):
    for text in (PIPELINE, PIPELINE.replace("lr: 1.0e-3}", "matrix: {lr: [1.0e-3, 1.0e-4]}}")):
        plan = compile_text(write, text)
        expanded = write(yaml.safe_dump(api.expand(api.load(tmp_path / "r.yaml"))), "expanded.yaml")
        again = api.compile(api.load(expanded))
        assert {s.id: s.fingerprint for s in again.stages} == {s.id: s.fingerprint for s in plan.stages}


def test_local_model_folder_is_fingerprinted_by_content_not_place_or_time(write, tmp_path):
    import os
    import shutil

    model = tmp_path / "ckpt"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen2"}')
    (model / "model.safetensors").write_bytes(b"\x01" * 4096)
    text = PIPELINE.replace("base: tiny:qwen2", "base: ./ckpt")
    first = compile_text(write, text)["base"].fingerprint
    shutil.copytree(model, tmp_path / "copy")
    os.utime(tmp_path / "copy" / "model.safetensors", (1, 1))
    assert compile_text(write, text.replace("./ckpt", "./copy"))["base"].fingerprint == first
    (tmp_path / "copy" / "model.safetensors").write_bytes(b"\x02" * 4096)
    assert compile_text(write, text.replace("./ckpt", "./copy"))["base"].fingerprint != first


def test_missing_local_model_folder_is_located(write, tmp_path):
    with pytest.raises(RecipeError, match=r"r.yaml:4:9: models.base: no model folder at"):
        compile_text(write, PIPELINE.replace("base: tiny:qwen2", "base: ./nowhere"))


def test_replay_must_read_a_grpo_stage(write, tmp_path):
    text = PIPELINE + "  - {id: buf, kind: replay, run: sft}\n"
    with pytest.raises(RecipeError) as info:
        compile_text(write, text)
    assert str(info.value) == (f"{tmp_path}/r.yaml:13:34: stages.4.run: 'run' needs the output of a grpo stage, "
                               "and 'sft' is a sft stage")


def test_mix_of_jsonl_parts_is_fingerprinted_by_content(write, tmp_path):
    (tmp_path / "a.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')
    text = PIPELINE.replace(
        "train: {source: reasoning_gym, task: basic_arithmetic, size: 32, seed: 1}",
        "train: {source: mix, parts: [{source: jsonl, path: a.jsonl}, {source: reasoning_gym, task: countdown}]}")
    plan = compile_text(write, text)
    assert "path" not in plan["train"].payload["params"]["data"]["parts"][0]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')
    assert compile_text(write, text.replace("path: a.jsonl", "path: sub/a.jsonl"))["train"].fingerprint == \
        plan["train"].fingerprint
    with pytest.raises(RecipeError, match=r"data.train.parts.0.path: no such file"):
        compile_text(write, text.replace("path: a.jsonl", "path: b.jsonl"))
