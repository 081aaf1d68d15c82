"""Multiple-choice questions from the places the paper recipes read them: a saved Hugging Face dataset with
MMLU's columns (its `subject` as the domain), MedQA's lettered mapping, MathQA's one-string options."""

from __future__ import annotations

import pytest

from schemas import McqData
from stages._context import StageError
from stages._mcq import _lettered, mcq_rows


def test_mathqa_option_strings_are_read_as_lettered_options():
    assert _lettered("a ) 38 , b ) 27.675 , c ) 30 , d ) 1,000 , e ) rs . 24.5") == [
        ("A", "38"), ("B", "27.675"), ("C", "30"), ("D", "1,000"), ("E", "rs . 24.5")]
    with pytest.raises(ValueError, match="MathQA's form"):
        _lettered("b ) 1 , a ) 2")


def test_a_saved_dataset_with_mmlu_columns_gives_rows_with_their_domain(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({
        "question": ["2 + 2?", "Capital of France?"], "subject": ["elementary_mathematics", "miscellaneous"],
        "choices": [["3", "4", "5", "6"], ["Rome", "Paris", "Oslo", "Bern"]], "answer": [1, 1],
    }).save_to_disk(str(tmp_path / "mmlu"))
    spec = McqData(source="mcq", id=str(tmp_path / "mmlu"), options_field="choices", domain_field="subject")
    rows = list(mcq_rows(spec))
    assert [r["answer"] for r in rows] == ["B", "B"]
    assert [r["meta"]["domain"] for r in rows] == ["elementary_mathematics", "miscellaneous"]
    assert rows[0]["meta"]["question"] == "2 + 2?\nA. 3\nB. 4\nC. 5\nD. 6"
    assert rows[0]["prompt"].endswith("Answer with the letter of the correct option only.")


def test_medqa_and_mathqa_columns_and_a_bad_row_located_by_its_number(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({
        "question": ["Which organ pumps blood?"], "options": [{"A": "Lung", "B": "Heart", "C": "Liver", "D": "Skin"}],
        "answer_idx": ["B"],
    }).save_to_disk(str(tmp_path / "medqa"))
    (row,) = mcq_rows(McqData(source="mcq", id=str(tmp_path / "medqa"), answer_field="answer_idx"))
    assert row["answer"] == "B" and "domain" not in row["meta"]
    datasets.Dataset.from_dict({
        "Problem": ["a train goes 60 km in 1 h; speed?", "x?"], "options": ["a ) 60 , b ) 30", "a ) 1 , b ) 2"],
        "correct": ["a", "c"],
    }).save_to_disk(str(tmp_path / "mathqa"))
    spec = McqData(source="mcq", id=str(tmp_path / "mathqa"), question_field="Problem", answer_field="correct")
    rows = mcq_rows(spec)
    assert next(rows)["answer"] == "A"
    with pytest.raises(StageError, match=r"mathqa:2: answer 'c' is not one of the options \(A, B\)"):
        next(rows)
