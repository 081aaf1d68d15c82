"""Local data: JSONL files and saved Hugging Face dataset folders, read at `plan` time.

Paths are relative to the recipe's folder. A local source is identified by its content, not its
path (a moved file stays cached, a replaced one does not), and a JSONL file is checked while its
bytes are read for the fingerprint: a bad line, a missing field or an empty file is a located
error before anything runs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, NamedTuple

from schemas import DatasetStage, HubData, JsonlData, McqData, MixData, ReasoningGymData
from sdk.errors import Problem, RecipeError
from sdk.recipe.loader import Document, Path_, dotted
from stages import JsonlError, McqRowError, checked_rows, first_without, mcq_rows


class LocalPart(NamedTuple):
    """A data spec as the stage will read it (paths absolute), its content digest, and its row count."""

    spec: Any
    digest: str | None = None
    rows: int | None = None
    """Known before running: a JSONL file's rows, a reasoning-gym task's size (None: unknown until read)."""
    domains: frozenset[str] | None = None
    """A local multiple-choice file with a `domain_field`: its rows' domain values (None: not known here, or
    the rows have none and each is in its dataset's domain)."""


def dataset_stage(name: str, data: Any, doc: Document) -> tuple[DatasetStage, int | None, frozenset[str] | None]:
    """The source stage of a named dataset, with the number of rows it will have and its rows' domains, where
    those are known."""
    if not isinstance(data, MixData):
        part = local_part(data, doc, ("data", name))
        return DatasetStage(id=name, data=part.spec, content=part.digest), part.rows, part.domains
    parts = [local_part(p, doc, ("data", name, "parts", i)) for i, p in enumerate(data.parts)]
    digests = [p.digest for p in parts if p.digest]
    content = hashlib.sha256("".join(digests).encode()).hexdigest() if digests else None
    rows = None if any(p.rows is None for p in parts) else sum(p.rows or 0 for p in parts)
    if rows is not None and data.limit is not None:
        rows = min(rows, data.limit)
    return DatasetStage(id=name, data=data.model_copy(update={"parts": [p.spec for p in parts]}),
                        content=content), rows, None


def local_part(data: Any, doc: Document, where: Path_) -> LocalPart:
    if isinstance(data, JsonlData) or (isinstance(data, McqData) and data.path is not None):
        return _jsonl(data, doc, where)
    if isinstance(data, (HubData, McqData)):
        return _hf_folder(data, doc, where)
    if isinstance(data, ReasoningGymData):
        unknown = data.unknown_config()
        if unknown:
            raise RecipeError([doc.problem((*where, "config", key), f"{data.task} has no config key {key!r}",
                                           key=True, hint=hint) for key, hint in unknown])
        return LocalPart(data, rows=data.size if data.limit is None else min(data.size, data.limit))
    return LocalPart(data)


def _needed(data: JsonlData | McqData) -> dict[str, Any]:
    """What every row of the file must have, as `checked_rows` takes it."""
    if isinstance(data, McqData):
        required = {data.question_field: "question_field", data.options_field: "options_field"}
        if data.domain_field:
            required[data.domain_field] = "domain_field"
        return {"required": required, "answer": data.answer_field}
    return {"required": {data.prompt_field: "prompt_field"}, "answer": data.answer_field,
            "response": data.response_field}


def _jsonl(data: JsonlData | McqData, doc: Document, where: Path_) -> LocalPart:
    path = (doc.base_dir / Path(str(data.path)).expanduser()).resolve()
    if not path.is_file():
        raise RecipeError(doc.problem((*where, "path"), f"no such file: {path}"))
    raw = path.read_bytes()
    try:
        rows = checked_rows(raw, **_needed(data))
    except JsonlError as err:
        if not err.line:
            raise RecipeError(doc.problem((*where, "path"), f"{path}: {err.message}")) from None
        raise RecipeError(Problem(err.message, str(path), err.line, err.col, dotted(where))) from None
    if data.limit is not None:
        rows = min(rows, data.limit)
    resolved = data.model_copy(update={"path": str(path)})
    domains = None
    if isinstance(resolved, McqData):  # every row rule the stage applies, now: options, answer, ids
        try:
            found = frozenset(str(row["meta"]["domain"]) for row in mcq_rows(resolved) if "domain" in row["meta"])
        except McqRowError as err:
            raise RecipeError(Problem(err.message, str(path), err.line, 1, dotted(where))) from None
        domains = found if resolved.domain_field else None
    return LocalPart(resolved, hashlib.sha256(raw).hexdigest(), rows, domains)


