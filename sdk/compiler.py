"""compile: a validated recipe -> a Plan (stage DAG with fingerprints), checking references first.

    recipe --expander--> stage specs --matrix--> branches --refs--> DAG --topo--> fingerprints

Named models and data become `model` / `dataset` source stages (only those some stage uses).
Every check that needs more than one field (unknown or mistyped reference, cycles, missing local
files) happens here, located in the file, before anything expensive starts.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import os
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, NamedTuple

from schemas import DatasetStage, JsonlData, McqData, MixData, ModelStage, StageSpec, input_refs
from sdk.errors import Problem, RecipeError
from sdk.fanout import fan_out
from sdk.loader import Document, Path_, refuse_secret_values
from sdk.plan import Plan, Stage, fingerprint, fingerprint_payload
from sdk.registry import RECIPE_EXPANDERS


class Expanded(NamedTuple):
    """A stage spec and the place in the recipe it comes from."""

    spec: StageSpec
    origin: Path_


def compile_recipe(recipe: Any) -> Plan:
    """Compile a recipe into its Plan, or raise a RecipeError that lists every problem found."""
    doc: Document = recipe._source or Document({}, "<recipe>", Path.cwd())
    refuse_secret_values(Document(recipe.model_dump(mode="json"), doc.file, doc.base_dir, doc.keys, doc.values))
    module, _, attr = RECIPE_EXPANDERS[recipe.recipe].partition(":")
    expanded = getattr(importlib.import_module(module), attr)(recipe)
    expanded = fan_out(expanded, doc)
    sources = _sources(recipe, expanded, doc)
    nodes = {e.spec.id: e for e in [*sources, *expanded]}
    graph = _edges(nodes, doc)
    try:
        order = _stable_order(graph)
    except CycleError as err:
        cycle = err.args[1]
        raise RecipeError(doc.problem(nodes[cycle[0]].origin, "stages depend on each other in a cycle: "
                                      + " -> ".join(cycle))) from None
    stages: dict[str, Stage] = {}
    for sid in order:
        spec, origin = nodes[sid]
        inputs = graph[sid]
        payload = fingerprint_payload(spec, {slot: stages[dep].fingerprint for slot, dep in inputs})
        stages[sid] = Stage(sid, spec, tuple(inputs), fingerprint(payload), payload, origin)
    return Plan(recipe.name, tuple(stages.values()), recipe.store, recipe.tracking.model_dump())


def _stable_order(graph: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Topological order that keeps the file's order wherever dependencies allow (sources first)."""
    TopologicalSorter({k: {d for _, d in v} for k, v in graph.items()}).prepare()  # raises CycleError
    done: list[str] = []
    left = list(graph)
    while left:
        ready = next(k for k in left if all(d in done for _, d in graph[k]))
        done.append(ready)
        left.remove(ready)
    return done


def _sources(recipe: Any, expanded: list[Expanded], doc: Document) -> list[Expanded]:
    """Source stages for the named models and data that some stage refers to."""
    used = {ref for e in expanded for _, ref in input_refs(e.spec)}
    ids = {e.spec.id for e in expanded}
    problems = [doc.problem(e.origin + ("id",), f"stage id {e.spec.id!r} is also the name of a model or dataset",
                            hint="rename the stage") for e in expanded
                if e.spec.id in recipe.models or e.spec.id in recipe.data]
    clash = set(recipe.models) & set(recipe.data)
    problems += [doc.problem(("data", name), f"{name!r} names both a model and a dataset", key=True)
                 for name in clash]
    if problems:
        raise RecipeError(problems)
    out: list[Expanded] = []
    for name, model in recipe.models.items():
        if name in used and name not in ids:
            out.append(Expanded(_model_stage(name, model, doc), ("models", name)))
    for name, data in recipe.data.items():
        if name in used and name not in ids:
            out.append(Expanded(_dataset_stage(name, data, doc), ("data", name)))
    return out


def _model_stage(name: str, model: Any, doc: Document) -> ModelStage:
    local = (doc.base_dir / Path(model.source).expanduser())
    if model.origin == "path" or (model.origin == "hub" and local.is_dir()):
        if not (local / "config.json").is_file():
            raise RecipeError(doc.problem(("models", name), f"no model folder at {local} (config.json missing)",
                                          hint="give an existing folder, or a Hugging Face id"))
        content = folder_digest(local)
        return ModelStage(id=name, model=model.model_copy(update={"source": str(local.resolve())}),
                          content=content)
    return ModelStage(id=name, model=model)


def folder_digest(folder: Path, edge: int = 1 << 20) -> str:
    """Identify a model folder by its files: name, size, and the first and last MiB of each.

    Reading whole multi-GB weights at every `plan` would be slow; mtimes would differ on every copy
    of the folder. The edges of a safetensors file cover its header and the first tensors.
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


def _dataset_stage(name: str, data: Any, doc: Document) -> DatasetStage:
    if isinstance(data, LOCAL_FILES):
        data, content = _local_jsonl(data, doc, ("data", name, "path"))
        return DatasetStage(id=name, data=data, content=content)
    if isinstance(data, MixData) and any(isinstance(p, LOCAL_FILES) for p in data.parts):
        parts, digests = [], []
        for i, part in enumerate(data.parts):
            if isinstance(part, LOCAL_FILES):
                part, digest = _local_jsonl(part, doc, ("data", name, "parts", i, "path"))
                digests.append(digest)
            parts.append(part)
        content = hashlib.sha256("".join(digests).encode()).hexdigest()
        return DatasetStage(id=name, data=data.model_copy(update={"parts": parts}), content=content)
    return DatasetStage(id=name, data=data)


LOCAL_FILES = (JsonlData, McqData)
"""Data read from a local file, identified by the file's bytes (not its path)."""


def _local_jsonl(data: Any, doc: Document, where: Path_) -> tuple[Any, str]:
    """The part with its path made absolute, and the sha256 of the file (the path is not the identity)."""
    path = (doc.base_dir / Path(data.path).expanduser()).resolve()
    if not path.is_file():
        raise RecipeError(doc.problem(where, f"no such file: {path}"))
    return data.model_copy(update={"path": str(path)}), hashlib.sha256(path.read_bytes()).hexdigest()


def _edges(nodes: dict[str, Expanded], doc: Document) -> dict[str, list[tuple[str, str]]]:
    """Resolve every input reference to a producing stage of the right artifact type."""
    problems: list[Problem] = []
    graph: dict[str, list[tuple[str, str]]] = {}
    for sid, (spec, origin) in nodes.items():
        graph[sid] = []
        for slot, ref in input_refs(spec):
            field = slot.split(".", 1)[0]
            where = (*origin, field) if "." not in slot else (*origin, field, getattr(spec, field).index(ref))
            producer = nodes.get(ref)
            if producer is None:
                guess = difflib.get_close_matches(ref, list(nodes), n=1)
                hint = f"did you mean {guess[0]!r}?" if guess else "name a model, a dataset or an earlier stage"
                problems.append(doc.problem(where, f"no model, dataset or stage named {ref!r}", hint=hint))
                continue
            want, got = spec.INPUTS[field], producer.spec.OUTPUT
            if want != got:
                problems.append(doc.problem(where, f"{ref!r} gives a {got}, but {field!r} needs a {want}"))
                continue
            kind = spec.INPUT_KINDS.get(field)
            if kind and producer.spec.kind != kind:
                problems.append(doc.problem(where, f"{field!r} needs the output of a {kind} stage, and {ref!r} "
                                            f"is a {producer.spec.kind} stage"))
                continue
            graph[sid].append((slot, ref))
    if problems:
        raise RecipeError(problems)
    return graph
