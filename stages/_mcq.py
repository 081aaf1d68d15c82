"""Multiple-choice questions: checked records -> rows whose prompt lists the options as `A. ...`.

A row keeps its option letters in `meta.choices` and its gold letter in `answer`, so the verifier
(the first option letter of a response) and the split's letter-logit scorer need nothing else.
Torch-free. Every bad record is reported as `file:line: ...`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from schemas.data import McqData
from stages._context import StageError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class RowError(StageError):
    """A bad record of the file, at `path:line` (`plan` reports it located, the stage as one line)."""

    def __init__(self, path: Path, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


def _options(raw: Any) -> list[tuple[str, str]]:
    """(letter, text) pairs from a list or a letter -> text mapping; a missing or empty option is an error."""
    if isinstance(raw, list):
        pairs = list(zip(LETTERS, raw, strict=False))
    elif isinstance(raw, dict):
        pairs = sorted((str(k).strip().upper(), v) for k, v in raw.items())
        letters = [k for k, _ in pairs]
        expected = list(LETTERS[: len(pairs)])
        if letters != expected:
            gap = next((e for e, k in zip(expected, letters, strict=True) if e != k), expected[-1])
            raise ValueError(f"option {gap} is missing (options are {', '.join(letters)}; "
                             f"letter them {', '.join(expected)})")
    else:
        raise ValueError(f"options must be a list or a letter -> text mapping, got {type(raw).__name__}")
    if len(pairs) < 2:
        raise ValueError(f"a multiple-choice question needs at least 2 options, got {len(pairs)}")
    for letter, text in pairs:
        if text is None or not str(text).strip():
            raise ValueError(f"option {letter} is missing (empty)")
    return [(letter, str(text)) for letter, text in pairs]


def _gold(raw: Any, letters: Sequence[str]) -> tuple[str, str]:
    """The answer letter, and the form it was written in: a letter, or a 0-based index (a JSON number)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 0 <= raw < len(letters):
            raise ValueError(f"answer {raw} is not the 0-based index of an option (0 to {len(letters) - 1})")
        return letters[raw], "index"
    letter = str(raw).strip().upper() if isinstance(raw, str) else ""
    if letter not in letters:
        hint = "; a 0-based index is written as a JSON number" if str(raw).strip().isdigit() else ""
        raise ValueError(f"answer {raw!r} is not one of the options ({', '.join(letters)}){hint}")
    return letter, "letter"


def mcq_rows(spec: McqData) -> Iterator[dict[str, Any]]:
    """Rows of a multiple-choice JSONL file, checked line by line (RowError at the first bad record).

    One file writes its answers in one form, letters or 0-based indexes, and no two questions share an `id`."""
    path = Path(spec.path)
    if not path.is_file():
        raise StageError(f"data file {path} does not exist")
    count = 0
    form: tuple[str, int] | None = None
    ids: dict[Any, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), 1):  # not splitlines: \u2028
        if not line.strip():
            continue
        if spec.limit is not None and count >= spec.limit:
            return
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise RowError(path, number, f"not valid JSON ({err.msg}); write one JSON object a line") from err
        if not isinstance(record, dict):
            raise RowError(path, number, f"expected a JSON object, got {type(record).__name__}")
        for field in (spec.question_field, spec.options_field, spec.answer_field):
            if field not in record:
                raise RowError(path, number, f"no {field!r} field; fields are: {', '.join(record)}")
        try:
            options = _options(record[spec.options_field])
            letters = [letter for letter, _ in options]
            gold, written = _gold(record[spec.answer_field], letters)
        except ValueError as err:
            raise RowError(path, number, str(err)) from None
        if form is None:
            form = (written, number)
        elif written != form[0]:
            raise RowError(path, number, f"answer {record[spec.answer_field]!r} is {_FORMS[written]}, but line "
                           f"{form[1]} gives {_FORMS[form[0]]}: write every answer one way")
        if "id" in record:
            key = json.dumps(record["id"], sort_keys=True)
            if key in ids:
                raise RowError(path, number, f"id {record['id']!r} is also the id of line {ids[key]}; "
                               "give each question its own id")
            ids[key] = number
        listed = "\n".join(f"{letter}. {text}" for letter, text in options)
        prompt = f"{record[spec.question_field]}\n{listed}"
        if spec.instruction:
            prompt += f"\n{spec.instruction}"
        row: dict[str, Any] = {"id": record.get("id", count), "prompt": prompt, "answer": gold}
        if record.get("system") or spec.system:
            row["system"] = record.get("system") or spec.system
        row["meta"] = {"source": "mcq", "choices": letters, "extract": "choice"}
        count += 1
        yield row


_FORMS = {"letter": "a letter", "index": "a 0-based index"}

_LETTER = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")


def choice(text: str, letters: Sequence[str]) -> str | None:
    """The first standalone option letter in a response (`B`, `B.`, `(B)`, `Answer: B`), or None."""
    for match in _LETTER.finditer(text):
        if match.group(1) in letters:
            return match.group(1)
    return None


def is_mcq(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every row is a multiple-choice question (has its option letters)."""
    return bool(rows) and all((row.get("meta") or {}).get("choices") for row in rows)
