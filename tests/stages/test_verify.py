"""The verifier: answer extraction, exact match, and reasoning-gym's own scorers."""

from __future__ import annotations

import pytest

from schemas import ReasoningGymData
from stages._data import reasoning_gym_rows
from stages.verify import exact_match, extract, is_correct, score


def test_extract_modes() -> None:
    assert extract("a <answer> 1 </answer> b <answer>2</answer>") == "2"
    assert extract("no tags here") is None
    assert extract("<answer>open but never closed") is None
    assert extract(r"first \boxed{1} then \boxed{\frac{1}{2}}", "boxed") == r"\frac{1}{2}"
    assert extract(r"\boxed{{a}{b}} trailing", "boxed") == "{a}{b}"
    assert extract("nothing boxed", "boxed") is None
    assert extract("  42 \n", "raw") == "42"


@pytest.mark.parametrize(("pred", "gold", "expected"), [
    ("Paris.", "paris", 1.0), ("1,000", "1000", 1.0), ("3.0", "3", 1.0), ("-4", "-4", 1.0),
    ("  a  b ", "A B", 1.0), ("4", "5", 0.0), (None, "5", 0.0), ("x", None, 0.0),
])
def test_exact_match(pred, gold, expected) -> None:
    assert exact_match(pred, gold) == expected


def test_plain_rows_use_exact_match_with_their_extract_mode() -> None:
    row = {"answer": "7", "meta": {"source": "jsonl", "extract": "boxed"}}
    assert score(row, r"so \boxed{7}") == 1.0
    assert score(row, "<answer>7</answer>") == 0.0
    assert score({"answer": "7"}, "<answer> 7 </answer>") == 1.0  # no meta: answer tags


@pytest.mark.parametrize("task", ["basic_arithmetic", "knights_knaves"])
def test_reasoning_gym_gold_scores_one_and_wrong_zero(task: str) -> None:
    rows = list(reasoning_gym_rows(ReasoningGymData(source="reasoning_gym", task=task, size=4, seed=5)))
    for row in rows:
        gold = score(row, f"Thinking... <answer>{row['answer']}</answer>")
        assert gold == 1.0 and is_correct(gold)
        assert score(row, "<answer>Zebra is a sage, and 17</answer>") == 0.0
        assert score(row, row["answer"]) == 0.0  # no tags: strict format
