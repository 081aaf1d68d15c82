"""What a recipe may say: pydantic models only (no ML imports, no I/O)."""

from schemas.artifacts import Artifact, ArtifactType
from schemas.data import DataSpec, HubData, JsonlData, McqData, MixData, ReasoningGymData
from schemas.kinds import Recipe
from schemas.models import ModelSpec
from schemas.re_distill import ReDistillRecipe
from schemas.recipe import PipelineRecipe, RecipeBase, Tracking
from schemas.resources import Resources
from schemas.stages import (
    AnyStage,
    CnlSpec,
    DatasetStage,
    EvaluateStage,
    FilterStage,
    GenerateStage,
    GrpoStage,
    LoraSpec,
    MiguSpec,
    ModelStage,
    ReplayStage,
    RewardSpec,
    SftStage,
    SplitStage,
    StageSpec,
    input_refs,
)

__all__ = [
    "AnyStage",
    "CnlSpec",
    "Artifact",
    "ArtifactType",
    "DataSpec",
    "DatasetStage",
    "EvaluateStage",
    "FilterStage",
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
    "ReDistillRecipe",
    "ReasoningGymData",
    "Recipe",
    "RecipeBase",
    "ReplayStage",
    "Resources",
    "RewardSpec",
    "SftStage",
    "SplitStage",
    "StageSpec",
    "Tracking",
    "input_refs",
]
