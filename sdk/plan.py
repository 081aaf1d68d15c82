"""Plan: the compiled DAG of stages, each identified by the fingerprint of what it will produce.

A stage's fingerprint is the sha256 of canonical JSON of its kind, stage-code version, the params
that change its result, and its inputs' fingerprints. Ids, resources, logging settings and the
runner are left out, so renaming a stage or moving it to another machine reuses its artifact.

A stage may also have named outputs (`split` -> `mastered`, `injection`, `heldout`): each is an
artifact of its own type, referenced as `<stage>.<name>`, with the fingerprint
sha256({"of": stage fingerprint, "output": name, "type": type}) and its own folder in the store.
An input slot refers to a stage (its main output) or to one named output; `Plan.producer` and
`Plan.key_of` resolve either.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from schemas import StageSpec
from sdk.args import as_strings


def canonical(obj: Any) -> str:
    """The one JSON form that is hashed: sorted keys, no spaces, ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def result_params(spec: StageSpec) -> dict[str, Any]:
    """The spec's params that change what the stage produces (inputs are fingerprinted separately)."""
    params = spec.model_dump(mode="json", exclude={"id", "resources", "kind", "matrix", *spec.INPUTS})
    for dotted_name in spec.non_result():
        *parents, last = dotted_name.split(".")
        node: Any = params
        for part in parents:
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return params


def fingerprint_payload(spec: StageSpec, inputs: dict[str, str]) -> dict[str, Any]:
    return {"kind": spec.kind, "version": spec.VERSION, "params": result_params(spec), "inputs": inputs}


def fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(payload).encode()).hexdigest()


@dataclass(frozen=True)
class Output:
    """A named output of a stage: typed, fingerprinted and stored like any artifact."""

    name: str
    type: str
    fingerprint: str

    @property
    def key(self) -> str:
        return self.fingerprint[:16]


def outputs_of(spec: StageSpec, stage_fingerprint: str) -> tuple[Output, ...]:
    """The named outputs of a stage whose fingerprint is `stage_fingerprint`."""
    return tuple(Output(name, kind, fingerprint({"of": stage_fingerprint, "output": name, "type": kind}))
                 for name, kind in spec.outputs().items())


@dataclass(frozen=True, eq=False)
class Stage:
    """One node of the plan: what to run (spec), on what (inputs: slot -> a stage id, or `stage.output`
    for a named output), and its key."""

    id: str
    spec: StageSpec
    inputs: tuple[tuple[str, str], ...]
    fingerprint: str
    payload: dict[str, Any] = field(repr=False, compare=False)
    origin: tuple[str | int, ...] = ()
    """Where in the recipe the stage comes from (for located errors)."""
    outputs: tuple[Output, ...] = ()
    """Named outputs besides the main one."""
    needs: tuple[str, ...] = ()
    """Ids of the stages its inputs come from (an input `split.mastered` needs stage `split`)."""

    def output(self, name: str) -> Output:
        return next(o for o in self.outputs if o.name == name)

    @property
    def keys(self) -> tuple[str, ...]:
        """Store keys of everything the stage makes: its main artifact, then each named output."""
        return (self.key, *(o.key for o in self.outputs))

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def key(self) -> str:
        """The short fingerprint that names the stage's folder in the store."""
        return self.fingerprint[:16]

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stage) and other.fingerprint == self.fingerprint and other.id == self.id


@dataclass(frozen=True)
class Plan:
    """Stages in an order where every stage comes after its inputs."""

    name: str
    stages: tuple[Stage, ...]
    store: str = "./runs"
    tracking: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    """Located doubts found while compiling that do not stop a run (a dataset smaller than one batch)."""
    recipe: Any = field(default=None, repr=False, compare=False)
    """The validated recipe the plan was compiled from (what a runner needs besides the stages)."""

    def __getitem__(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.stages]

    def producer(self, ref: str) -> Stage:
        """The stage behind an input reference: a stage id, or `stage.output` for a named output."""
        if ref in self.ids:
            return self[ref]
        head, _, name = ref.rpartition(".")
        stage = self[head]
        if not any(o.name == name for o in stage.outputs):
            raise KeyError(ref)
        return stage

    def key_of(self, ref: str) -> str:
        """The store key of what an input reference names (a stage's main artifact or a named output)."""
        stage = self.producer(ref)
        return stage.key if ref == stage.id else stage.output(ref.rpartition(".")[2]).key

    def named(self, names: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The stage ids the names mean: a stage's own id, or a fanned-out stage's name for all its branches.

        Raises:
            KeyError: the first name that matches no stage.
        """
        found: list[str] = []
        for name in as_strings(names, "stage names"):
            ids = [name] if name in self.ids else [i for i in self.ids if i.startswith(name + "[")]
            if not ids:
                raise KeyError(name)
            found += [i for i in ids if i not in found]
        return tuple(found)

    def ancestors(self, stage_id: str) -> set[str]:
        """Every stage `stage_id` needs, transitively (not including itself)."""
        seen: set[str] = set()
        todo = [stage_id]
        while todo:
            for _, ref in self[todo.pop()].inputs:
                dep = self.producer(ref).id
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stages": [
                {"id": s.id, "kind": s.kind, "fingerprint": s.fingerprint, "inputs": dict(s.inputs),
                 "params": s.payload["params"], "resources": s.spec.resources.model_dump(exclude_defaults=True),
                 **({"outputs": {o.name: {"type": o.type, "fingerprint": o.fingerprint} for o in s.outputs}}
                    if s.outputs else {})}
                for s in self.stages
            ],
        }
