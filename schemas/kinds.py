"""Recipe: the union of every recipe kind, tagged by the `recipe:` key of the file."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.bai_merge import BaiMergeRecipe
from schemas.cnl_inject import CnlInjectRecipe
from schemas.coscale_rl import CoscaleRlRecipe
from schemas.re_distill import ReDistillRecipe
from schemas.recipe import PipelineRecipe

Recipe = Annotated[PipelineRecipe | ReDistillRecipe | CnlInjectRecipe | BaiMergeRecipe | CoscaleRlRecipe,
                   Field(discriminator="recipe")]
"""Every recipe kind. A new kind joins this union and `RECIPE_EXPANDERS` in `sdk/registry.py`."""
