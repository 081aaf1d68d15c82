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


def _options(raw: Any, where: str) -> list[tuple[str, str]]:
    """(letter, text) pairs from a list or a letter -> text mapping; a missing or empty option is an error."""
    if isinstance(raw, list):
        pairs = list(zip(LETTERS, raw, strict=False))
    elif isinstance(raw, dict):
        pairs = sorted((str(k).strip().upper(), v) for k, v in raw.items())
        letters = [k for k, _ in pairs]
        expected = list(LETTERS[: len(pairs)])
        if letters != expected:
            gap = next((e for e, k in zip(expected, letters, strict=True) if e != k), expected[-1])
            raise StageError(f"{where}: option {gap} is missing (options are {', '.join(letters)}; "
                             f"letter them {', '.join(expected)})")
    else:
        raise StageError(f"{where}: options must be a list or a letter -> text mapping, got {type(raw).__name__}")
    if len(pairs) < 2:
        raise StageError(f"{where}: a multiple-choice question needs at least 2 options, got {len(pairs)}")
    for letter, text in pairs:
        if text is None or not str(text).strip():
            raise StageError(f"{where}: option {letter} is missing (empty)")
    return [(letter, str(text)) for letter, text in pairs]


def _gold(raw: Any, letters: Sequence[str], where: str) -> str:
    """The answer letter; a 0-based index is accepted too."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(letters):
        return letters[raw]
    letter = str(raw).strip().upper() if raw is not None else ""
    if letter not in letters:
        raise StageError(f"{where}: answer {raw!r} is not one of the options ({', '.join(letters)})")
    return letter


def mcq_rows(spec: McqData) -> Iterator[dict[str, Any]]:
    """Rows of a multiple-choice JSONL file, checked line by line."""
    path = Path(spec.path)
    if not path.is_file():
        raise StageError(f"data file {path} does not exist")
    count = 0
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), 1):  # not splitlines: \u2028
        if not line.strip():
            continue
        if spec.limit is not None and count >= spec.limit:
            return
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise StageError(f"{where}: not valid JSON ({err.msg}); write one JSON object a line") from err
        if not isinstance(record, dict):
            raise StageError(f"{where}: expected a JSON object, got {type(record).__name__}")
        for field in (spec.question_field, spec.options_field, spec.answer_field):
            if field not in record:
                raise StageError(f"{where}: no {field!r} field; fields are: {', '.join(record)}")
        options = _options(record[spec.options_field], where)
        letters = [letter for letter, _ in options]
        listed = "\n".join(f"{letter}. {text}" for letter, text in options)
        prompt = f"{record[spec.question_field]}\n{listed}"
        if spec.instruction:
            prompt += f"\n{spec.instruction}"
        row: dict[str, Any] = {"id": record.get("id", count), "prompt": prompt,
                               "answer": _gold(record[spec.answer_field], letters, where)}
        if record.get("system") or spec.system:
            row["system"] = record.get("system") or spec.system
        row["meta"] = {"source": "mcq", "choices": letters, "extract": "choice"}
        count += 1
        yield row


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
