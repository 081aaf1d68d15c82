"""Stage specs: one model per stage kind, tagged by `kind`, with its typed inputs and output.

A spec names its inputs by reference (a model or data name, or an earlier stage id). `INPUTS` maps
those fields to the artifact type they must carry; the compiler checks it before anything runs.
Fields in `NON_RESULT` (and `id`, `resources`, the input fields) stay out of the fingerprint.

What a stage kind is lives on its spec class, as the upper-case class variables of `StageSpec`
(version, light, sampling, report curves, ...): the runners, the report and the compiler read them
there, so a new kind is a spec module here, an entry in `schemas/stage_kinds.py`, a module in `stages/`
and one line in `stages/registry.py`.

One module per stage kind, mirroring stages/; this package re-exports every spec."""

from __future__ import annotations

from schemas.stages.base import Curve, StageSpec, input_refs
from schemas.stages.dataset import DatasetStage
from schemas.stages.evaluate import EvaluateStage
from schemas.stages.filter import FilterStage
from schemas.stages.forgetting import ForgettingStage
from schemas.stages.generate import GenerateStage
from schemas.stages.grpo import GrpoStage, RewardModel, RewardSpec, VllmSpec
from schemas.stages.merge import MergeStage
from schemas.stages.model import ModelStage
from schemas.stages.pools import PartitionStage, ProbeStage, SolutionsStage
from schemas.stages.replay import ReplayStage
from schemas.stages.sample_effect import SampleEffectStage
from schemas.stages.sft import CnlSpec, MiguSpec, SftStage
from schemas.stages.split import SplitStage
from schemas.stages.take import TakeStage
from schemas.stages.training import LoraSpec, TrainingStage

__all__ = [
    "CnlSpec", "Curve", "DatasetStage", "EvaluateStage", "FilterStage", "ForgettingStage", "GenerateStage",
    "GrpoStage", "LoraSpec", "MergeStage", "MiguSpec", "ModelStage", "PartitionStage", "ProbeStage", "ReplayStage",
    "RewardModel", "RewardSpec", "SampleEffectStage", "SftStage", "SolutionsStage", "SplitStage", "StageSpec",
    "TakeStage", "TrainingStage", "VllmSpec", "input_refs",
]
