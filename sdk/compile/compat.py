"""Plan-time model checks: models that cannot be merged, or a reward model that is not one, are an error in
the recipe, not a failed stage.

Wherever a merge's input is already known when the plan is made (a `tiny:` preset, a local folder,
an artifact in the store), its architecture, tensor shapes and vocabulary are compared from files
(no torch); the merge stage checks again on the real folders before it reads a tensor. The compiler
asks without a store (it reads none); `plan` and `apply` ask again with theirs. A reward model is checked
the same way from its config: a sequence classifier with one output (a causal LM loaded as one would get
a random score head).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from sdk.errors import Problem
from sdk.fit.shapes import built_in_config
from sdk.plan import Stage
from sdk.recipe.loader import Document
from stages import (
    ModelFacts,
    config_facts,
    first_mismatch,
    folder_facts,
    judge_mismatch,
    reward_model_mismatch,
    tiny_facts,
)


def model_problems(stages: dict[str, Stage], doc: Document | None, store: Any = None) -> list[Problem]:
    """Every located problem of the models the plan uses that files already show (merges, reward models)."""
    return [*merge_problems(stages, doc, store), *reward_model_problems(stages, doc, store)]


ROLES: dict[str, tuple[Any, str, str]] = {
    "reward_model": (reward_model_mismatch, "reward model",
                     "give a sequence-classification model with one output (a reward model), e.g. Skywork-Reward-V2"),
    "judge": (judge_mismatch, "judge",
              "give a chat model that answers in text (a causal LM), e.g. Qwen2.5-7B-Instruct"),
}
"""Input slot -> (why a config does not fit the role, the role's name, what to give instead)."""


def reward_model_problems(stages: dict[str, Stage], doc: Document | None, store: Any = None) -> list[Problem]:
    """A model in a role its config says it cannot play: a reward model that is not a sequence classifier
    with one output, a judge that is not a causal LM. `tiny:` models (random, for tests) and models whose
    config is not known yet pass."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for stage in stages.values():
        for slot, dep in stage.inputs:
            if slot not in ROLES or (slot, dep) in seen:
                continue
            seen.add((slot, dep))
            mismatch, role, hint = ROLES[slot]
            found = _config(stages[dep], store)
            if found is None or (why := mismatch(found[0])) is None:
                continue
            message = f"{role} {dep!r} of stage {stage.id!r} {why}"
            problems.append(doc.problem(found[1], message, hint=hint) if doc is not None else
                            Problem(message, hint=hint))
    return problems


def _config(producer: Stage, store: Any) -> tuple[dict[str, Any], tuple[str | int, ...]] | None:
    """The config.json a model stage or stored artifact shows now, and where the model is written; None for a
    `tiny:` model or one not known yet."""
    import json

    folder: Path | None = None
    if producer.kind == "model":
        model = producer.spec.model  # type: ignore[attr-defined]
        if model.origin == "tiny":
            return None
        if model.origin == "path":
            folder = Path(model.source).expanduser()
    if folder is None and store is not None and store.has(producer.key):
        folder = Path(store.artifact(producer.key).model)
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        return json.loads((folder / "config.json").read_text()), producer.origin
    except (OSError, ValueError):
        return None


def merge_problems(stages: dict[str, Stage], doc: Document | None, store: Any = None) -> list[Problem]:
    """One located problem per merge whose known inputs do not fit together (`store`: an `sdk.run.store.Store`
    whose committed models count as known too). A model a stage derives (an sft of a model, a merge) has
    the shapes of the model it comes from; the problem is located at the model that differs."""
    problems: list[Problem] = []
    blamed: set[tuple[str | int, ...]] = set()
    population: dict[str, Known] | None = None
    for stage in stages.values():
        if stage.kind != "merge":
            continue
        known = {dep: k for slot, dep in stage.inputs
                 if (k := _known(stages, stages[dep], slot.partition(".")[2] or dep, store)) is not None}
        if population is None:  # every model the plan makes, derived ones included: who agrees with whom
            population = {s.id: k for s in stages.values() if s.spec.OUTPUT == "model"
                          if (k := _known(stages, s, s.id, store)) is not None}
        found = _odd_one(known, population)
        if found is None:
            continue
        message, origin = found
        if origin in blamed:
            continue  # one mistake in a model, one error (not one per merge downstream of it)
        blamed.add(origin)
        message = f"stage {stage.id!r} cannot merge: {message}"
        hint = "merge models of one architecture, shape and tokenizer"
        problems.append(doc.problem(origin, message, hint=hint) if doc is not None else Problem(message, hint=hint))
    return problems


Known = tuple[ModelFacts, tuple[str | int, ...]]
"""What is known of a model, and where in the recipe the model those facts come from is written."""


def _odd_one(known: dict[str, Known], population: dict[str, Known] | None = None
             ) -> tuple[str, tuple[str | int, ...]] | None:
    """The first mismatch among a merge's inputs (stage id -> what is known), located at the model that
    differs: of the inputs in the mismatch, the one fewest other models the plan makes agree with
    (`population`: stage id -> what is known), derived ones included; on a tie, the later input."""
    (first, first_known), *rest = known.items() if known else [(None, None)]
    others = [(message, dep) for dep, k in rest if (message := first_mismatch(first_known[0], k[0])) is not None]
    if not others:
        return None
    votes = population or {}

    def agreeing(dep: str) -> int:
        return sum(first_mismatch(known[dep][0], k[0]) is None for sid, k in votes.items() if sid != dep)

    blame = min([dep for _, dep in others] + [first], key=agreeing)
    return others[0][0], known[blame][1]


def _known(stages: dict[str, Stage], producer: Stage, label: str, store: Any) -> Known | None:
    """What is known now of the model `producer` makes, or None: from its files (a `tiny:` preset, a local
    folder, the store's artifact), else from the input it takes its shapes from (`SHAPE_FROM`)."""
    spec = producer.spec
    if producer.kind == "model":
        model = spec.model  # type: ignore[attr-defined]
        if model.origin == "tiny":
            return tiny_facts(model.source.removeprefix("tiny:"), label), producer.origin
        if model.origin == "path":
            return folder_facts(Path(model.source), label), producer.origin
        if (config := built_in_config(model.source)) is not None:  # a shipped model, a well-known hub one
            return config_facts(config, label), producer.origin
    if store is not None and store.has(producer.key):
        folder = Path(store.artifact(producer.key).model)
        if folder.is_dir():
            return folder_facts(folder, label), producer.origin
    slot = spec.SHAPE_FROM
    known = {dep: k for s, dep in producer.inputs if slot and s.partition(".")[0] == slot and dep in stages
             if (k := _known(stages, stages[dep], label, store)) is not None}
    if not known or _odd_one(known) is not None:  # nothing known, or a merge that is an error of its own
        return None
    facts, origin = next(iter(known.values()))  # derived: its architecture and dims, not tensors or vocabulary
    return replace(facts, tensors=None, vocab=None), origin
