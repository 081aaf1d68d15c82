"""Model shapes for the memory fit check, read without torch: a `tiny:` preset, a folder's config.json,
the Hugging Face cache (or the hub when reachable), or the few configs the shipped recipes use.

    shape_of(plan, stage) -> Shape | str      (a str says why the shape is unknown)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from schemas.models import TINY_LAYERS, TINY_SHAPES, TINY_VOCAB
from sdk.plan import Plan, Stage

KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "smollm2-135m": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
                     "tie_word_embeddings": True},
    "Qwen/Qwen2.5-0.5B": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                          "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                          "tie_word_embeddings": True, "model_type": "qwen2",
                          "torch_dtype": "bfloat16"},
    "Qwen/Qwen2.5-1.5B": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                          "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
                          "tie_word_embeddings": True, "model_type": "qwen2",
                          "torch_dtype": "bfloat16"},
    "Qwen/Qwen2.5-Math-1.5B": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                               "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
                               "tie_word_embeddings": True, "model_type": "qwen2", "torch_dtype": "bfloat16",
                               "max_position_embeddings": 4096},
    "Qwen/Qwen2.5-7B": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                        "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                        "tie_word_embeddings": False, "model_type": "qwen2",
                        "torch_dtype": "bfloat16"},
    "Skywork/Skywork-Reward-V2-Qwen3-0.6B": {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
                                             "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
                                             "vocab_size": 151936, "tie_word_embeddings": True,
                                             "model_type": "qwen3", "torch_dtype": "bfloat16"},
    "Qwen/QwQ-32B": {"hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64,
                     "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 152064,
                     "tie_word_embeddings": False, "model_type": "qwen2", "torch_dtype": "bfloat16"},
    "Qwen/Qwen2.5-32B": {"hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64,
                         "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 152064,
                         "tie_word_embeddings": False, "model_type": "qwen2", "torch_dtype": "bfloat16"},
    "meta-llama/Llama-3.1-8B": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                                "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
                                "tie_word_embeddings": False, "model_type": "llama", "torch_dtype": "bfloat16"},
}
"""config.json fields of the shipped model and of the hub models the shipped recipes name, so that
`plan` works offline; the `-Instruct` twins share these shapes."""


@dataclass(frozen=True)
class Shape:
    """What memory depends on: sizes from a transformers config."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = True
    qkv_bias: bool = False
    head_size: int = 0
    """config.json's `head_dim` where it is not hidden / heads (Qwen3); 0: hidden / heads."""
    weight_bytes: int = 4
    """Bytes per weight as training loads it: 4 for float32, 2 for a bfloat16/float16 checkpoint loaded
    with `dtype: auto` (transformers' default), which then trains without fp32 master weights."""
    source: str = ""
    """Where the numbers came from (printed beside the estimate)."""

    @property
    def head_dim(self) -> int:
        return self.head_size or self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def params(self) -> int:
        """Parameter count of a Llama/Qwen2-style decoder."""
        h, kv, i, q = self.hidden, self.kv_dim, self.intermediate, self.heads * self.head_dim
        attention = 2 * h * q + 2 * h * kv + ((q + 2 * kv) if self.qkv_bias else 0)
        layer = attention + 3 * h * i + 2 * h
        embeddings = self.vocab * h * (1 if self.tied else 2)
        return embeddings + self.layers * layer + h


HALF_DTYPES = ("bfloat16", "float16")


def from_config(config: dict[str, Any], source: str, dtype: str = "auto") -> Shape:
    """A shape from config.json fields; `dtype` is the recipe's load dtype (`auto` keeps the checkpoint's)."""
    heads = int(config["num_attention_heads"])
    stored = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    return Shape(
        hidden=int(config["hidden_size"]), intermediate=int(config["intermediate_size"]),
        layers=int(config["num_hidden_layers"]), heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads), vocab=int(config["vocab_size"]),
        tied=bool(config.get("tie_word_embeddings", False)),
        qkv_bias=config.get("model_type") == "qwen2" or bool(config.get("attention_bias", False)),
        head_size=int(config.get("head_dim") or 0),
        weight_bytes=2 if (stored if dtype == "auto" else dtype) in HALF_DTYPES else 4, source=source,
    )


