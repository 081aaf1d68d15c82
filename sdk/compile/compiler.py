"""compile: a validated recipe -> a Plan (stage DAG with fingerprints), checking references first.

    recipe --expander--> stage specs --matrix--> branches --refs--> DAG --topo--> fingerprints

Named models and data become `model` / `dataset` source stages (only those some stage uses).
Every check that needs more than one field (unknown or mistyped reference, cycles, missing local
files) happens here, located in the file, before anything expensive starts. The only reads from disk
are the source stages' contents, through the `read_sources` argument (sdk/compile/sources.py).
"""

from __future__ import annotations

import dataclasses
import importlib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from schemas import input_refs
from schemas.models import ChainedModel
from sdk.compile.chain import chained_stages
from sdk.compile.compat import model_problems
from sdk.compile.expanded import Expanded
from sdk.compile.fanout import fan_out
from sdk.compile.local_data import domain_problems, response_problems, small_data_warnings
from sdk.compile.sources import SourceReader, Sources, read_sources
from sdk.errors import Problem, RecipeError, closest, did_you_mean
from sdk.plan import Plan, Stage, fingerprint, fingerprint_payload, outputs_of
from sdk.recipe.loader import Document, Path_, refuse_secret_values
from sdk.registry import RECIPE_EXPANDERS


def compile_recipe(recipe: Any, where: Document | None = None, read_sources: SourceReader = read_sources,
                   chain: tuple[Path, ...] = ()) -> Plan:
    """Compile a recipe into its Plan, or raise a RecipeError that lists every problem found.

    `where` locates problems in the file the recipe came from (default: the one `validate` read it from;
    a recipe built in Python has none, and its relative paths start at the working directory).
    `read_sources` is the one thing that reads files (the named models' and data's contents).
    `chain`: the recipe files whose chained models led here (to refuse a cycle of recipes).
    """
    doc = where or source_of(recipe)
    refuse_secret_values(Document(recipe.model_dump(mode="json"), doc.file, doc.base_dir, doc.keys, doc.values))
    module, _, attr = RECIPE_EXPANDERS[recipe.recipe].partition(":")
    expanded = getattr(importlib.import_module(module), attr)(recipe, doc)
    _unique_ids(expanded, doc)
    expanded = fan_out(expanded, doc)
    sources, found = _sources(recipe, expanded, doc, read_sources)
    used = {ref for e in expanded for _, ref in input_refs(e.spec)}
    imported = {s.id: s for s in chained_stages(recipe, used, doc, chain, compile_recipe)}
    nodes = {**{e.spec.id: e for e in sources}, **{sid: Expanded(s.spec, s.origin) for sid, s in imported.items()},
             **{e.spec.id: e for e in expanded}}
    graph = {**_edges(nodes, doc, [*nodes, *recipe.models, *recipe.data, *(e.spec.id for e in expanded)],
                      skip=set(imported)),
             **{sid: list(s.inputs) for sid, s in imported.items()}}
    try:
        order = _stable_order({sid: [(slot, producer_id(ref, nodes)) for slot, ref in refs]
                               for sid, refs in graph.items()})
    except CycleError as err:
        cycle = err.args[1]
        raise RecipeError(doc.problem(nodes[cycle[0]].origin, "stages depend on each other in a cycle: "
                                      + " -> ".join(cycle))) from None
    stages: dict[str, Stage] = {}
    same: dict[str, str] = {}
    """An imported stage this plan already has (same fingerprint) -> the stage it is."""
    for sid in order:
        inputs = [(slot, same.get(dep, dep)) for slot, dep in graph[sid]]
        if sid in imported:  # compiled in its own recipe; its fingerprint is what the store knows
            twin = next((s.id for s in stages.values() if s.fingerprint == imported[sid].fingerprint), None)
            if twin is not None:
                same[sid] = twin
            else:
                needs = tuple(dict.fromkeys(producer_id(ref, stages) for _, ref in inputs))
                stages[sid] = dataclasses.replace(imported[sid], inputs=tuple(inputs), needs=needs)
            continue
        spec, origin = nodes[sid]
        payload = fingerprint_payload(spec, {slot: _fingerprint_of(ref, stages) for slot, ref in inputs})
        key = fingerprint(payload)
        needs = tuple(dict.fromkeys(producer_id(ref, nodes) for _, ref in inputs))
        stages[sid] = Stage(sid, spec, tuple(inputs), key, payload, origin, outputs_of(spec, key), needs)
    problems = model_problems(stages, doc)  # what files say; the store's artifacts are checked at plan
    if problems:
        raise RecipeError(problems)
    if problems := response_problems(stages.values(), found.no_response):
        raise RecipeError(problems)
    if problems := domain_problems(stages.values(), found.domains, doc):
        raise RecipeError(problems)
    errors, warnings = recipe.count_checks(found.rows)
    if errors:
        raise RecipeError([doc.problem(path, message) for path, message in errors])
    return Plan(recipe.name, tuple(stages.values()), recipe.store, recipe.tracking.model_dump(),
                (*(str(doc.problem(path, message)) for path, message in warnings),
                 *small_data_warnings(stages.values(), found.rows, doc)), recipe)


