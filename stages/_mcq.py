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
    if isinstance(raw, str):
        pairs = _lettered(raw)
    elif isinstance(raw, list):
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


_OPTION_MARK = re.compile(r"(?:^|\s*,\s*)([a-zA-Z])\s*\)\s*")


def _lettered(raw: str) -> list[tuple[str, str]]:
    """`a ) 38 , b ) 27.6 , c ) 30` (MathQA's one-string form) as (letter, text) pairs, letters in order."""
    marks = list(_OPTION_MARK.finditer(raw))
    letters = [m.group(1).upper() for m in marks]
    if not marks or marks[0].start() != 0 or letters != list(LETTERS[: len(letters)]):
        raise ValueError("options as one string must read `a ) ... , b ) ... , c ) ...` (MathQA's form); "
                         "otherwise give a list or a letter -> text mapping")
    ends = [m.start() for m in marks[1:]] + [len(raw)]
    return [(letter, raw[m.end():end].strip()) for letter, m, end in zip(letters, marks, ends, strict=True)]


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


def _records(spec: McqData) -> Iterator[tuple[int, Any]]:
    """(line or row number, record) of the questions: a JSONL file's lines, or a hub dataset's rows."""
    if spec.id is not None:
        from stages._hub import load_hub

        for number, record in enumerate(load_hub(spec.id, spec.name, spec.split or "train", spec.limit), 1):
            yield number, dict(record)
        return
    path = Path(str(spec.path))
    if not path.is_file():
        raise StageError(f"data file {path} does not exist")
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), 1):  # not splitlines: \u2028
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as err:
            raise RowError(path, number, f"not valid JSON ({err.msg}); write one JSON object a line") from err


def mcq_rows(spec: McqData) -> Iterator[dict[str, Any]]:
    """Rows of multiple-choice questions, checked record by record (RowError at the first bad one).

    One source writes its answers in one form, letters or 0-based indexes, and no two questions share an `id`.
    Each row keeps the question with its lettered options (`meta.question`, without the instruction) and,
    with `domain_field`, the question's domain (`meta.domain`)."""
    where = Path(spec.where)
    count = 0
    form: tuple[str, int] | None = None
    ids: dict[Any, int] = {}
    fields = [spec.question_field, spec.options_field, spec.answer_field]
    if spec.domain_field:
        fields.append(spec.domain_field)
    for number, record in _records(spec):
        if not isinstance(record, dict):
            raise RowError(where, number, f"expected a JSON object, got {type(record).__name__}")
        for field in fields:
            if field not in record:
                raise RowError(where, number, f"no {field!r} field; fields are: {', '.join(record)}")
        try:
            options = _options(record[spec.options_field])
            letters = [letter for letter, _ in options]
            gold, written = _gold(record[spec.answer_field], letters)
        except ValueError as err:
            raise RowError(where, number, str(err)) from None
        if form is None:
            form = (written, number)
        elif written != form[0]:
            raise RowError(where, number, f"answer {record[spec.answer_field]!r} is {_FORMS[written]}, but line "
                           f"{form[1]} gives {_FORMS[form[0]]}: write every answer one way")
        if "id" in record:
            key = json.dumps(record["id"], sort_keys=True)
            if key in ids:
                raise RowError(where, number, f"id {record['id']!r} is also the id of line {ids[key]}; "
                               "give each question its own id")
            ids[key] = number
        listed = "\n".join(f"{letter}. {text}" for letter, text in options)
        question = f"{record[spec.question_field]}\n{listed}"
        prompt = f"{question}\n{spec.instruction}" if spec.instruction else question
        row: dict[str, Any] = {"id": record.get("id", count), "prompt": prompt, "answer": gold}
        if record.get("system") or spec.system:
            row["system"] = record.get("system") or spec.system
        row["meta"] = {"source": "mcq", "choices": letters, "extract": "choice", "question": question}
        if spec.domain_field:
            row["meta"]["domain"] = str(record[spec.domain_field])
        count += 1
        yield row
        if spec.limit is not None and count >= spec.limit:
            return  # before the next record is read: lines past the limit are never parsed


_FORMS = {"letter": "a letter", "index": "a 0-based index"}

LETTER = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")
"""A capital letter standing alone (`B`, `B.`, `(B)`), as option letters are written in answers."""


def choice(text: str, letters: Sequence[str]) -> str | None:
    """The first standalone option letter in a response (`B`, `B.`, `(B)`, `Answer: B`), or None."""
    for match in LETTER.finditer(text):
        if match.group(1) in letters:
            return match.group(1)
    return None


def is_mcq(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every row is a multiple-choice question (has its option letters)."""
    return bool(rows) and all((row.get("meta") or {}).get("choices") for row in rows)
