"""JSONL bytes -> numbered rows, with one located error for the first thing wrong (line and column, 1-based).

Shared by the stage that reads a file and by `plan`, which already reads the bytes to fingerprint them:
a malformed line, a missing field or an empty file is found before anything runs. A UTF-8 BOM is
accepted (editors on Windows write one), as the recipe loader accepts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class JsonlError(ValueError):
    """Where a JSONL file is wrong: 1-based line and column (0 when the whole file is wrong)."""

    def __init__(self, line: int, col: int, message: str):
        self.line, self.col, self.message = line, col, message
        super().__init__(f"line {line}: {message}" if line else message)


def numbered_rows(raw: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a JsonlError at the first bad one."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise JsonlError(line, col, "not UTF-8 text") from None
    # Lines end at "\n" only: str.splitlines also splits at \x0b, \x0c, \x1c-\x1e, \x85 and \u2028,
    # which json.dumps(ensure_ascii=False) leaves raw inside strings (a tiny model's samples have them).
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise JsonlError(number, err.colno, f"not valid JSON ({err.msg}); write one JSON object a line") from None
        if not isinstance(row, dict):
            raise JsonlError(number, 1, f"expected a JSON object, got {type(row).__name__}")
        yield number, row


def checked_rows(raw: bytes, required: Mapping[str, str], answer: str | None = None,
                 response: str | None = None) -> int:
    """How many rows the file has, each with every `required` field (field -> the setting that names it)
    and its `answer` field (or, when given, a `response`); else a JsonlError at the first bad row."""
    count = 0
    for number, row in numbered_rows(raw):
        needed = dict(required)
        if answer is not None and (response is None or response not in row):
            needed[answer] = "answer_field"
        missing = next((f for f in needed if f not in row), None)
        if missing is not None:
            fields = ", ".join(row) or "none"
            raise JsonlError(number, 1, f"no {missing!r} field ({needed[missing]}); its fields: {fields}")
        count += 1
    if count == 0:
        raise JsonlError(0, 0, "the file has no rows (it is empty or blank)")
    return count


def first_without(raw: bytes, field: str, limit: int | None = None) -> int | None:
    """The line number of the first row (of the first `limit`) that lacks `field`; None when all have it."""
    for index, (number, row) in enumerate(numbered_rows(raw)):
        if limit is not None and index >= limit:
            return None
        if row.get(field) is None:
            return number
    return None
