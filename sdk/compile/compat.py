"""Plan-time merge checks: models that cannot be merged are an error in the recipe, not a failed stage.

Wherever a merge's input is already known when the plan is made (a `tiny:` preset, a local folder,
an artifact in the store), its architecture, tensor shapes and vocabulary are compared from files
(no torch); the merge stage checks again on the real folders before it reads a tensor. The compiler
asks without a store (it reads none); `plan` and `apply` ask again with theirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk.errors import Problem
from sdk.plan import Stage
from sdk.recipe.loader import Document
from stages import ModelFacts, check_all, folder_facts, tiny_facts


def merge_problems(stages: dict[str, Stage], doc: Document | None, store: Any = None) -> list[Problem]:
    """One located problem per merge whose known inputs do not fit together (`store`: an `sdk.run.store.Store`
    whose committed models count as known too)."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for stage in stages.values():
        if stage.kind != "merge":
            continue
        known = [f for f in (_facts(stages[dep], slot.partition(".")[2] or dep, store) for slot, dep in stage.inputs)
                 if f is not None]
        found = check_all(known)
        if found and found not in seen:
            seen.add(found)
            message = f"stage {stage.id!r} cannot merge: {found}"
            hint = "merge models of one architecture, shape and tokenizer"
            problems.append(doc.problem(stage.origin, message, hint=hint) if doc is not None else
                            Problem(message, hint=hint))
    return problems


def _facts(producer: Stage, label: str, store: Any) -> ModelFacts | None:
    """What is known now of the model `producer` makes, or None."""
    spec = producer.spec
    if producer.kind == "model":
        model = spec.model  # type: ignore[attr-defined]
        if model.origin == "tiny":
            return tiny_facts(model.source.removeprefix("tiny:"), label)
        if model.origin == "path":
            return folder_facts(Path(model.source), label)
    if store is not None and store.has(producer.key):
        folder = Path(store.artifact(producer.key).model)
        if folder.is_dir():
            return folder_facts(folder, label)
    return None
