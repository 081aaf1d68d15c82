"""Names: what a model, dataset, stage or recipe may be called (the names people write, bounded in length).

Names become references (`model: qwen2.5`), parts of branch ids and parts of file names in the store,
so they are letters (any script), digits, `_`, `-` and `.`, starting with a letter or `_`, and short
enough to stay well under a file system's 255-byte limit.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

NAME_MAX = 64
"""Longest model, dataset or stage name (a branch suffix may follow a stage id)."""
RECIPE_NAME_MAX = 100
"""Longest recipe name: it is part of the store's record file names."""

NAME = r"[^\W\d][\w.\-]*"
"""A letter (any script) or `_`, then letters, digits, `_`, `-`, `.`."""
BRANCH = r"\[[\w.,=+\-]+\]"
"""The `[field=value,...]` suffix that `matrix` branches get."""
ALLOWED = "letters, digits, '_', '-' and '.', starting with a letter or '_'"

_NAME = re.compile(NAME)
_STAGE_ID = re.compile(rf"{NAME}(?:{BRANCH})?")
_RECIPE_NAME = re.compile(r"\w[\w.\-]*")


def check_name(value: str) -> str:
    """A model, dataset or stage name, or a ValueError that lists the allowed characters."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"name {value!r} may use only {ALLOWED}")
    if len(value) > NAME_MAX:
        raise ValueError(f"name is {len(value)} characters long; at most {NAME_MAX}")
    return value


def check_stage_id(value: str) -> str:
    """A stage name, optionally with the branch suffix a `matrix` gives it."""
    base = value.split("[", 1)[0]
    check_name(base)
    if not _STAGE_ID.fullmatch(value):
        raise ValueError(f"stage id {value!r} may use only {ALLOWED}")
    return value


def check_recipe_name(value: str) -> str:
    """A recipe name: it names files in the store, so no path separators and bounded."""
    if not _RECIPE_NAME.fullmatch(value):
        raise ValueError(f"recipe name {value!r} may use only letters, digits, '_', '-' and '.', "
                         "starting with a letter or digit")
    if len(value) > RECIPE_NAME_MAX:
        raise ValueError(f"recipe name is {len(value)} characters long; at most {RECIPE_NAME_MAX} "
                         "(it becomes part of file names in the store)")
    return value


Name = Annotated[str, AfterValidator(check_name), Field(json_schema_extra={"pattern": f"^{NAME}$"})]
StageId = Annotated[str, AfterValidator(check_stage_id), Field(json_schema_extra={"pattern": f"^{NAME}({BRANCH})?$"})]
RecipeName = Annotated[str, AfterValidator(check_recipe_name), Field(json_schema_extra={"pattern": r"^\w[\w.\-]*$"})]
