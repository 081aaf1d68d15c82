"""Math answers graded by value with math-verify: equivalent forms match, wrong or unparsable ones score 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import DatasetStage
from stages import dataset
from stages._context import StageContext
from stages._data import read_rows
from stages._math_answer import math_equal
from stages.verify import score

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("predicted", "gold"), [
    ("0.5", r"\frac{1}{2}"), (r"\frac{1}{2}", "0.5"), (r"\sqrt{8}", r"2\sqrt{2}"), ("x=3", "3"),
    (r"\dfrac12", "1/2"), ("1,000", "1000"), ("3.0", "3"), ("$7$", "7"), (r"\left(1, 2\right)", "(1,2)"),
])
def test_math_equal_accepts_an_equivalent_form(predicted: str, gold: str) -> None:
    assert math_equal(predicted, gold) == 1.0


@pytest.mark.parametrize(("predicted", "gold"), [
    ("4", "3"), (r"\frac{1}{3}", "0.5"), ("x=4", "3"), (r"\sqrt{2}", r"2\sqrt{2}"), ("-3", "3"),
])
def test_math_equal_rejects_a_wrong_answer(predicted: str, gold: str) -> None:
    assert math_equal(predicted, gold) == 0.0


@pytest.mark.parametrize("predicted", ["}{", "", "   ", "$$", r"\frac{", "\\", None])
def test_math_equal_scores_unparsable_answers_zero_without_raising(predicted: str | None) -> None:
    assert math_equal(predicted, "3") == 0.0


def test_math_equal_is_zero_when_the_gold_answer_is_missing_or_unparsable() -> None:
    assert math_equal("3", None) == 0.0
    assert math_equal("3", "}{") == 0.0


def test_score_grades_math_rows_by_value_and_other_rows_by_exact_match() -> None:
    math_row = {"answer": r"\frac{1}{2}", "meta": {"source": "jsonl", "extract": "boxed", "grader": "math"}}
    assert score(math_row, r"so the answer is \boxed{0.5}") == 1.0
    assert score(math_row, r"\boxed{\frac{2}{4}}") == 1.0
    assert score(math_row, r"\boxed{0.25}") == 0.0
    assert score(math_row, "0.5 with no box") == 0.0  # the row's extract mode still finds the answer
    exact_row = {"answer": r"\frac{1}{2}", "meta": {"source": "jsonl", "extract": "boxed"}}
    assert score(exact_row, r"\boxed{0.5}") == 0.0


def test_jsonl_rows_carry_the_math_grader_and_exact_rows_do_not(ctx: StageContext, tmp_path: Path) -> None:
    path = tmp_path / "math.jsonl"
    path.write_text('{"prompt": "Half of 1?", "answer": "\\\\frac{1}{2}"}\n')
    dataset.run(DatasetStage(id="d", data={"source": "jsonl", "path": str(path), "extract": "boxed",
                                           "grader": "math"}), {}, ctx)
    row = read_rows(ctx.out / "data.jsonl")[0]
    assert row["meta"] == {"source": "jsonl", "extract": "boxed", "grader": "math"}
    assert score(row, r"\boxed{0.5}") == 1.0


def test_verify_imports_math_verify_only_when_a_math_row_is_scored() -> None:
    code = ("import sys; from stages.verify import score; "
            "score({'answer': '3', 'meta': {}}, '<answer>3</answer>'); a = 'math_verify' in sys.modules; "
            "score({'answer': '3', 'meta': {'grader': 'math'}}, '<answer>3</answer>'); "
            "print(a, 'math_verify' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
