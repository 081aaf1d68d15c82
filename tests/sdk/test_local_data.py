"""Local data is checked and fingerprinted at `plan`, located in the data file, before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages._data import read_rows
from tests.sdk.test_cli import recipe

JSONL_RECIPE = """\
recipe: pipeline
name: demo
models:
  base: tiny:qwen2
data:
  train: {source: jsonl, path: data/train.jsonl}
stages:
  - {id: sft, kind: sft, model: base, data: train, max_steps: 2, batch_size: 2, target: answer}
"""


def jsonl_recipe(tmp_path: Path, body: bytes, text: str = JSONL_RECIPE) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "train.jsonl").write_bytes(body)
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def plan(path: Path, tmp_path: Path):
    return recipe("plan", str(path), "--store", str(tmp_path / "runs"))


def test_malformed_jsonl_line_is_located_at_plan(tmp_path):
    path = jsonl_recipe(tmp_path, b'{"prompt": "1+1", "answer": "2"}\n{"prompt": "2+2" "answer": "4"}\n')
    out = plan(path, tmp_path)
    assert out.returncode == 2
    assert out.stderr == (f"error: {tmp_path}/data/train.jsonl:2:18: data.train: not valid JSON "
                          "(Expecting ',' delimiter); write one JSON object a line\n")


def test_missing_field_names_the_field_and_first_bad_line(tmp_path):
    body = b'{"prompt": "1+1", "answer": "2"}\n\n{"prompt": "2+2"}\n{"prompt": "3+3"}\n'
    out = plan(jsonl_recipe(tmp_path, body), tmp_path)
    assert out.returncode == 2
    assert out.stderr == (f"error: {tmp_path}/data/train.jsonl:3:1: data.train: no 'answer' field (answer_field); "
                          "its fields: prompt\n")
    configured = JSONL_RECIPE.replace("path: data/train.jsonl}", "path: data/train.jsonl, prompt_field: question}")
    out = plan(jsonl_recipe(tmp_path, b'{"prompt": "1+1", "answer": "2"}\n', configured), tmp_path)
    assert "train.jsonl:1:1: data.train: no 'question' field (prompt_field)" in out.stderr


def test_empty_file_is_named(tmp_path):
    out = plan(jsonl_recipe(tmp_path, b"\n  \n"), tmp_path)
    assert out.returncode == 2
    assert out.stderr == (f"error: {tmp_path}/r.yaml:6:32: data.train.path: {tmp_path}/data/train.jsonl: "
                          "the file has no rows (it is empty or blank)\n")


def test_utf8_bom_is_accepted_by_plan_and_by_the_stage_reader(tmp_path):
    body = b'\xef\xbb\xbf{"prompt": "1+1", "answer": "2"}\n{"prompt": "2+2", "answer": "4"}\n'
    path = jsonl_recipe(tmp_path, body)
    out = plan(path, tmp_path)
    assert out.returncode == 0, out.stderr
    assert [r["prompt"] for r in read_rows(tmp_path / "data" / "train.jsonl")] == ["1+1", "2+2"]


def test_dataset_smaller_than_a_batch_warns_at_plan(tmp_path):
    path = jsonl_recipe(tmp_path, b'{"prompt": "1+1", "answer": "2"}\n',
                        JSONL_RECIPE.replace("batch_size: 2", "batch_size: 4"))
    out = plan(path, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (f"warning: {path}:8:78: sft: dataset 'train' has 1 rows, fewer than one batch "
            "(batch_size 4 examples per step)") in out.stderr


def test_duplicate_stage_id_names_both_lines(tmp_path):
    text = JSONL_RECIPE + "  - {id: sft, kind: sft, model: base, data: train, max_steps: 3}\n"
    out = recipe("validate", str(jsonl_recipe(tmp_path, b'{"prompt": "1", "answer": "1"}\n', text)))
    assert out.returncode == 2
    assert out.stderr == (f"error: {tmp_path}/r.yaml:9:10: stages.1.id: duplicate stage id 'sft' (first at line 8) "
                          "(give each stage its own id)\n")


def test_local_hf_folder_is_relative_to_the_recipe_and_fingerprinted_by_content(tmp_path):
    import datasets

    folder = tmp_path / "project" / "hf"
    datasets.Dataset.from_dict({"question": ["1+1", "2+2"], "answer": ["2", "4"]}).save_to_disk(str(folder))
    path = tmp_path / "project" / "r.yaml"
    path.write_text(JSONL_RECIPE.replace("{source: jsonl, path: data/train.jsonl}", "{source: hf, id: ./hf}"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def train_key() -> str:
        out = recipe("plan", str(path), "--store", str(tmp_path / "runs"), "--json", cwd=elsewhere)
        assert out.returncode == 0, out.stderr
        return next(s["fingerprint"] for s in json.loads(out.stdout)["stages"] if s["id"] == "train")

    before = train_key()
    datasets.Dataset.from_dict({"question": ["3+3", "4+4"], "answer": ["6", "8"]}).save_to_disk(str(folder) + "2")
    moved = tmp_path / "project" / "hf-old"
    folder.rename(moved)
    (tmp_path / "project" / "hf2").rename(folder)
    assert train_key() != before  # new rows: not cached
    folder.rename(tmp_path / "project" / "hf-new")
    moved.rename(folder)
    assert train_key() == before  # the same files again (wherever the recipe is run from): cached


def test_missing_local_hf_folder_is_located(tmp_path):
    path = jsonl_recipe(tmp_path, b"", JSONL_RECIPE.replace("{source: jsonl, path: data/train.jsonl}",
                                                            "{source: hf, id: ./nothing-here}"))
    out = plan(path, tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {path}:6:27: data.train.id: no dataset folder at {tmp_path}/nothing-here")


GYM_RECIPE = JSONL_RECIPE.replace("{source: jsonl, path: data/train.jsonl}",
                                  "{source: reasoning_gym, task: basic_arithmetc, config: {max_digit: 1}}")


def test_misspelled_reasoning_gym_task_is_located_at_validate(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(GYM_RECIPE)
    out = recipe("validate", str(path))
    assert out.returncode == 2
    assert out.stderr == (f"error: {path}:6:40: data.train.task: unknown reasoning-gym task 'basic_arithmetc' "
                          "(did you mean 'basic_arithmetic' or 'bitwise_arithmetic' or 'decimal_arithmetic'?)\n")


def test_unknown_reasoning_gym_config_key_is_located_at_validate(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(GYM_RECIPE.replace("basic_arithmetc", "basic_arithmetic"))
    out = recipe("validate", str(path))
    assert out.returncode == 2
    assert out.stderr == (f"error: {path}:6:67: data.train.config.max_digit: basic_arithmetic has no config key "
                          "'max_digit' (did you mean 'max_digits'?)\n")


def test_sft_on_responses_from_a_jsonl_without_them_is_located_at_plan(tmp_path):
    body = b'{"prompt": "1+1", "answer": "2", "response": "<answer>2</answer>"}\n{"prompt": "2+2", "answer": "4"}\n'
    path = jsonl_recipe(tmp_path, body, JSONL_RECIPE.replace(", target: answer}", "}"))
    out = plan(path, tmp_path)
    assert out.returncode == 2
    assert out.stderr == (f"error: {tmp_path}/data/train.jsonl:2:1: data.train: no 'response' field "
                          "(response_field), which stage 'sft' trains on (set `target: answer` on the stage "
                          "to train on the gold answers)\n")
    assert plan(jsonl_recipe(tmp_path, body), tmp_path).returncode == 0  # target: answer needs no response


MCQ_RECIPE = """\
recipe: pipeline
name: mcq
models:
  base: tiny:qwen2
