"""MergeStage: merge models into one model folder (BAI, Zheng et al. 2025: the actor is a weight average).

Inputs: `models.<name>` for each merged model, and `base` for methods that need one. Output: `model/`
with safetensors (sharded with an index when over `shard_mb`), and the config, generation config and
tokenizer of `config_from`. The models are checked (architecture, tensor names and shapes, vocabulary)
before any tensor is read. `linear` and `task_arithmetic` stream here; other methods go to mergekit.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemas import Artifact
from schemas.stages.merge import OWN_METHODS, MergeStage
from stages._context import StageContext, StageError
from stages._merge_check import check_all, folder_facts
from stages._merge_linear import merge_tensors
from stages._mergekit import mergekit_config, run_mergekit
from stages._models import adapter_base, check_hub
from stages._safetensors import tensor_table

COPIED = ("*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken")
"""Non-weight files taken from `config_from` (config, generation config, tokenizer, chat template)."""


def run(spec: MergeStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Check, merge, then give the result the files of `config_from`."""
    t0 = time.time()
    folders = {name: model_folder(inputs[f"models.{name}"], name) for name in spec.models}
    base = model_folder(inputs["base"], spec.base) if spec.base else None
    named = {**folders, **({spec.base: base} if spec.base and base else {})}
    problem = check_all([folder_facts(folder, name) for name, folder in named.items()])
    if problem:
        raise StageError(f"stage {spec.id!r}: cannot merge: {problem}")
    out = ctx.out / "model"
    out.mkdir(parents=True, exist_ok=True)
    weights = spec.effective_weights()
    if spec.method in OWN_METHODS:
        tables = [tensor_table(folder) for folder in folders.values()]
        normalize = spec.normalize if spec.normalize is not None else spec.method == "linear"
        facts = merge_tensors(tables, weights, out, base=tensor_table(base) if base else None,
                              normalize=normalize, dtype=spec.dtype, shard_bytes=spec.shard_mb * 10**6)
    else:
        parameters = {**({"normalize": spec.normalize} if spec.normalize is not None else {}), **spec.parameters}
        config = mergekit_config(spec.method, list(folders.values()), weights, base, parameters, spec.dtype)
        run_mergekit(config, out, spec.shard_mb * 10**6)
        facts = {"tensors": len(tensor_table(out))}
    copy_model_files(named[spec.config_from or spec.models[0]], out, spec.dtype)
    return {"method": spec.method, "weights": weights, "models": spec.models, "base": spec.base,
            "dtype": spec.dtype, "engine": "recipe" if spec.method in OWN_METHODS else "mergekit",
            "seconds": round(time.time() - t0, 3), **facts}


def model_folder(artifact: Artifact, name: str | None) -> Path:
    """A local folder with the model's safetensors: the artifact's own, or the hub snapshot in the cache."""
    source = artifact.model
    if Path(source).exists():
        folder = Path(source)
    else:
        from huggingface_hub import snapshot_download

        check_hub(source, artifact.revision)
        folder = Path(snapshot_download(source, revision=artifact.revision,
                                        allow_patterns=["*.safetensors", *COPIED]))
    if adapter_base(folder) is not None:
        raise StageError(f"model {name!r} is an unmerged LoRA adapter; merge needs full weights "
                         "(train it with lora: {merge: true})")
    if not tensor_table(folder):
        raise StageError(f"model {name!r} ({folder}) has no safetensors weights; merge reads only safetensors")
    return folder


def copy_model_files(source: Path, out: Path, dtype: str) -> None:
    """Config, generation config and tokenizer files of `source` into `out`; config's dtype is the merge's."""
    for pattern in COPIED:
        for file in source.glob(pattern):
            if file.name.endswith(".index.json") or not file.is_file():
                continue
            shutil.copyfile(file, out / file.name)
    config_file = out / "config.json"
    if dtype != "auto" and config_file.is_file():
        config = json.loads(config_file.read_text())
        config["dtype"] = dtype
        config.pop("torch_dtype", None)
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
