"""Verifier: find the answer in a response and score it against a row, in [0, 1].

One scorer for filter, evaluate and RL rewards, so "correct" means the same everywhere. Torch-free;
reasoning-gym is imported only when a reasoning-gym row is scored (its scorer is cached per task), and
math-verify only for rows whose `meta.grader` is `math` (equal by value, `stages._math_answer`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

Extract = Literal["answer_tag", "boxed", "raw", "choice"]

CORRECT = 1.0 - 1e-6
"""A reward at or above this counts as correct (reasoning-gym gives partial credit below 1)."""

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_BOXED = "\\boxed"
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def extract(text: str, how: Extract = "answer_tag") -> str | None:
    """The answer inside `text`: the last `<answer>..</answer>`, the last `\\boxed{..}`, or all of it."""
    if how == "raw":
        return text.strip()
    if how == "answer_tag":
        found = _ANSWER_TAG.findall(text)
        return found[-1].strip() if found else None
    if how == "boxed":
        return _last_boxed(text)
    raise ValueError(f"unknown extract mode {how!r}; use answer_tag, boxed or raw")


def _last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}`, braces balanced (so `\\boxed{\\frac{1}{2}}` works)."""
    start = text.rfind(_BOXED)
    while start != -1:
        i = start + len(_BOXED)
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1 : j].strip()
                j += 1
        start = text.rfind(_BOXED, 0, start)
    return None


def normalize(answer: str) -> str:
    """Case-folded, whitespace-collapsed text without a trailing period or surrounding `$`."""
    text = " ".join(str(answer).split()).casefold().strip("$ ")
    return text[:-1].rstrip() if text.endswith(".") else text


def _as_number(text: str) -> float | None:
    cleaned = text.replace(",", "").replace(" ", "")
    return float(cleaned) if _NUMBER.match(cleaned) else None


def exact_match(predicted: str | None, gold: Any) -> float:
    """1.0 when the normalised answers are equal; numbers by value (`3.0` == `3`, `1,000` == `1000`)."""
    if predicted is None or gold is None:
        return 0.0
    pred, ref = normalize(predicted), normalize(str(gold))
    if pred == ref:
        return 1.0
    pred_num, ref_num = _as_number(pred), _as_number(ref)
    if pred_num is not None and ref_num is not None:
        return float(math.isclose(pred_num, ref_num, rel_tol=1e-9, abs_tol=1e-9))
    return 0.0


@functools.cache
def _gym_scorer(task: str) -> Callable[..., float]:
    import reasoning_gym

    return reasoning_gym.get_score_answer_fn(task)


def score(row: Mapping[str, Any], response: str) -> float:
    """Reward of `response` for `row`: reasoning-gym's own scorer for its rows, math-verify for rows
    graded `math`, else exact match."""
    meta = row.get("meta") or {}
    if meta.get("extract") == "choice":
        from stages._mcq import choice

        return float(choice(response, meta.get("choices") or []) == row.get("answer"))
    predicted = extract(response, meta.get("extract", "answer_tag"))
    if meta.get("source") == "reasoning_gym":
        if predicted is None:
            return 0.0
        try:
            reward = float(_gym_scorer(meta["task"])(answer=predicted, entry=meta["entry"]))
        except Exception:  # a scorer crashing on a malformed answer means the answer is wrong
            return 0.0
        return min(1.0, max(0.0, reward))
    if meta.get("grader") == "math":
        from stages._math_answer import math_equal

        return math_equal(predicted, row.get("answer"))
    return exact_match(predicted, row.get("answer"))


def is_correct(reward: float) -> bool:
    """Whether a reward counts as a correct answer (full credit)."""
    return reward >= CORRECT
