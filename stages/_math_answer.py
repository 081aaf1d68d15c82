"""Math answers compared by value with HF's `math-verify`: `\\frac{1}{2}` equals `0.5`, `x=3` equals `3`.

Competition math has many ways to write one answer, so a string compare marks right answers wrong.
`math-verify` parses both sides to sympy and compares them (numbers, expressions, sets, intervals,
equations). It is imported on first use only (the `train` extra installs it). Its timeouts use
`signal.alarm`, which works only in the main thread; elsewhere the comparison runs without one.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from stages._context import StageError

TIMEOUT_S = 5
"""Longest time one parse or comparison may take (a pathological expression is wrong, not a hang)."""


def _library() -> Any:
    try:
        import math_verify
    except ImportError as err:
        raise StageError("grader 'math' needs math-verify: pip install 'recipe[train]' "
                         "(or pip install math-verify)") from err
    return math_verify


def _timeout() -> int | None:
    return TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


def _parse(text: str) -> list[Any]:
    """Parse one answer written as LaTeX or plain math (`$...$` around it or not); [] when unparsable."""
    body = text.strip().strip("$").strip()
    if not body:
        return []
    try:
        return _library().parse(f"${body}$", parsing_timeout=_timeout())
    except StageError:
        raise
    except Exception:  # math-verify returns [] on its own errors; anything else is an unparsable answer
        return []


@functools.lru_cache(maxsize=4096)
def _parse_gold(text: str) -> tuple[Any, ...]:
    return tuple(_parse(text))


def math_equal(predicted: str | None, gold: Any) -> float:
    """1.0 when `predicted` is mathematically equal to `gold` (math-verify), else 0.0; never raises on input.

    >>> math_equal("0.5", "\\\\frac{1}{2}"), math_equal("x=3", "3"), math_equal("}{", "3")
    (1.0, 1.0, 0.0)
    """
    if predicted is None or gold is None:
        return 0.0
    reference, answer = list(_parse_gold(str(gold))), _parse(predicted)
    if not reference or not answer:
        return 0.0
    try:
        return float(_library().verify(reference, answer, timeout_seconds=_timeout()))
    except Exception:  # a comparison that crashes is not a match
        return 0.0
