"""Solutions: at most k distinct solutions per problem, from a dataset field or a teacher's filtered samples."""

from __future__ import annotations

import pytest

from schemas.stages.pools import SolutionsStage
from stages import solutions


def _spec(**options) -> SolutionsStage:
    return SolutionsStage(**{"id": "solutions", "kind": "solutions", "data": "pool", "k": 2, **options})


def test_k_distinct_solutions_per_problem_from_a_list_field():
    rows = [{"id": 0, "prompt": "a", "solutions": ["x", "y", "x", "z"]}, {"id": 1, "prompt": "b", "solutions": ["w"]}]
    out = solutions.choose(_spec(field="solutions"), rows)
    by_problem = {pid: [r["response"] for r in out if r["id"] == pid] for pid in (0, 1)}
    assert len(by_problem[0]) == 2 and set(by_problem[0]) <= {"x", "y", "z"}
    assert by_problem[1] == ["w"]


def test_teacher_samples_one_row_each_are_grouped_by_problem_and_lose_their_sample_fields():
    rows = [{"id": 5, "prompt": "p", "answer": "3", "response": r, "reward": 1.0, "sample": i, "finished": True}
            for i, r in enumerate(["s1", "s2", "s2", "s3"])]
    out = solutions.choose(_spec(k=5), rows)
    assert sorted(r["response"] for r in out) == ["s1", "s2", "s3"]
    assert all("reward" not in r and "sample" not in r and r["answer"] == "3" for r in out)


def test_gold_answer_through_the_template():
    out = solutions.choose(_spec(field="answer", template="<answer>{solution}</answer>", k=3),
                           [{"id": 0, "prompt": "1+1", "answer": "2"}])
    assert [r["response"] for r in out] == ["<answer>2</answer>"]


def test_raising_k_keeps_the_smaller_choice_as_a_prefix_set():
    rows = [{"id": 0, "prompt": "a", "response": [f"s{i}" for i in range(10)]}]
    small = {r["response"] for r in solutions.choose(_spec(k=2), rows)}
    large = {r["response"] for r in solutions.choose(_spec(k=5), rows)}
    assert small <= large and len(large) == 5


def test_no_rows_give_no_solutions():
    assert solutions.choose(_spec(), []) == []


def test_template_without_the_solution_is_refused():
    with pytest.raises(ValueError, match="template must contain"):
        _spec(template="<answer></answer>")


def test_earlier_solutions_stay_and_count_toward_k():
    earlier = [{"id": 0, "prompt": "a", "response": "s0", "solution": 0},
               {"id": 1, "prompt": "b", "response": "t0", "solution": 0}]
    rows = [{"id": 0, "prompt": "a", "response": ["s0", "s1", "s2", "s3"]}]
    out = solutions.choose(_spec(k=3), rows, earlier)
    assert out[:2] == earlier  # problem 1 left the pool: what it was taught stays
    new = [r["response"] for r in out[2:]]
    assert len(new) == 2 and "s0" not in new and [r["solution"] for r in out[2:]] == [1, 2]
    assert solutions.choose(_spec(k=1), rows, earlier) == earlier  # problem 0 already has its one
