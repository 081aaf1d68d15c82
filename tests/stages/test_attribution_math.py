"""Cognition attribution's arithmetic: the decomposition against a hand count, letters out of messy
answers, the judge's verdicts, and linear CKA's identities against a float64 reference."""

from __future__ import annotations

import math

import pytest
import torch

from stages._attribution import answer_letter, by_domain, decompose, options_of, reported_domain, verdict
from stages._cka import MinibatchCka, batches, hsic_unbiased, linear_cka


def test_decomposition_matches_a_hand_count() -> None:
    # 8 questions: fast right on 0,1,2,3,4; slow right on 0,1,5,6 -> corrected {5,6}, overthought {2,3,4}
    fast = [True, True, True, True, True, False, False, False]
    slow = [True, True, False, False, False, True, True, False]
    d = decompose(fast, slow)
    assert d["A_fast"] == 5 / 8 and d["A_slow"] == 4 / 8
    assert d["delta_c"] == 2 / 8 and d["delta_o"] == 3 / 8
    assert d["delta"] == d["A_slow"] - d["A_fast"] == d["delta_c"] - d["delta_o"] == -1 / 8
    assert d["fast_wrong"] == 3 and d["fast_right"] == 5
    assert d["r_c"] == 2 / 3 and d["r_o"] == 3 / 5  # over the questions fast got wrong / right
    assert d["r_c"] == d["delta_c"] * d["n"] / d["fast_wrong"] and d["r_o"] == d["delta_o"] * d["n"] / d["fast_right"]
    diffs = [float(s) - float(f) for f, s in zip(fast, slow, strict=True)]  # the paired error of delta
    mean = sum(diffs) / 8
    assert d["delta_se"] == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in diffs) / 7 / 8))
    assert d["r_c_se"] == pytest.approx(math.sqrt((2 / 3) * (1 / 3) * 3 / 2 / 3))  # p(1-p) n/(n-1) / n


def test_delta_is_exactly_correction_minus_overthinking_on_random_sets() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        n = int(torch.randint(1, 40, (1,), generator=gen))
        fast = (torch.rand(n, generator=gen) < 0.5).tolist()
        slow = (torch.rand(n, generator=gen) < 0.5).tolist()
        d = decompose(fast, slow)
        assert d["delta"] == pytest.approx(d["delta_c"] - d["delta_o"], abs=1e-12)


def test_empty_denominators_are_none_not_zero() -> None:
    d = decompose([True, True], [True, False])
    assert d["r_c"] is None and d["fast_wrong"] == 0 and d["r_o"] == 0.5
    with pytest.raises(ValueError, match="one of each"):
        decompose([True], [True, False])


def test_domains_group_questions_in_order_of_first_appearance() -> None:
    groups = by_domain(["math", "law", "math"], [True, False, False], [True, True, True])
    assert list(groups) == ["math", "law"] and groups["math"]["n"] == 2 and groups["math"]["delta_c"] == 0.5


def test_a_row_domain_goes_through_the_map() -> None:
    row = {"meta": {"domain": "college_physics"}}
    assert reported_domain(row, {"college_physics": "Physics"}, "mmlu") == "Physics"
    assert reported_domain(row, {"anatomy": "Medicine"}, "mmlu") is None  # unmapped: the stage refuses it
    assert reported_domain(row, None, "mmlu") == "college_physics"
    assert reported_domain({"meta": {}}, None, "medqa") == "medqa"
    assert reported_domain({"meta": {}}, {"anatomy": "Medicine"}, "mathqa") == "mathqa"  # a set with no domains


@pytest.mark.parametrize(("text", "letter"), [
    ("B", "B"), ("B.", "B"), ("(C)", "C"), (" D\n", "D"), ("Answer: A", "A"), ("The answer is C.", "C"),
    ("A spider has eight legs, so C", "C"),  # "A" the article is not an option letter
    ("**Answer:** D", "D"), ("\\boxed{B}", "B"), ("I think B", "B"), ("none of them", None), ("E", None),
])
def test_fast_answer_letter(text: str, letter: str | None) -> None:
    assert answer_letter(text, ["A", "B", "C", "D"], "fast") == letter


@pytest.mark.parametrize(("text", "letter"), [
    ("Thought: A looks wrong, B maybe.\nSolution: the answer is C", "C"),
    ("Thought: option A is tempting.\n\nSolution\nAfter checking, D is right.", "D"),
    ("Thought: maybe A. Or B? The answer is (B).", "B"),
    ("The correct option is B; option A is a trap.", "B"),
    ("Thought: answer is A at first... Final answer: \\boxed{C}", "C"),
    ("Thought: I keep thinking and thinking", None),
    ("Thought: A seems likely, then D", None),  # cut off before its Solution: no answer, not its last letter
])
def test_slow_answer_letter_is_the_final_one(text: str, letter: str | None) -> None:
    assert answer_letter(text, ["A", "B", "C", "D"], "slow") == letter