def _hf_folder(data: HubData | McqData, doc: Document, where: Path_) -> LocalPart:
    """A folder saved with `datasets` (relative to the recipe) is read from disk and fingerprinted; else a hub id."""
    folder = doc.base_dir / Path(str(data.id)).expanduser()
    if folder.is_dir():
        return LocalPart(data.model_copy(update={"id": str(folder.resolve())}), folder_digest(folder.resolve()))
    if str(data.id).startswith((".", "/", "~")):
        raise RecipeError(doc.problem((*where, "id"), f"no dataset folder at {folder.resolve()}",
                                      hint="give a folder saved with `datasets`, or a Hugging Face dataset id"))
    return LocalPart(data)


def folder_digest(folder: Path, edge: int = 1 << 20) -> str:
    """Identify a folder by its files: name, size, and the first and last MiB of each.

    Reading whole multi-GB weights at every `plan` would be slow; mtimes would differ on every copy
    of the folder. The edges of a safetensors or arrow file cover its header and first records.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder)}\0{size}\0".encode())
        with open(path, "rb") as fh:
            digest.update(fh.read(edge))
            if size > 2 * edge:
                fh.seek(-edge, os.SEEK_END)
                digest.update(fh.read(edge))
    return digest.hexdigest()


def small_data_warnings(stages: Any, rows: dict[str, int], doc: Document) -> tuple[str, ...]:
    """A dataset with fewer rows than one batch of a stage that trains on it (worth a warning, not an error)."""
    warnings = []
    for stage in stages:
        field = stage.spec.BATCH  # the kinds that draw a batch of rows every step
        data = dict(stage.inputs).get("data")
        if field is None or data not in rows:
            continue
        batch = getattr(stage.spec, field[0])
        if rows[data] < batch:
            where = doc.locate((*stage.origin, field[0]))
            warnings.append(f"{where.file}:{where.line}:{where.col}: {stage.id}: dataset {data!r} has "
                            f"{rows[data]} rows, fewer than one batch ({field[0]} {batch} {field[1]})")
    return tuple(warnings)


def response_gap(data: Any) -> int | None:
    """For a JSONL source: the line of the first row without a response (an sft stage may train on them)."""
    if not isinstance(data, JsonlData) or data.response_field is None:
        return None
    return first_without(Path(data.path).read_bytes(), data.response_field, data.limit)


def response_problems(stages: Any, gaps: dict[str, int]) -> list[Problem]:
    """An sft stage that trains on responses, fed straight from a JSONL file some row of which has none:
    the file's first such line, before anything runs (else the stage fails after those before it ran)."""
    by_id = {stage.id: stage for stage in stages}
    problems = []
    for stage in stages:
        name = dict(stage.inputs).get("data", "")
        if stage.kind != "sft" or stage.spec.target != "response" or name not in gaps:
            continue
        data = by_id[name].spec.data
        problems.append(Problem(f"no {data.response_field!r} field (response_field), which stage {stage.id!r} "
                                "trains on", data.path, gaps[name], 1, f"data.{name}",
                                "set `target: answer` on the stage to train on the gold answers"))
    return problems


def domain_problems(stages: Any, domains: dict[str, frozenset[str]], doc: Document) -> list[Problem]:
    """A stage that maps its questions' domains (cognition attribution's `domains`) whose local questions have
    domain values outside the map: located at the data's `domain_field`, before anything runs."""
    problems = []
    seen: set[str] = set()  # one problem a dataset, not one for each model that reads it
    for stage in stages:
        mapping = stage.spec.domain_map() if callable(getattr(stage.spec, "domain_map", None)) else None
        name = dict(stage.inputs).get("data", "")
        if mapping is None or name not in domains or name in seen:
            continue
        seen.add(name)
        missing = sorted(domains[name] - set(mapping))
        if missing:
            shown = ", ".join(map(repr, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            problems.append(doc.problem(("data", name, "domain_field"), f"{len(missing)} domain value(s) of {name!r} "
                                        f"are not in the domain map of stage {stage.id!r}: {shown}",
                                        hint="add them to `domains`, or leave `domains` out to report the values "
                                        "as they are"))
    return problems
