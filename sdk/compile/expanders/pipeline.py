"""The `pipeline` kind: the stages are written out in the file, so expanding is listing them."""

from __future__ import annotations

from schemas import PipelineRecipe
from sdk.compile.expanded import Expanded
from sdk.recipe.loader import Document


def expand(recipe: PipelineRecipe, where: Document) -> list[Expanded]:
    return [Expanded(spec, ("stages", i)) for i, spec in enumerate(recipe.stages)]