def _unique_ids(expanded: list[Expanded], doc: Document) -> None:
    """Two stages with one id: say so with both lines (else the second silently replaces the first)."""
    first: dict[str, Expanded] = {}
    problems = []
    for item in expanded:
        seen = first.setdefault(item.spec.id, item)
        if seen is not item:
            line = doc.locate((*seen.origin, "id")).line
            problems.append(doc.problem((*item.origin, "id"), f"duplicate stage id {item.spec.id!r} "
                                        f"(first at line {line})", hint="give each stage its own id"))
    if problems:
        raise RecipeError(problems)


def _fingerprint_of(ref: str, stages: dict[str, Stage]) -> str:
    if ref in stages:
        return stages[ref].fingerprint
    head, _, name = ref.rpartition(".")
    return stages[head].output(name).fingerprint


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


def _sources(recipe: Any, expanded: list[Expanded], doc: Document,
             read: SourceReader) -> tuple[list[Expanded], Sources]:
    """Source stages for the named models and data that some stage refers to, and the datasets' known sizes."""
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
    found = read(recipe, [n for n in [*recipe.models, *recipe.data] if n in used and n not in ids
                          and not isinstance(recipe.models.get(n), ChainedModel)], doc)
    out = [Expanded(spec, ("models" if name in recipe.models else "data", name))
           for name, spec in found.stages.items()]
    return out, found


def source_of(recipe: Any) -> Document:
    """The document a recipe was validated from, or an empty one rooted at the working directory."""
    return getattr(recipe, "_source", None) or Document({}, "<recipe>", Path.cwd())


def _resolve(ref: str, nodes: dict[str, Expanded]) -> tuple[Expanded | None, str]:
    """The node behind a reference and the artifact type it gives: a stage's main output, or a named
    output `stage.name` (a node whose own name is `ref` wins: names may contain dots)."""
    if ref in nodes:
        return nodes[ref], nodes[ref].spec.OUTPUT
    head, _, name = ref.rpartition(".")
    producer = nodes.get(head)
    if producer is not None and name in producer.spec.outputs():
        return producer, producer.spec.outputs()[name]
    return None, ""


def producer_id(ref: str, nodes: dict[str, Any]) -> str:
    """The id of the stage a (resolved) reference comes from."""
    return ref if ref in nodes else ref.rpartition(".")[0]


def _unknown(ref: str, nodes: dict[str, Expanded], where: Path_, doc: Document, names: list[str]) -> Problem:
    head, _, name = ref.rpartition(".")
    if head in nodes:
        outputs = list(nodes[head].spec.outputs())
        if outputs:
            guess = closest(name, outputs)
            hint = f"did you mean {head}.{guess}?" if guess else f"its outputs: {', '.join(outputs)}"
            return doc.problem(where, f"stage {head!r} has no output named {name!r}", hint=hint)
        return doc.problem(where, f"stage {head!r} has one output; refer to it as {head!r}")
    hint = did_you_mean(ref, [*names, *(f"{n}.{o}" for n, e in nodes.items() for o in e.spec.outputs())],
                        "name a model, a dataset or an earlier stage")
    return doc.problem(where, f"no model, dataset or stage named {ref!r}", hint=hint)


def _edges(nodes: dict[str, Expanded], doc: Document, names: list[str],
           skip: set[str] | frozenset[str] = frozenset()) -> dict[str, list[tuple[str, str]]]:
    """Resolve every input reference (of the stages not in `skip`) to a producing stage of the right artifact
    type (`names`: every declared model, dataset and stage, the candidates for a misspelled reference)."""
    problems: list[Problem] = []
    graph: dict[str, list[tuple[str, str]]] = {}
    for sid, (spec, origin) in nodes.items():
        if sid in skip:
            continue
        graph[sid] = []
        for slot, ref in input_refs(spec):
            field = slot.split(".", 1)[0]
            where = (*origin, *spec.INPUT_PATHS.get(field, (field,))) if "." not in slot else \
                (*origin, field, getattr(spec, field).index(ref))
            producer, got = _resolve(ref, nodes)
            if producer is None:
                problems.append(_unknown(ref, nodes, where, doc, names))
                continue
            want = spec.INPUTS[field]
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
