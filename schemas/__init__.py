"""What a recipe may say: pydantic models only (no ML imports, no I/O)."""

from schemas._base import Schema
from schemas._docs import describe_fields
from schemas.artifacts import Artifact, ArtifactType
from schemas.data import DataSpec, HubData, JsonlData, McqData, MixData, ReasoningGymData
from schemas.kinds import RECIPE_KINDS, recipe_class
from schemas.models import ModelSpec
from schemas.recipe import PipelineRecipe, RecipeBase, Tracking
from schemas.resources import Resources
from schemas.rollout_scaling import RolloutScaling
from schemas.stage_kinds import STAGE_SPECS, AnyStage
from schemas.stages import (
    CnlSpec,
    Curve,
    DatasetStage,
    EvaluateStage,
    FilterStage,
    ForgettingStage,
    GenerateStage,
    GrpoStage,
    LoraSpec,
    MiguSpec,
    ModelStage,
    ReplayStage,
    RewardSpec,
    SampleEffectStage,
    SftStage,
    SplitStage,
    StageSpec,
    TakeStage,
    TrainingStage,
    input_refs,
)

__all__ = [
    "STAGE_SPECS",
    "describe_fields",
    "AnyStage",
    "CnlSpec",
    "Artifact",
    "ArtifactType",
    "Curve",
    "DataSpec",
    "DatasetStage",
    "EvaluateStage",
    "FilterStage",
    "ForgettingStage",
    "GenerateStage",
    "GrpoStage",
    "HubData",
    "JsonlData",
    "LoraSpec",
    "McqData",
    "MiguSpec",
    "MixData",
    "ModelSpec",
    "ModelStage",
    "PipelineRecipe",
    "ReasoningGymData",
    "RECIPE_KINDS",
    "Recipe",
    "recipe_class",
    "RecipeBase",
    "ReplayStage",
    "Resources",
    "RewardSpec",
    "RolloutScaling",
    "SampleEffectStage",
    "Schema",
    "SftStage",
    "SplitStage",
    "TakeStage",
    "StageSpec",
    "Tracking",
    "TrainingStage",
    "input_refs",
]


def __getattr__(name: str):
    """`Recipe` (every kind) imports every kind's module on first use; a recipe file needs only its own."""
    if name == "Recipe":
        from schemas import kinds

        return kinds.Recipe
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")
