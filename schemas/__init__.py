"""What a recipe may say: pydantic models only (no ML imports, no I/O).

The recipe blocks every kind shares are imported here; the stage specs, the unions of every stage kind
(`STAGE_SPECS`, `AnyStage`), the pipeline recipe and `Recipe` (every kind) load on first use, so reading a
recipe builds the schemas of its own kind only."""

from __future__ import annotations

import importlib
from typing import Any

from schemas._base import Schema
from schemas._docs import describe_fields
from schemas.artifacts import Artifact, ArtifactType
from schemas.data import DataSpec, HubData, JsonlData, McqData, MixData, ReasoningGymData
from schemas.kinds import RECIPE_KINDS, recipe_class
from schemas.models import ModelSpec
from schemas.recipe import RecipeBase, Tracking
from schemas.resources import Resources
from schemas.rollout_scaling import RolloutScaling
from schemas.stages import WHERE as _STAGE_NAMES

_LAZY: dict[str, str] = {
    **{name: "schemas.stages" for name in _STAGE_NAMES},
    "STAGE_SPECS": "schemas.stage_kinds", "AnyStage": "schemas.stage_kinds", "PipelineRecipe": "schemas.pipeline",
    "Recipe": "schemas.kinds",
}
"""Name -> the module that defines it, imported when the name is first asked for."""

__all__ = [
    "AnyStage", "Artifact", "ArtifactType", "AttributeStage", "CnlSpec", "Curve", "DataSpec", "DatasetStage",
    "EvaluateStage", "FilterStage", "ForgettingStage", "GenerateStage", "GrpoStage", "HubData", "JsonlData",
    "LoraSpec", "McqData", "MergeStage", "MiguSpec", "MixData", "ModelSpec", "ModelStage", "PartitionStage",
    "PipelineRecipe", "ProbeStage", "RECIPE_KINDS", "ReasoningGymData", "Recipe", "RecipeBase", "ReplayStage",
    "Resources", "RewardModel", "RewardSpec", "RolloutScaling", "STAGE_SPECS", "SampleEffectStage", "Schema",
    "SftStage", "SolutionsStage", "SplitStage", "StageSpec", "TakeStage", "Tracking", "TrainingStage", "VllmSpec",
    "describe_fields", "input_refs", "recipe_class",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    if name != "Recipe":  # built from the kinds registry on first use, and cached there
        globals()[name] = value
    return value
