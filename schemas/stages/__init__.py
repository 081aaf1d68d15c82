"""Stage specs: one model per stage kind, tagged by `kind`, with its typed inputs and output.

A spec names its inputs by reference (a model or data name, or an earlier stage id). `INPUTS` maps
those fields to the artifact type they must carry; the compiler checks it before anything runs.
Fields in `NON_RESULT` (and `id`, `resources`, the input fields) stay out of the fingerprint.

What a stage kind is lives on its spec class, as the upper-case class variables of `StageSpec`
(version, light, sampling, report curves, ...): the runners, the report and the compiler read them
there, so a new kind is a spec module here, an entry in `schemas/stage_kinds.py`, a module in `stages/`
and one line in `stages/registry.py`.

One module per stage kind, mirroring stages/; this package names every spec and imports a spec's module
only when that spec is asked for (`from schemas.stages import SftStage` reads sft.py and its bases alone), so
loading a recipe builds only the specs its kind uses."""

from __future__ import annotations

import importlib
from typing import Any

WHERE: dict[str, str] = {
    "AttributeStage": "attribute", "Curve": "base", "StageSpec": "base", "input_refs": "base",
    "DatasetStage": "dataset", "EvaluateStage": "evaluate", "FilterStage": "filter", "ForgettingStage": "forgetting",
    "GenerateStage": "generate", "GrpoStage": "grpo", "RewardModel": "grpo", "RewardSpec": "grpo", "VllmSpec": "grpo",
    "MergeStage": "merge", "ModelStage": "model", "PartitionStage": "pools", "ProbeStage": "pools",
    "SolutionsStage": "pools", "ReplayStage": "replay", "SampleEffectStage": "sample_effect", "CnlSpec": "sft",
    "MiguSpec": "sft", "SftStage": "sft", "SplitStage": "split", "TakeStage": "take", "LoraSpec": "training",
    "TrainingStage": "training",
}
"""Exported name -> the module under schemas/stages/ that defines it."""

__all__ = [
    "AttributeStage", "CnlSpec", "Curve", "DatasetStage", "EvaluateStage", "FilterStage", "ForgettingStage",
    "GenerateStage", "GrpoStage", "LoraSpec", "MergeStage", "MiguSpec", "ModelStage", "PartitionStage", "ProbeStage",
    "ReplayStage", "RewardModel", "RewardSpec", "SampleEffectStage", "SftStage", "SolutionsStage", "SplitStage",
    "StageSpec", "TakeStage", "TrainingStage", "VllmSpec", "input_refs",
]


def __getattr__(name: str) -> Any:
    if name not in WHERE:
        raise AttributeError(f"module 'schemas.stages' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"schemas.stages.{WHERE[name]}"), name)
    globals()[name] = value  # looked up once
    return value
