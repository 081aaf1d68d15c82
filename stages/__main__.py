"""Run one stage in this process: `python -m stages JOB.json` (what the local runner spawns).

JOB.json holds the stage spec, its resolved input artifacts and the work folder. Under torchrun or
accelerate every rank runs this; the stage decides what only rank 0 writes.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from schemas import AnyStage, Artifact
from stages import _inventory as inventory
from stages import _passthrough
from stages._context import StageContext, StageError
from stages.registry import STAGE_KINDS


def _entry(kind: str):
    module, _, attr = STAGE_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), attr)


def peak_memory() -> dict[str, float]:
    """This process's peak resident memory, and its peak GPU memory when it used CUDA (GB, rank 0)."""
    import resource

    peak = {"rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        peak["gpu_allocated_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
        peak["gpu_reserved_gb"] = round(torch.cuda.max_memory_reserved() / 1e9, 3)
    return peak


def check_inputs(inputs: dict[str, Artifact], stage_id: str) -> str | None:
    """Hash every file of each stored input against its manifest before the stage reads any of it, so a
    corrupted model is never trained on or scored. A mismatch marks the input broken (the next apply
    rebuilds it, and what was built from it) and is returned as the error to print. One process per node
    checks (LOCAL_RANK 0); a failure there ends the launch before the others get past their first collective."""
    if int(os.environ.get("LOCAL_RANK", "0")) != 0:
        return None
    slots = {a.path: slot for slot, a in inputs.items()}  # one check per folder, named by a slot reading it
    t0, checked = time.time(), 0
    for path, slot in slots.items():
        folder = Path(path)
        reason = inventory.verify(folder, f"stage {stage_id!r}")
        if reason is not None:
            return (f"input {slot!r} ({folder}) is corrupt: {reason}. It is marked broken: the next "
                    f"`recipe apply` rebuilds it, and what was built from it, before this stage runs again.")
        checked += (folder / inventory.MANIFEST).is_file()
    if checked:
        print(f"verified {checked} input artifact(s) against their manifests in {time.time() - t0:.1f} s", flush=True)
    return None


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    try:
        spec = TypeAdapter(Annotated[AnyStage, Field(discriminator="kind")]).validate_python(job["spec"])
    except ValidationError as err:  # a job written by another version of the project
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                 for e in err.errors(include_url=False)]
        print(f"error: {argv[0]}: the stage spec does not validate: " + "; ".join(lines[:3]), file=sys.stderr)
        return 2
    inputs = {slot: Artifact.model_validate(a) for slot, a in job["inputs"].items()}
    ctx = StageContext(
        out=Path(job["out"]),
        stage_id=spec.id,
        recipe=job.get("recipe", "recipe"),
        tracking=job.get("tracking", {"backend": "none"}),
        checkpoint_dir=Path(job["checkpoints"]) if job.get("checkpoints") else None,
    )
    ctx.out.mkdir(parents=True, exist_ok=True)
    if (broken := check_inputs(inputs, spec.id)) is not None:
        print(f"error: {broken}", file=sys.stderr)
        return 2
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:  # one line per rank in the stage log, so a multi-process launch shows every process
        print(f"[rank{os.environ.get('RANK', '0')}] {spec.kind} stage {spec.id!r}: one of {world} processes",
              flush=True)
    try:
        if _passthrough.applies(spec, inputs):
            summary = _passthrough.pass_through(spec, inputs, ctx.out) if int(os.environ.get("RANK", "0")) == 0 else {}
        else:
            summary = _entry(spec.kind)(spec, inputs, ctx) or {}
    except StageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary["peak_memory"] = peak_memory()
    if int(os.environ.get("RANK", "0")) == 0:
        (ctx.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
