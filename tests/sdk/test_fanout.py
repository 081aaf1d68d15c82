"""Fan-out at its edges: any value a field takes gives a safe branch id; mistakes are located; names show."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from schemas import AnyStage
from sdk import api
from sdk.compile.fanout import value_label
from sdk.report.write import file_stem, write_report
from sdk.run.apply import select
from sdk.run.store import Store
from tests.sdk.conftest import PIPELINE
from tests.sdk.test_cli import recipe

LORA_MATRIX = "matrix: {lora: [null, {r: 4}], answer_format: ['A: {answer}', '<answer>{answer}</answer>']}}"


def test_non_scalar_matrix_values_give_ids_a_stage_process_accepts(write):
    plan = api.compile(api.load(write(PIPELINE.replace("lr: 1.0e-3}", LORA_MATRIX))))
    sft = [s for s in plan.stages if s.kind == "sft"]
    assert len(sft) == 4 and len({s.id for s in sft}) == 4
    assert "sft[lora=null,answer_format=<answer>" not in plan.ids  # no raw markup or spaces in ids
    for stage in plan.stages:  # what `python -m stages job.json` does with the spec, at apply time
        again = TypeAdapter(AnyStage).validate_python(stage.spec.model_dump(mode="json"))
        assert again.id == stage.id
        assert "/" not in stage.id and " " not in stage.id


def test_value_labels_are_readable_and_tell_values_apart():
    assert [value_label(v) for v in (1e-5, 3, None, True, "cosine")] == ["1e-05", "3", "null", "true", "cosine"]
    assert value_label({"r": 4}).startswith("r-4-")
    assert value_label("a b") != value_label("a-b")
    assert value_label("x/y") != value_label("x y")


def test_report_survives_a_branch_id_with_a_slash(tmp_path):
    """Stores written before branch ids were safe hold ids like `sft[lora={'r': 4}/x]`; report must not crash."""
    assert "/" not in file_stem("sft[lora={'r': 4}/x]")
    assert len(file_stem("s" * 300)) < 120
    store = Store(tmp_path / "runs")
    folder = store.artifact_dir("k" * 16)
    folder.mkdir(parents=True)
    report = {"data": "test", "samples": 1, "models": {"a/b": {"accuracy": 0.5}, "c": {"accuracy": 0.25}}}
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "manifest.json").write_text(json.dumps({"kind": "evaluate", "key": "k" * 16}))
    store.record_run("demo", {"recipe": "demo", "started": 0, "stages": [
        {"id": "eval[x=a/b]", "state": "ran", "path": str(folder)}]})
    out = write_report(store.root, "demo", tmp_path / "rep")
    assert "eval[x=a/b]" in (out / "summary.md").read_text()


def test_empty_matrix_list_is_located_not_an_index_error(write, tmp_path):
    path = write(PIPELINE.replace("lr: 1.0e-3}", "matrix: {lr: []}}"))
    out = recipe("validate", str(path))
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {path}:9:")
    assert "stages.0.matrix.lr: List should have at least 1 item" in out.stderr


def test_out_of_range_matrix_value_names_value_and_rule(write):
    path = write(PIPELINE.replace("lr: 1.0e-3}", "matrix: {lr: [1.0e-3, -1]}}"))
    out = recipe("validate", str(path))
    assert out.returncode == 2
    assert out.stderr == (f"error: {path}:9:88: stages.0.matrix.lr.1: lr = -1: Input should be greater than 0\n")


def test_matrix_value_breaking_a_cross_field_rule_is_located(write):
    path = write(PIPELINE.replace("lr: 1.0e-3}", "grad_accum: 2, matrix: {batch_size: [4, 3]}}"))
    out = recipe("validate", str(path))
    assert out.returncode == 2
    assert "stages.0.matrix: the branch batch_size=3: batch_size 3 must divide evenly" in out.stderr


def test_matrix_cannot_vary_the_id(write):
    out = recipe("validate", str(write(PIPELINE.replace("lr: 1.0e-3}", "matrix: {id: [a, b]}}"))))
    assert out.returncode == 2 and "stages.0.matrix.id: a matrix cannot vary 'id'" in out.stderr


def test_plan_table_shows_every_branch_name(write, tmp_path):
    path = write(PIPELINE.replace("lr: 1.0e-3}", "matrix: {lr: [1.0e-3, 1.0e-2]}}"))
    out = recipe("plan", str(path), "--store", str(tmp_path / "runs"))
    assert out.returncode == 0, out.stderr
    for branch in ("sft[lr=0.001]", "sft[lr=0.01]", "sample[lr=0.001]", "keep[lr=0.01]"):
        assert branch in out.stdout


def test_only_and_until_a_fanned_out_stage_select_every_branch(write, tmp_path):
    path = write(PIPELINE.replace("lr: 1.0e-3}", "matrix: {lr: [1.0e-3, 1.0e-2]}}"))
    out = recipe("apply", str(path), "--store", str(tmp_path / "runs"), "--only", "sample")
    assert out.returncode == 2
    assert "--only sample[lr=0.001]: its input model (" in out.stderr  # resolved, then refused for its inputs
    plan = api.compile(api.load(path))
    chosen = [s.id for s in select(plan, Store(tmp_path / "runs"), until=("sft",))]
    assert chosen == ["base", "train", "sft[lr=0.001]", "sft[lr=0.01]"]


def test_evaluate_table_shows_branch_names(tmp_path, capsys):
    from sdk.cli import _print_report

    report = {"data": "test", "models": {"sft[lr=0.001]": {"accuracy": 0.5}, "sft[lr=0.01]": {"accuracy": 0.25}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    _print_report("eval", str(tmp_path))
    shown = capsys.readouterr().out
    assert "sft[lr=0.001]" in shown and "sft[lr=0.01]" in shown