data:
  questions: {source: mcq, path: data/q.jsonl}
stages:
  - {id: split, kind: split, model: base, data: questions, heldout: 0.5}
"""

GOOD = {"id": "q0", "question": "2 + 2?", "options": ["3", "4"], "answer": "B"}


@pytest.mark.parametrize(("bad", "message"), [
    ({"id": "q1", "question": "q", "options": ["x", ""], "answer": "A"}, "option B is missing (empty)"),
    ({"id": "q1", "question": "q", "options": ["x", "y"], "answer": "C"},
     "answer 'C' is not one of the options (A, B)"),
    ({"id": "q1", "question": "q", "options": {"A": "x", "C": "y"}, "answer": "A"},
     "option B is missing (options are A, C; letter them A, B)"),
    ({"id": "q0", "question": "q", "options": ["x", "y"], "answer": "A"},
     "id 'q0' is also the id of line 1; give each question its own id"),
    ({"id": "q1", "question": "q", "options": ["x", "y"], "answer": 1},
     "answer 1 is a 0-based index, but line 1 gives a letter: write every answer one way"),
    ({"id": "q1", "question": "q", "options": ["x", "y"], "answer": "1"},
     "answer '1' is not one of the options (A, B); a 0-based index is written as a JSON number"),
])
def test_every_mcq_row_rule_is_an_error_at_validate_located_in_the_file(tmp_path, bad, message):
    path = jsonl_recipe(tmp_path, b"", MCQ_RECIPE)
    (tmp_path / "data" / "q.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(bad) + "\n")
    done = recipe("validate", str(path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {tmp_path}/data/q.jsonl:2:1: data.questions: {message}"]


def test_mcq_answers_as_0_based_indexes_throughout_a_file_are_one_documented_form(tmp_path):
    path = jsonl_recipe(tmp_path, b"", MCQ_RECIPE)
    rows = [{**GOOD, "answer": 1}, {"id": "q1", "question": "1 + 1?", "options": ["2", "3"], "answer": 0}]
    (tmp_path / "data" / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = recipe("validate", str(path))
    assert done.returncode == 0, done.stderr
