"""One way every kind's expander turns a recipe block into a stage spec: the block's settings minus the
fields the kind wires itself, plus that wiring, validated as the stage; a check the stage fails is
located at the block in the recipe where one is given."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from sdk.errors import RecipeError
from sdk.recipe.loader import Document, Path_

WIRED = frozenset({"id", "kind", "model", "data", "models"})
"""Stage fields every kind sets itself (a block inherits them from its stage spec)."""


def knobs(block: Any, exclude: Iterable[str] = (), written_only: bool = True) -> dict[str, Any]:
    """The block's settings for its stage. `written_only`: only what the file says, so the stage's own
    defaults fill the rest (not written and written as the default stay apart); else every field of the
    block, for kinds whose blocks carry defaults of their own (a paper's settings)."""
    return block.model_dump(exclude_unset=written_only, exclude=WIRED | set(exclude))


def stage_from(cls: Any, fields: dict[str, Any], where: Path_ | None = None, doc: Document | None = None) -> Any:
    """`cls` validated from `fields`; with `where`, a check it fails is a RecipeError located there."""
    if where is None or doc is None:
        return cls.model_validate(fields)
    try:
        return cls.model_validate(fields)
    except ValidationError as err:
        raise RecipeError(doc.problem(where, err.errors()[0]["msg"].removeprefix("Value error, "))) from None
