"""The `bai-merge` recipe (Balanced Actor Initialization, Zheng et al. 2025): merge, balance with the base, RL.

    sft_merge: merge(instruct, reasoning; weights) -> actor: merge(base, sft_merge; alpha)
        (one branch per alpha) -> [rl: grpo from each actor] -> eval: every model
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from schemas._base import Schema
from schemas.re_distill import EvalBlock, RlBlock
from schemas.recipe import RecipeBase


class MergeBlock(Schema):
    """How both merges write their model."""

    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Dtype of the merged weights (arithmetic is float32); `auto` keeps the inputs'."""
    shard_mb: int = Field(default=5000, ge=1)
    """Largest safetensors shard in MB."""


class BaiRlBlock(RlBlock):
    """GRPO from each actor. BAI watches the KL to the initial model, so `beta` defaults above 0
    (TRL keeps a reference model and logs `kl` only then)."""

    beta: float = Field(default=0.001, ge=0)
    """KL coefficient against the initial actor (BAI's default here 0.001; 0 keeps no reference model)."""


class BaiMergeRecipe(RecipeBase):
    """BAI: average an instruction-tuned and a reasoning model, interpolate with the base, start RL there."""

    recipe: Literal["bai-merge"]
    base: str
    """The pretrained base model (a name under `models:`)."""
    instruct: str
    """The instruction-following SFT model."""
    reasoning: str
    """The reasoning (distillation) SFT model."""
    weights: list[float] = [0.5, 0.5]
    """Stage 1 weights of `instruct` and `reasoning` (they must sum to 1)."""
    alpha: float | list[float] = 0.5
    """Stage 2: actor = alpha * base + (1 - alpha) * stage 1. A list makes one branch per alpha, all
    sharing the stage 1 merge (the paper sweeps 0.1 .. 0.9; 0.5-0.6 trains most stably)."""
    merge: MergeBlock = MergeBlock()
    """How both merges write their model (dtype, shard size)."""
    rl: BaiRlBlock | None = None
    """Optional GRPO from each actor; give its `data`."""
    evaluate: EvalBlock
    """Evaluation of the inputs, the stage 1 merge, every actor and every RL policy; give its `data`."""

    @field_validator("weights")
    @classmethod
    def _two_weights(cls, weights: list[float]) -> list[float]:
        if len(weights) != 2:
            raise ValueError(f"weights are for instruct and reasoning: give 2, got {len(weights)}")
        return weights

    @field_validator("alpha")
    @classmethod
    def _alphas_in_range(cls, alpha: float | list[float]) -> float | list[float]:
        values = alpha if isinstance(alpha, list) else [alpha]
        if not values:
            raise ValueError("give at least one alpha")
        bad = [a for a in values if not 0 <= a <= 1]
        if bad:
            raise ValueError(f"alpha must lie in [0, 1], got {bad[0]}")
        if len(set(values)) != len(values):
            raise ValueError(f"alpha lists a value twice: {values}")
        return alpha
