"""Datasets become `{id, prompt, answer, meta}` rows; bad sources fail with one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import DatasetStage
from schemas.data import ANSWER_INSTRUCTION
from stages import dataset
from stages._context import StageContext, StageError
from stages._data import read_rows

ROOT = Path(__file__).resolve().parents[2]


def _run(ctx: StageContext, **data) -> list[dict]:
    summary = dataset.run(DatasetStage(id="d", data=data), {}, ctx)
    rows = read_rows(ctx.out / "data.jsonl")
    assert summary["rows"] == len(rows)
    return rows


def test_reasoning_gym_rows_carry_their_scoring(ctx: StageContext) -> None:
    rows = _run(ctx, source="reasoning_gym", task="knights_knaves", size=5, seed=3, limit=3,
                system="Be brief.")
    assert len(rows) == 3
    row = rows[0]
    assert row["id"] == "knights_knaves/3/0"
    assert row["prompt"].endswith("\n" + ANSWER_INSTRUCTION)
    assert row["system"] == "Be brief."
    assert row["meta"]["source"] == "reasoning_gym" and row["meta"]["task"] == "knights_knaves"
    assert row["meta"]["extract"] == "answer_tag"
    assert row["meta"]["entry"]["answer"] == row["answer"]
    assert "metadata" in row["meta"]["entry"]


def test_reasoning_gym_config_and_no_instruction(ctx: StageContext) -> None:
    rows = _run(ctx, source="reasoning_gym", task="basic_arithmetic", size=3, instruction=None,
                config={"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+"]})
    assert all(row["prompt"].count("+") == 1 and "\n" not in row["prompt"] for row in rows)


def test_unknown_task_lists_close_names(ctx: StageContext) -> None:
    with pytest.raises(ValidationError, match="did you mean 'knights_knaves'"):
        _run(ctx, source="reasoning_gym", task="knight_knaves")


def test_jsonl_fields_ids_and_responses(ctx: StageContext, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"q": "1+1?", "a": 2}\n\n'
                    '{"q": "2+2?", "a": "4", "out": "<answer>4</answer>", "id": "x"}\n')
    rows = _run(ctx, source="jsonl", path=str(path), prompt_field="q", answer_field="a", response_field="out",
                extract="boxed", instruction=None)
    assert [r["id"] for r in rows] == [0, "x"]
    meta = {"source": "jsonl", "extract": "boxed"}
    assert rows[0] == {"id": 0, "prompt": "1+1?", "answer": "2", "meta": meta}
    assert rows[1]["response"] == "<answer>4</answer>"


def test_jsonl_missing_field_and_bad_line(ctx: StageContext, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"prompt": "1+1?"}\n')
    with pytest.raises(StageError, match="no 'answer' field"):
        _run(ctx, source="jsonl", path=str(path))
    path.write_text('{"prompt": "1+1?", "answer": 2}\nnot json\n')
    with pytest.raises(StageError, match=r"in.jsonl:2:1: not valid JSON"):
        _run(ctx, source="jsonl", path=str(path))


def test_hf_dataset_from_local_folder(ctx: StageContext, tmp_path: Path) -> None:
    import datasets

    table = datasets.Dataset.from_dict({"question": ["a?", "b?", "c?"], "answer": [1, 2, 3]})
    table.save_to_disk(tmp_path / "hf")
    rows = _run(ctx, source="hf", id=str(tmp_path / "hf"), limit=2)
    assert [(r["id"], r["answer"]) for r in rows] == [(0, "1"), (1, "2")]


def test_entry_point_runs_a_stage_in_a_subprocess(tmp_path: Path) -> None:
    spec = {"id": "d", "kind": "dataset", "data": {"source": "reasoning_gym", "task": "chain_sum", "size": 2}}
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"spec": spec, "inputs": {}, "out": str(tmp_path / "out")}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "stages", str(job)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["rows"] == 2
    assert len(read_rows(tmp_path / "out" / "data.jsonl")) == 2
    spec["data"]["task"] = "no_such_task"
    job.write_text(json.dumps({"spec": spec, "inputs": {}, "out": str(tmp_path / "out2")}))
    done = subprocess.run([sys.executable, "-m", "stages", str(job)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "unknown reasoning-gym task 'no_such_task'" in done.stderr


def test_stage_modules_import_no_ml_library() -> None:
    heavy = ("torch", "transformers", "trl", "peft", "datasets", "reasoning_gym", "huggingface_hub")
    code = ("import sys, stages.model, stages.dataset, stages.sft, stages.generate, stages.filter, "
            f"stages.evaluate, stages.verify; print(sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_mix_joins_parts_with_their_own_verifiers_in_seeded_order(tmp_path):
    from schemas import MixData
    from stages._data import rows_for

    spec = MixData.model_validate({"source": "mix", "seed": 3, "parts": [
        {"source": "reasoning_gym", "task": "knights_knaves", "size": 3, "seed": 1, "config": {"n_people": 2},
         "extract": "boxed"},
        {"source": "reasoning_gym", "task": "basic_arithmetic", "size": 4, "seed": 1}]})
    rows = list(rows_for(spec))
    assert len(rows) == 7 and len({r["id"] for r in rows}) == 7
    assert {r["meta"]["task"] for r in rows} == {"knights_knaves", "basic_arithmetic"}
    assert {r["meta"]["extract"] for r in rows if r["meta"]["task"] == "knights_knaves"} == {"boxed"}
    assert [r["id"] for r in rows] == [r["id"] for r in rows_for(spec)]  # same seed, same order
    assert [r["id"] for r in rows] != [r["id"] for r in rows_for(spec.model_copy(update={"shuffle": False}))]


def test_jsonl_strings_may_hold_unicode_line_separators(ctx: StageContext, tmp_path: Path) -> None:
    """A sampled response can hold U+0085 or U+2028, which json.dumps(ensure_ascii=False) writes raw;
    they are not line ends in JSONL (a generate -> filter pipeline on a random model hit this)."""
    path = tmp_path / "in.jsonl"
    odd = "a\x85b\u2028c\u2029d\x1ce\x0bf"
    path.write_text(json.dumps({"prompt": odd, "answer": 1}, ensure_ascii=False) + "\n"
                    + json.dumps({"prompt": "2", "answer": 2}) + "\n", encoding="utf-8")
    rows = _run(ctx, source="jsonl", path=str(path), instruction=None)
    assert [r["prompt"] for r in rows] == [odd, "2"]
    assert read_rows(ctx.out / "data.jsonl")[0]["prompt"] == odd
