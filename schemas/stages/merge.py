"""MergeStage: several models -> one, by weight averaging (ours) or any mergekit method (delegated)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from schemas.artifacts import ArtifactType
from schemas.stages.base import StageSpec

OWN_METHODS = ("linear", "task_arithmetic")
"""Merges done here, streaming tensor by tensor."""

MERGEKIT_METHODS = ("ties", "dare_ties", "dare_linear", "della", "della_linear", "breadcrumbs", "breadcrumbs_ties",
                    "slerp", "nuslerp", "multislerp", "karcher", "model_stock", "sce", "nearswap", "arcee_fusion",
                    "ram", "ramplus_tl", "passthrough")
"""Merges delegated to mergekit 0.1.5 (the `merge` extra)."""

NEEDS_BASE = frozenset({"task_arithmetic", "ties", "dare_ties", "dare_linear", "della", "della_linear",
                        "breadcrumbs", "breadcrumbs_ties", "slerp", "model_stock", "sce", "nearswap",
                        "arcee_fusion", "ram", "ramplus_tl"})
"""Methods that combine differences from a `base` model."""

MergeMethod = Literal[OWN_METHODS + MERGEKIT_METHODS]  # type: ignore[valid-type]


class MergeStage(StageSpec):
    """Merge models that share an architecture and tokenizer into one model (BAI's actor initialisation).

    `linear`: sum of w_i * m_i; `task_arithmetic`: base + sum of w_i * (m_i - base); both streamed
    through safetensors here. Every other method runs through mergekit's Python API.
    """

    kind: Literal["merge"]
    method: MergeMethod = "linear"
    """`linear` or `task_arithmetic` (streamed here), or a mergekit method: ties, dare_ties, slerp, della, ..."""
    models: list[str] = Field(min_length=1)
    """Models to merge (names or stage ids), in the order `weights` follow."""
    weights: list[float] | None = None
    """One weight per model; default: equal weights summing to 1."""
    alpha: float | None = Field(default=None, ge=0, le=1)
    """Two models only: the first model's weight; the second gets 1 - alpha (BAI's interpolation)."""
    normalize: bool | None = None
    """`linear` (default true): the weights must sum to 1 (an average); false uses them as given. Other
    methods: divide the weighted sum of differences by the sum of the weights (default: mergekit's)."""
    base: str | None = None
    """Base model of `task_arithmetic`, ties, dare, slerp, ... (a name or stage id)."""
    parameters: dict[str, Any] = {}
    """Extra mergekit parameters for delegated methods, e.g. `{density: 0.5}` for ties, `{t: 0.3}` for slerp."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Dtype of the merged weights; arithmetic is float32. `auto` keeps each tensor's input dtype."""
    config_from: str | None = None
    """Model whose config, generation config and tokenizer the merge gets (default: the first model)."""
    shard_mb: int = Field(default=5000, ge=1)
    """Largest safetensors shard in MB (a bigger merge is written as shards plus an index)."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"models": "model", "base": "model"}
    OUTPUT: ClassVar[ArtifactType] = "model"
    SHAPE_FROM: ClassVar[str | None] = "models"
    LIGHT: ClassVar[bool] = True  # CPU arithmetic over files, a few tensors in memory: no accelerator

    @model_validator(mode="after")
    def _consistent(self) -> MergeStage:
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models lists a model twice: {self.models}")
        if self.alpha is not None and self.weights is not None:
            raise ValueError("give either alpha or weights, not both")
        if self.alpha is not None and len(self.models) != 2:
            raise ValueError(f"alpha interpolates two models; got {len(self.models)}")
        if self.weights is not None and len(self.weights) != len(self.models):
            raise ValueError(f"weights has {len(self.weights)} entries for {len(self.models)} models")
        total = sum(self.effective_weights())
        if self.method == "linear" and self.normalize is not False and not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"linear weights sum to {total:g}, not 1 (set normalize: false to use them as given)")
        if self.method in NEEDS_BASE and self.base is None:
            raise ValueError(f"method {self.method} needs a `base` model")
        if self.config_from is not None and self.config_from not in (*self.models, self.base):
            raise ValueError(f"config_from {self.config_from!r} is not one of the merged models {self.models}")
        return self

    def effective_weights(self) -> list[float]:
        """The weight of each model: `weights`, or (alpha, 1 - alpha), or equal weights."""
        if self.weights is not None:
            return list(self.weights)
        if self.alpha is not None:
            return [self.alpha, 1.0 - self.alpha]
        return [1.0 / len(self.models)] * len(self.models)