def _tiny(preset: str) -> Shape:
    fields = dict(TINY_SHAPES[preset])
    arch = fields.pop("arch")
    config = {**fields, "num_hidden_layers": TINY_LAYERS, "vocab_size": TINY_VOCAB, "tie_word_embeddings": True,
              "model_type": arch}
    return from_config(config, f"tiny:{preset} preset")


def _hub_config(name: str, revision: str | None) -> dict[str, Any] | str:
    """config.json from the local cache, or from the hub unless offline; a str says why not."""
    try:
        from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    except ImportError:
        return "huggingface_hub is not installed here"
    cached = try_to_load_from_cache(name, "config.json", revision=revision)
    if isinstance(cached, str):
        return json.loads(Path(cached).read_text())
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"} or constants.HF_HUB_OFFLINE
    if offline:
        return "its config is not in the Hugging Face cache and HF_HUB_OFFLINE is set"
    try:
        return json.loads(Path(hf_hub_download(name, "config.json", revision=revision, etag_timeout=5)).read_text())
    except Exception as err:  # network, 404, gated: the check cannot run, the plan still can
        return f"cannot read its config from the hub ({type(err).__name__})"


def built_in_config(source: str) -> dict[str, Any] | None:
    """The built-in copy of a shipped or well-known hub model's config.json (no file, no network), or None."""
    return KNOWN_CONFIGS.get(source) or KNOWN_CONFIGS.get(source.removesuffix("-Instruct"))


def model_shape(source: str, revision: str | None = None, dtype: str = "auto") -> Shape | str:
    """The shape of a ModelSpec source, or why it is unknown."""
    if source.startswith("tiny:"):
        shape = _tiny(source[5:])
        return replace(shape, weight_bytes=2) if dtype in HALF_DTYPES else shape
    folder = Path(source).expanduser()
    if folder.is_absolute() or source.startswith("."):
        config_file = folder / "config.json"
        if not config_file.is_file():
            return f"{folder} has no config.json (yet)"
        return from_config(json.loads(config_file.read_text()), f"{config_file}", dtype)
    if (config := built_in_config(source)) is not None:
        hub = None if source == "smollm2-135m" else _hub_config(source, revision)
        if isinstance(hub, dict):
            return from_config(hub, f"{source} config.json", dtype)
        return from_config(config, f"{source} (built-in copy of its config.json)", dtype)
    config = _hub_config(source, revision)
    return from_config(config, f"{source} config.json", dtype) if isinstance(config, dict) else config


MODEL_SLOTS = ("model", "run", "base")
"""Input slots that carry the model a stage's output has the shape of (besides a merge's `models.<name>`)."""


def _model_input(stage: Stage) -> str | None:
    """The input whose model has the shape of what `stage` makes: trained, sampled or merged from it."""
    inputs = dict(stage.inputs)
    for slot in MODEL_SLOTS:
        if slot in inputs:
            return inputs[slot]
    merged = [ref for slot, ref in stage.inputs if slot.startswith("models.")]
    return merged[0] if merged else None  # merged models share one architecture (checked by the merge)


def shape_of(plan: Plan, stage: Stage) -> Shape | str:
    """The shape of the model a stage works on: follow its model input (through trainings, replays and
    merges, whose outputs keep their inputs' shape) back to a named model."""
    seen: set[str] = set()
    current = stage
    while current.kind != "model":
        dep = _model_input(current)
        if dep is None or dep in seen:
            return f"stage {current.id!r} names no model input"
        seen.add(dep)
        current = plan.producer(dep)
    spec = current.spec.model  # type: ignore[attr-defined]
    return model_shape(spec.source, spec.revision, spec.dtype)


def training_shape(plan: Plan, stage: Stage) -> Shape | str:
    """The shape of the model a training stage trains, in the dtype it trains in (its `dtype`, which
    wins over the checkpoint's when the stage loads the weights)."""
    shape = shape_of(plan, stage)
    if isinstance(shape, str):
        return shape
    return replace(shape, weight_bytes=2 if stage.spec.dtype in HALF_DTYPES else 4)  # type: ignore[attr-defined]
