"""sources: the one place compiling reads anything from disk (what the named models and data hold).

A local model folder is fingerprinted by its files, a local JSONL file or dataset folder by its bytes
(checked on the way: missing fields, bad lines); everything else the plan needs comes from the recipe.
`compile_recipe` takes the reader as an argument, so planning itself is a pure function of the recipe
and what this returns (tests hand it a reader that touches nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from schemas import ModelStage, StageSpec
from sdk.compile.local_data import dataset_stage, folder_digest, response_gap
from sdk.errors import RecipeError
from sdk.recipe.loader import Document


class Sources(NamedTuple):
    """The source stage of each named model and dataset asked for, and the datasets' known row counts."""

    stages: dict[str, StageSpec]
    rows: dict[str, int]
    no_response: dict[str, int] = {}
    """JSONL datasets with a row that has no response: the first such line (an sft stage may need them)."""
    domains: dict[str, frozenset[str]] = {}
    """Local multiple-choice datasets with a `domain_field`: their rows' domain values."""


SourceReader = Callable[[Any, Iterable[str], Document], Sources]
"""(recipe, names of the models and data some stage uses, document) -> Sources."""


def read_sources(recipe: Any, names: Iterable[str], doc: Document) -> Sources:
    wanted = set(names)
    stages: dict[str, StageSpec] = {}
    rows: dict[str, int] = {}
    gaps: dict[str, int] = {}
    domains: dict[str, frozenset[str]] = {}
    for name, model in recipe.models.items():
        if name in wanted:
            stages[name] = _model_stage(name, model, doc)
    for name, data in recipe.data.items():
        if name in wanted:
            stages[name], count, found = dataset_stage(name, data, doc)
            if count is not None:
                rows[name] = count
            if (gap := response_gap(stages[name].data)) is not None:  # type: ignore[attr-defined]
                gaps[name] = gap
            if found is not None:
                domains[name] = found
    return Sources(stages, rows, gaps, domains)


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
