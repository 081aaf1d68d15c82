"""Multiple-choice rows and the split stage: checked question files, letter scoring, three named outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import Artifact, DatasetStage, SplitStage
from stages import dataset, split
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._mcq import choice
from stages.verify import score
from tests.conftest import ROOT

MCQ = ROOT / "recipes" / "data" / "mcq-tiny.jsonl"


def _mcq_rows(tmp_path: Path, *records: dict) -> list[dict]:
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    out.mkdir()
    dataset.run(DatasetStage(id="q", data={"source": "mcq", "path": str(path)}), {}, StageContext(out=out))
    return read_rows(out / "data.jsonl")


def test_mcq_rows_list_the_options_and_keep_the_letters(tmp_path):
    row = _mcq_rows(tmp_path, {"question": "2 + 2?", "options": {"A": "3", "B": "4"}, "answer": "b"})[0]
    assert row["prompt"] == "2 + 2?\nA. 3\nB. 4\nAnswer with the letter of the correct option only."
    assert row["answer"] == "B" and row["meta"]["choices"] == ["A", "B"]
    assert score(row, "B. 4") == 1.0 and score(row, "Answer: A") == 0.0 and score(row, "no idea") == 0.0


@pytest.mark.parametrize(("record", "message"), [
    ({"question": "q", "options": ["x", ""], "answer": "A"}, r"q.jsonl:2: option B is missing \(empty\)"),
    ({"question": "q", "options": {"A": "x", "B": "y", "D": "z"}, "answer": "A"},
     r"q.jsonl:2: option C is missing \(options are A, B, D"),
    ({"question": "q", "options": ["x", "y"], "answer": "E"}, r"q.jsonl:2: answer 'E' is not one of the options"),
    ({"question": "q", "answer": "A"}, r"q.jsonl:2: no 'options' field"),
])
def test_a_bad_question_is_a_located_error(tmp_path, record, message):
    good = {"question": "ok", "options": ["a", "b"], "answer": "A"}
    with pytest.raises(StageError, match=message):
        _mcq_rows(tmp_path, good, record)


def test_choice_reads_the_first_standalone_option_letter():
    assert choice("Answer: (C) because", ["A", "B", "C"]) == "C"
    assert choice("A", ["A", "B"]) == "A"
    assert choice("Definitely", ["A", "B", "D"]) is None


@pytest.fixture(scope="module")
def mcq_data(tmp_path_factory) -> Artifact:
    folder = tmp_path_factory.mktemp("mcq")
    dataset.run(DatasetStage(id="q", data={"source": "mcq", "path": str(MCQ)}), {}, StageContext(out=folder))
    return Artifact(type="dataset", path=str(folder))


def test_split_writes_mastered_injection_and_heldout(tmp_path, tiny_model, mcq_data):
    spec = SplitStage(id="split", kind="split", model="m", data="q", heldout=0.25)
    ctx = StageContext(out=tmp_path)
    summary = split.run(spec, {"model": tiny_model, "data": mcq_data}, ctx)
    parts = {name: read_rows(tmp_path / name / "data.jsonl") for name in ("mastered", "injection", "heldout")}
    assert summary["scorer"] == "choice_logits"
    assert sum(len(p) for p in parts.values()) == 48
    assert len(parts["heldout"]) == round((len(parts["mastered"]) + len(parts["heldout"])) * 0.25)
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["id"] for r in parts["injection"]] == [k for k, ok in report["correct"].items() if not ok]


def test_split_with_no_mastered_rows_says_so():
    spec = SplitStage(id="split", kind="split", model="base", data="q")
    with pytest.raises(StageError, match="answers none of the 2 questions .* no mastered set"):
        split.divide(spec, [{"id": 1}, {"id": 2}], [False, False])
    with pytest.raises(StageError, match="nothing to inject"):
        split.divide(spec, [{"id": 1}], [True])
