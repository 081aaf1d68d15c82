"""Rows on disk: JSONL read and write, and each data source turned into `{id, prompt, answer, meta}` rows.

Every row carries what its verifier needs in `meta` (`extract`, `grader: math` for math-verify, and for
reasoning-gym the task name and the whole generated entry), so later stages never go back to the data spec.
"""

from __future__ import annotations

import difflib
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from schemas import HubData, JsonlData, McqData, MixData, ReasoningGymData
from stages._context import StageError
from stages._hub import load_hub
from stages._jsonl import JsonlError, numbered_rows


def _jsonable(value: Any) -> Any:
    """numpy scalars and other odd values from generators, as plain JSON."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a JSONL file (a UTF-8 BOM is fine); a broken line is a StageError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise StageError(f"data file {path} does not exist")
    try:
        return [row for _, row in numbered_rows(path.read_bytes())]
    except JsonlError as err:
        raise StageError(f"{path}:{err.line}:{err.col}: {err.message}") from err


def write_rows(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as JSONL (one object a line); returns how many."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=_jsonable) + "\n")
            count += 1
    return count


def _prompt(question: str, instruction: str | None) -> str:
    return f"{question}\n{instruction}" if instruction else question


def _row(spec: Any, row_id: Any, question: str, answer: Any, meta: dict[str, Any],
         **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": row_id, "prompt": _prompt(question, spec.instruction),
                           "answer": None if answer is None else str(answer)}
    system = extra.pop("system", None) or spec.system
    if system:
        row["system"] = system
    row.update({k: v for k, v in extra.items() if v is not None})
    row["meta"] = {**meta, "extract": spec.extract}
    if getattr(spec, "grader", "exact") != "exact":  # only then, so rows of other datasets stay as they were
        row["meta"]["grader"] = spec.grader
    return row


def reasoning_gym_rows(spec: ReasoningGymData) -> Iterator[dict[str, Any]]:
    """Generate a reasoning-gym task; its entry (answer and metadata) goes into `meta` for scoring."""
    import reasoning_gym
    from reasoning_gym.factory import DATASETS

    if spec.task not in DATASETS:
        close = difflib.get_close_matches(spec.task, list(DATASETS), n=5, cutoff=0.5)
        hint = f"did you mean: {', '.join(close)}?" if close else "e.g. basic_arithmetic, knights_knaves"
        raise StageError(f"unknown reasoning-gym task {spec.task!r}; {hint}")
    try:
        dataset = reasoning_gym.create_dataset(spec.task, size=spec.size, seed=spec.seed, **spec.config)
    except (TypeError, ValueError, AssertionError) as err:
        raise StageError(f"bad config for reasoning-gym task {spec.task!r}: {err}") from err
    count = spec.size if spec.limit is None else min(spec.size, spec.limit)
    for index in range(count):
        entry = json.loads(json.dumps(dataset[index], default=_jsonable))
        meta = {"source": "reasoning_gym", "task": spec.task, "entry": entry}
        yield _row(spec, f"{spec.task}/{spec.seed}/{index}", entry["question"], entry["answer"], meta)


def _record_rows(spec: JsonlData | HubData, records: Iterable[Mapping[str, Any]], where: str,
                 source: str) -> Iterator[dict[str, Any]]:
    """Rows from dict records with configurable field names (JSONL lines, hub dataset rows)."""
    for index, record in enumerate(records):
        if spec.limit is not None and index >= spec.limit:
            return
        if spec.prompt_field not in record:
            raise StageError(f"{where}: row {index} has no {spec.prompt_field!r} field (prompt_field); "
                             f"fields are: {', '.join(record)}")
        response = record.get(spec.response_field) if spec.response_field else None
        if spec.answer_field not in record and response is None:
            raise StageError(f"{where}: row {index} has no {spec.answer_field!r} field (answer_field); "
                             f"fields are: {', '.join(record)}")
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        yield _row(spec, record.get("id", index), str(record[spec.prompt_field]),
                   record.get(spec.answer_field), {**meta, "source": source},
                   system=record.get("system"), response=response)


def jsonl_rows(spec: JsonlData) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file (path made absolute by the compiler); ids default to the line index."""
    yield from _record_rows(spec, read_rows(spec.path), spec.path, "jsonl")


def hub_rows(spec: HubData) -> Iterator[dict[str, Any]]:
    """Rows of a Hugging Face dataset, from the hub or a local `save_to_disk` folder."""
    yield from _record_rows(spec, load_hub(spec.id, spec.name, spec.split, spec.limit), spec.id, "hf")


def mix_rows(spec: MixData) -> Iterator[dict[str, Any]]:
    """The parts' rows, ids prefixed by the part's index (two parts may number rows alike), seeded order."""
    rows = [{**row, "id": f"{i}:{row['id']}"} for i, part in enumerate(spec.parts) for row in rows_for(part)]
    if spec.shuffle:
        random.Random(spec.seed).shuffle(rows)
    return iter(rows[: spec.limit] if spec.limit else rows)


def rows_for(spec: ReasoningGymData | JsonlData | McqData | HubData | MixData) -> Iterator[dict[str, Any]]:
    """The rows of any data spec."""
    if isinstance(spec, MixData):
        return mix_rows(spec)
    if isinstance(spec, McqData):
        from stages._mcq import mcq_rows

        return mcq_rows(spec)
    if isinstance(spec, ReasoningGymData):
        return reasoning_gym_rows(spec)
    if isinstance(spec, JsonlData):
        return jsonl_rows(spec)
    return hub_rows(spec)
