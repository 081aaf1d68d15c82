"""Every stage kind's spec, in one list: the unions a recipe's stages and a job's spec are read with.

A new stage kind is a spec module under schemas/ and one entry in `SPECS` below (and a line in
`stages/registry.py` naming the code that runs it); the registry test checks the two agree.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Annotated, Any, get_args

from pydantic import Field

from schemas.stages import (
    AttributeStage,
    DatasetStage,
    EvaluateStage,
    FilterStage,
    ForgettingStage,
    GenerateStage,
    GrpoStage,
    ModelStage,
    ReplayStage,
    SampleEffectStage,
    SftStage,
    SplitStage,
    StageSpec,
    TakeStage,
)
from schemas.stages.merge import MergeStage
from schemas.stages.pools import PartitionStage, ProbeStage, SolutionsStage

MATERIALISED: tuple[type[StageSpec], ...] = (ModelStage, DatasetStage)
"""Kinds the compiler makes for a recipe's named models and data (never written in a recipe)."""
WRITTEN: tuple[type[StageSpec], ...] = (
    SftStage, GrpoStage, GenerateStage, ReplayStage, FilterStage, EvaluateStage, SplitStage, ForgettingStage,
    TakeStage, SampleEffectStage, MergeStage, ProbeStage, PartitionStage, SolutionsStage, AttributeStage,
)
"""Kinds a `pipeline` recipe may list by hand."""

PipelineStage: Any = Annotated[reduce(or_, WRITTEN), Field(discriminator="kind")]
"""The stages a `pipeline` recipe may list by hand."""

AnyStage: Any = reduce(or_, (*MATERIALISED, *WRITTEN))
"""Every stage kind."""

STAGE_SPECS: dict[str, type[StageSpec]] = {
    get_args(cls.model_fields["kind"].annotation)[0]: cls for cls in (*MATERIALISED, *WRITTEN)
}
"""Stage kind -> its spec class."""
