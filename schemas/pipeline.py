"""The `pipeline` recipe: stages written out by hand (the form every other kind compiles to)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.recipe import RecipeBase
from schemas.stage_kinds import PipelineStage


class PipelineRecipe(RecipeBase):
    """Stages written out by hand; every other kind compiles to the same stage graph."""

    recipe: Literal["pipeline"]
    stages: list[PipelineStage] = Field(min_length=1)
    """The stages, in any order; each names its inputs by model, data or stage name."""
