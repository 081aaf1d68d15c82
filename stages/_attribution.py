"""Cognition attribution's arithmetic, torch-free: reading a letter out of a fast or a slow answer, the
judge's verdict, and the decomposition of the reasoning gain with paired standard errors.

    A_fast = mean 1[fast right]                 (knowledge)
    A_slow = mean 1[slow right]
    delta  = A_slow - A_fast = delta_c - delta_o (exactly: the same questions)
    delta_c = mean 1[fast wrong, slow right]    (correction),   r_c = its count / questions fast got wrong
    delta_o = mean 1[fast right, slow wrong]    (overthinking), r_o = its count / questions fast got right
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from stages._mcq import LETTER

Verdict = Literal["correct", "incorrect", "uncertain"]

_MARKED = re.compile(r"(?i:(?:answer|solution)(?:\s+(?:is|would be|should be))?|(?:option|choice)\s+(?:is|would be))"
                     r"\s*[:：]?\s*(?:\*\*|\()?\s*([A-Z])(?![A-Za-z])")
"""`Answer: B`, `the answer is (C)`, `**Answer:** D`, `the correct option is A` (not a bare `option A`)."""
_BOXED = re.compile(r"\\boxed\{\s*\(?([A-Z])\)?\s*\}")
_ARTICLE = re.compile(r"[AI] [a-z]")
"""`A spider ...`, `I think ...`: the English words A and I, not option letters."""


def _standalone(text: str, letters: Sequence[str]) -> list[str]:
    return [m.group(1) for m in LETTER.finditer(text)
            if m.group(1) in letters and not _ARTICLE.match(text, m.start())]


def _without_echoes(text: str, options: Mapping[str, str]) -> str:
    """The text without the question's option list repeated back (two or more `A. ...` lines in a row)."""
    lines = text.split("\n")
    listed = {f"{letter}. {option}".strip() for letter, option in options.items()}
    keep, run = [], []
    for line in [*lines, None]:
        if line is not None and line.strip() in listed:
            run.append(line)
            continue
        if len(run) == 1:
            keep.extend(run)
        run = []
        if line is not None:
            keep.append(line)
    return "\n".join(keep)


_ANSWER_TEXT = re.compile(r"(?i:answer)(?:\s+to\s+this\s+question)?(?:\s+(?i:is))?\s*[:：]?[ \t]*([^\n]+)")


def _by_text(text: str, options: Mapping[str, str]) -> list[tuple[int, str]]:
    """(position, letter) where an answer is given as an option's text (`the answer is 14`)."""
    by_text = {option.strip().rstrip(".").casefold(): letter for letter, option in options.items()}
    found = []
    for match in _ANSWER_TEXT.finditer(text):
        said = match.group(1).strip().rstrip(".").strip("*").strip().casefold()
        if said in by_text:
            found.append((match.start(), by_text[said]))
    return found


def options_of(question: str, letters: Sequence[str]) -> dict[str, str]:
    """The option texts of a listed question (`A. Paris` lines), by letter."""
    found = {}
    for line in question.split("\n"):
        head, dot, rest = line.partition(". ")
        if dot and head in letters and head not in found:
            found[head] = rest
    return found


def answer_letter(text: str, letters: Sequence[str], mode: Literal["fast", "slow"],
                  options: Mapping[str, str] | None = None) -> str | None:
    """The option letter an answer gives, or None when it gives none.

    An option list repeated back is ignored. A boxed letter, or one marked as the answer (`Answer: B`, `the
    answer is (C)`), or an option's text marked so (`the answer is 14`) wins: the last in a slow answer (its
    Solution comes last), the first in a fast one. Else a fast answer's first standalone letter (`B`, `(B)`),
    and the last one in a slow answer's Solution section; a slow answer cut off in its Thought gives none."""
    options = options or {}
    text = _without_echoes(text, options) if options else text
    boxed = [m.group(1) for m in _BOXED.finditer(text) if m.group(1) in letters]
    if boxed:
        return boxed[-1] if mode == "slow" else boxed[0]
    marked = sorted([*((m.start(), m.group(1)) for m in _MARKED.finditer(text) if m.group(1) in letters),
                     *_by_text(text, options)])
    if marked:
        return marked[-1][1] if mode == "slow" else marked[0][1]
    if mode == "fast":
        found = _standalone(text, letters)
        return found[0] if found else None
    if "Solution" not in text:
        return None
    found = _standalone(text[text.rfind("Solution") :], letters)
    return found[-1] if found else None


_VERDICT = re.compile(r"\b(incorrect|correct|uncertain)\b", re.IGNORECASE)


def verdict(text: str) -> tuple[Verdict, bool]:
    """The judge's first verdict word, and whether it gave one (an answer with none counts as uncertain)."""
    match = _VERDICT.search(text)
    return (match.group(1).lower(), True) if match else ("uncertain", False)  # type: ignore[return-value]


def judge_request(prompt: str, question: str, response: str, answer: str) -> str:
    """What the judge reads for one answer: its instructions, then the question, the answer and the gold one."""
    return f"{prompt.rstrip()}\n\nQuestion:\n{question}\n\nLLM output:\n{response}\n\nCorrect answer: {answer}"


def _mean_se(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and its standard error (sample standard deviation / sqrt(n)); None for no values, se None for one."""
    n = len(values)
    if n == 0:
        return None, None
    mean = sum(values) / n
    if n == 1:
        return mean, None
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def decompose(fast: Sequence[bool], slow: Sequence[bool]) -> dict[str, Any]:
    """The paper's metrics on one set of questions (fast[i] and slow[i]: question i right in that mode), each
    with its standard error over questions; the rates' errors are over the questions of their denominator."""
    if len(fast) != len(slow):
        raise ValueError(f"{len(fast)} fast and {len(slow)} slow answers; one of each per question")
    f = [float(x) for x in fast]
    s = [float(x) for x in slow]
    corrected = [float(not a and b) for a, b in zip(fast, slow, strict=True)]
    overthought = [float(a and not b) for a, b in zip(fast, slow, strict=True)]
    fast_wrong = [float(b) for a, b in zip(fast, slow, strict=True) if not a]
    fast_right = [float(not b) for a, b in zip(fast, slow, strict=True) if a]
    out: dict[str, Any] = {"n": len(f), "fast_wrong": len(fast_wrong), "fast_right": len(fast_right)}
    for name, values in (("A_fast", f), ("A_slow", s), ("delta", [b - a for a, b in zip(f, s, strict=True)]),
                         ("delta_c", corrected), ("delta_o", overthought), ("r_c", fast_wrong), ("r_o", fast_right)):
        out[name], out[f"{name}_se"] = _mean_se(values)
    return out


def by_domain(domains: Sequence[str], fast: Sequence[bool], slow: Sequence[bool]) -> dict[str, dict[str, Any]]:
    """`decompose` of each domain's questions, domains in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, domain in enumerate(domains):
        groups.setdefault(domain, []).append(index)
    return {d: decompose([fast[i] for i in ix], [slow[i] for i in ix]) for d, ix in groups.items()}


def reported_domain(row: Mapping[str, Any], mapping: Mapping[str, str] | None, fallback: str) -> str | None:
    """The domain a row is reported under: its `meta.domain` through the map (None: not in the map), the value
    itself without a map, and `fallback` (the data's name: MathQA, MedQA) for a row that has no domain."""
    raw = (row.get("meta") or {}).get("domain")
    if raw is None:
        return fallback
    return str(raw) if mapping is None else mapping.get(str(raw))
