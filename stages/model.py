"""ModelStage: make a named model available to later stages, copying only what is not already addressable.

`tiny:` presets are built and `smollm2-135m` is converted into `out/model`; a hub id or a local folder
is only checked and returned as a reference (the runner turns a summary with `ref` into a ref artifact),
so a multi-GB checkpoint is never duplicated into the store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemas import Artifact, ModelStage
from stages._context import StageContext, StageError
from stages._models import build_tiny, check_hub, convert_smollm2


def run(spec: ModelStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Build, convert or pin the model named by `spec.model`; its `dtype` travels with the artifact."""
    summary = _build(spec, ctx)
    if spec.model.dtype != "auto":
        summary["dtype"] = spec.model.dtype
    return summary


def _build(spec: ModelStage, ctx: StageContext) -> dict[str, Any]:
    model = spec.model
    origin = model.origin
    if origin == "tiny":
        preset = model.source.removeprefix("tiny:")
        build_tiny(preset, model.seed, ctx.out / "model")
        return {"source": model.source, "seed": model.seed, "params": _count_params(ctx.out / "model")}
    if origin == "shipped":
        ctx.progress(0, 1, "convert smollm2-135m")
        convert_smollm2(ctx.out / "model")
        ctx.progress(1, 1, "convert smollm2-135m")
        return {"source": model.source, "params": _count_params(ctx.out / "model")}
    if origin == "path":
        folder = Path(model.source).expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise StageError(f"model folder {folder} has no config.json; "
                             "point `source` at a Hugging Face model folder")
        return {"ref": str(folder)}
    check_hub(model.source, model.revision)
    return {"ref": model.source, "revision": model.revision}


def _count_params(folder: Path) -> int:
    """Parameter count read from the safetensors headers (no weights loaded)."""
    from safetensors import safe_open

    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="np") as handle:
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    return total
