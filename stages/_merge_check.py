"""Can these models be merged? Architecture, tensor names and shapes, tokenizer vocabulary: compared
from config.json, safetensors headers and tokenizer files, before any tensor is read.

Stdlib only, so the compiler runs the same check at plan time wherever the models are already
known (a local folder, a stored artifact, a `tiny:` preset) and the merge stage runs it again on
the real folders. Each message names the first mismatch and the two models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from stages._safetensors import tensor_table

DIMS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "vocab_size")
"""Config fields that fix tensor shapes (compared when tensor tables are not known yet)."""

TINY_ARCHITECTURES = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}


@dataclass(frozen=True)
class ModelFacts:
    """What decides whether a model can be merged with another; None where not known yet."""

    label: str
    """How errors name the model (its name in the recipe)."""
    architecture: str | None = None
    dims: tuple[tuple[str, int], ...] = ()
    tensors: tuple[tuple[str, tuple[int, ...]], ...] | None = None
    vocab: tuple[str, ...] | None = None
    """Tokens in id order."""


def folder_facts(folder: Path, label: str) -> ModelFacts:
    """Facts of a Hugging Face model folder (config.json, safetensors headers, tokenizer files)."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    table = tensor_table(folder)
    return replace(config_facts(config, label),
                   tensors=tuple((name, info.shape) for name, info in sorted(table.items())) if table else None,
                   vocab=_vocabulary(folder))


def config_facts(config: dict, label: str) -> ModelFacts:
    """Facts of a model from its config.json alone (architecture and shape-fixing dims)."""
    return ModelFacts(label=label, architecture=(config.get("architectures") or [config.get("model_type")])[0],
                      dims=tuple((k, config[k]) for k in DIMS if isinstance(config.get(k), int)))


def tiny_facts(preset: str, label: str) -> ModelFacts:
    """Facts of a `tiny:<preset>` model without building it (every preset shares one tokenizer, so no vocab)."""
    from schemas.models import TINY_SHAPES

    shape = dict(TINY_SHAPES[preset])
    arch = TINY_ARCHITECTURES[shape.pop("arch")]
    dims = {**shape, "num_hidden_layers": 2}
    return ModelFacts(label=label, architecture=arch, dims=tuple((k, dims[k]) for k in DIMS if k in dims))


def _vocabulary(folder: Path) -> tuple[str, ...] | None:
    """Tokens in id order from tokenizer.json (model vocab + added tokens) or vocab.json; None if neither."""
    ids: dict[str, int] = {}
    if (folder / "tokenizer.json").is_file():
        tok = json.loads((folder / "tokenizer.json").read_text())
        vocab = tok.get("model", {}).get("vocab", {})
        if isinstance(vocab, list):  # unigram: [[token, score], ...]
            ids = {entry[0]: i for i, entry in enumerate(vocab)}
        else:
            ids = dict(vocab)
        ids.update({added["content"]: added["id"] for added in tok.get("added_tokens", [])})
    elif (folder / "vocab.json").is_file():
        ids = json.loads((folder / "vocab.json").read_text())
    if not ids:
        return None
    return tuple(token for token, _ in sorted(ids.items(), key=lambda item: item[1]))


def first_mismatch(a: ModelFacts, b: ModelFacts) -> str | None:
    """The first difference that makes `a` and `b` unmergeable, in words; None if none is known."""
    names = f"{a.label!r} and {b.label!r}"
    if a.architecture and b.architecture and a.architecture != b.architecture:
        return f"{names} have different architectures: {a.architecture} and {b.architecture}"
    if a.tensors is not None and b.tensors is not None:
        found = _tensor_mismatch(dict(a.tensors), dict(b.tensors), a.label, b.label)
        if found:
            return found
    else:
        dims_b = dict(b.dims)
        for key, value in a.dims:
            if key in dims_b and dims_b[key] != value:
                return (f"{names} have different shapes: {key} is {value} in {a.label!r} "
                        f"and {dims_b[key]} in {b.label!r}")
    if a.vocab is not None and b.vocab is not None and a.vocab != b.vocab:
        return f"{names} have different tokenizer vocabularies: {_vocab_difference(a.vocab, b.vocab)}"
    return None


def _tensor_mismatch(a: dict[str, tuple[int, ...]], b: dict[str, tuple[int, ...]], la: str, lb: str) -> str | None:
    for name in sorted(set(a) | set(b)):
        if name not in b:
            return f"tensor {name!r} is in {la!r} but not in {lb!r}"
        if name not in a:
            return f"tensor {name!r} is in {lb!r} but not in {la!r}"
        if a[name] != b[name]:
            return f"tensor {name!r} has shape {list(a[name])} in {la!r} and {list(b[name])} in {lb!r}"
    return None


def _vocab_difference(a: tuple[str, ...], b: tuple[str, ...]) -> str:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"token {index} is {x!r} in one and {y!r} in the other"
    return f"{len(a)} tokens against {len(b)}"


def check_all(facts: list[ModelFacts]) -> str | None:
    """The first mismatch between the first model and any other, or None."""
    for other in facts[1:]:
        found = first_mismatch(facts[0], other)
        if found:
            return found
    return None


def reward_model_mismatch(config: dict) -> str | None:
    """Why a model config is not a reward model's (sequence classification, one label), or None."""
    archs = config.get("architectures") or []
    if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
        return f"is a {archs[0]}, not a sequence classifier: loaded as a reward model its score head would be random"
    labels = config.get("num_labels", len(config.get("id2label") or {}) or 1)
    if labels != 1:
        return f"has {labels} outputs (num_labels); a reward model scores with one"
    return None


def judge_mismatch(config: dict) -> str | None:
    """Why a model config is not one that writes text (a judge, a generator), or None."""
    archs = config.get("architectures") or []
    if archs and not any(a.endswith(("ForCausalLM", "ForConditionalGeneration")) for a in archs):
        return f"is a {archs[0]}, not a causal language model: it cannot write a verdict"
    return None
