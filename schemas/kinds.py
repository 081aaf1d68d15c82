"""Recipe kinds by the `recipe:` key of a file, each imported (and its pydantic schema built) only when
a recipe of that kind is read; `Recipe`, the union of them all, is built on first use (JSON Schema,
`recipe init`, did-you-mean across kinds)."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Annotated, Any

from pydantic import Field

RECIPE_KINDS: dict[str, str] = {
    "pipeline": "schemas.pipeline:PipelineRecipe",
    "re-distill": "schemas.re_distill:ReDistillRecipe",
    "cnl-inject": "schemas.cnl_inject:CnlInjectRecipe",
    "bai-merge": "schemas.bai_merge:BaiMergeRecipe",
    "coscale-rl": "schemas.coscale_rl:CoscaleRlRecipe",
    "cognition-attribution": "schemas.cognition_attribution:CognitionAttributionRecipe",
}
"""Recipe kind -> `module:Class` of its schema. A new kind joins this and `RECIPE_EXPANDERS` in `sdk/registry.py`."""


def recipe_class(kind: str) -> Any:
    """The schema class of one recipe kind (its module imported now)."""
    module, _, name = RECIPE_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


@cache
def _union() -> Any:
    classes = [recipe_class(kind) for kind in RECIPE_KINDS]
    union = classes[0]
    for cls in classes[1:]:
        union = union | cls
    return Annotated[union, Field(discriminator="recipe")]


def __getattr__(name: str) -> Any:
    if name == "Recipe":  # every recipe kind, tagged by `recipe:`
        return _union()
    raise AttributeError(name)