OPTIONS = {"A": "12", "B": "11", "C": "13", "D": "14"}


@pytest.mark.parametrize(("text", "mode", "letter"), [
    ("A. 12\nB. 11\nC. 13\nD. 14\nThe answer to this question is 14.", "slow", "D"),  # echoed list, answer by text
    ("A. 12\nB. 11\nC. 13\nD. 14\nThe answer is:\nA. 12\nB. 11\nC. 13", "slow", None),  # only echoes
    ("A. 12", "fast", "A"),  # one option line is a choice, not an echo
    ("A. 12\nB. 11\nC. 13\nD. 14\nThe answer is C. 13.", "fast", "C"),
    ("Answer: 11", "fast", "B"),
])
def test_answers_around_an_echoed_option_list(text: str, mode: str, letter: str | None) -> None:
    assert answer_letter(text, list(OPTIONS), mode, OPTIONS) == letter  # type: ignore[arg-type]


def test_options_are_read_back_from_the_listed_question() -> None:
    assert options_of("What is 7 + 5?\nA. 12\nB. 11\nC. 13\nD. 14", ["A", "B", "C", "D"]) == OPTIONS


def test_judge_verdicts_and_unparsed_answers_are_uncertain() -> None:
    assert verdict("Correct") == ("correct", True)
    assert verdict("Incorrect.") == ("incorrect", True)  # not read as "correct"
    assert verdict('"Uncertain"') == ("uncertain", True)
    assert verdict("The model is right") == ("uncertain", False)


def _reference_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """CKA the other way round: Gram matrices and the centring matrix H, HSIC = tr(K H L H) / (n-1)^2."""
    x, y = x.double(), y.double()
    n = x.shape[0]
    h = torch.eye(n, dtype=torch.float64) - torch.ones(n, n, dtype=torch.float64) / n
    k, l = x @ x.T, y @ y.T  # noqa: E741

    def hsic(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(torch.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))


def test_linear_cka_identities() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 16, generator=gen)
    y = x @ torch.randn(16, 24, generator=gen) + 0.5 * torch.randn(64, 24, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x.double() @ q, y) == pytest.approx(linear_cka(x, y), abs=1e-10)  # orthogonal transform
    assert linear_cka(3.7 * x.double(), y) == pytest.approx(linear_cka(x, y), abs=1e-12)  # isotropic scaling
    assert linear_cka(x, y) == pytest.approx(_reference_cka(x, y), abs=1e-10)
    assert 0.3 < linear_cka(x, y) < 1.0
    assert linear_cka(x, torch.randn(64, 24, generator=gen)) < 0.5  # unrelated states score lower


def test_minibatch_cka_identities_and_agreement_with_the_full_value() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(480, 8, generator=gen)
    y = torch.tanh(x @ torch.randn(8, 12, generator=gen)) + 0.3 * torch.randn(480, 12, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=gen))
    same, rotated, paired = MinibatchCka(), MinibatchCka(), MinibatchCka()
    for start, end in batches(480, 32):
        same.add([x[start:end]], [x[start:end]])
        rotated.add([x[start:end] @ q * 2.0], [y[start:end]])
        paired.add([x[start:end]], [y[start:end]])
    assert same.values()[0] == pytest.approx(1.0, abs=1e-12) and same.samples == 480
    assert rotated.values()[0] == pytest.approx(paired.values()[0], abs=1e-6)
    assert paired.values()[0] == pytest.approx(linear_cka(x, y), abs=0.05)  # unbiased over batches ~ full


def test_states_that_do_not_vary_have_no_cka() -> None:
    gen = torch.Generator().manual_seed(3)
    same_token = torch.randn(1, 8, generator=gen).repeat(12, 1)  # every prompt ends in the same token
    varied = torch.randn(12, 8, generator=gen)
    cka = MinibatchCka()
    cka.add([same_token, varied], [same_token + 1e-9 * torch.randn(12, 8, generator=gen), varied])
    assert cka.values() == [None, pytest.approx(1.0)]


def test_unbiased_hsic_needs_four_samples_and_last_batches_join() -> None:
    with pytest.raises(ValueError, match="4 or more"):
        hsic_unbiased(torch.eye(3), torch.eye(3))
    assert batches(10, 4) == [(0, 4), (4, 10)]  # a last batch of 2 joins the one before
    assert batches(8, 4) == [(0, 4), (4, 8)] and batches(3, 16) == [(0, 3)]
