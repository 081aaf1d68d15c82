"""The CUDA guard: a stage on a GPU machine whose torch cannot see the GPU fails at once, saying why.

A torch wheel built for a newer CUDA than the node's driver falls back to the CPU without a word,
and a training stage then runs for days instead of hours. The machine "has GPUs" when SkyPilot
booked them (SKYPILOT_NUM_GPUS_PER_NODE) or the NVIDIA driver lists some.
"""

from __future__ import annotations

import os
from pathlib import Path

from stages._context import StageError

ALLOW_CPU = "RECIPE_ALLOW_CPU"
"""Set to 1 to run on the CPU of a GPU machine on purpose."""


def machine_gpus() -> int:
    """GPUs this machine is meant to use (0 when CUDA_VISIBLE_DEVICES hides them all)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    booked = os.environ.get("SKYPILOT_NUM_GPUS_PER_NODE", "").strip()
    if booked.replace(".", "", 1).isdigit() and float(booked) > 0:
        return max(1, int(float(booked)))
    listed = Path("/proc/driver/nvidia/gpus")
    return len(list(listed.iterdir())) if listed.is_dir() else 0


def require_cuda(stage_id: str) -> None:
    """Raise StageError when this machine has GPUs but torch cannot use them (unless RECIPE_ALLOW_CPU=1)."""
    gpus = machine_gpus()
    if not gpus or os.environ.get(ALLOW_CPU) == "1":
        return
    import torch

    if torch.cuda.is_available():
        return
    built = torch.version.cuda or "none (a CPU-only build)"
    raise StageError(
        f"stage {stage_id!r}: this machine has {gpus} GPU(s) but torch {torch.__version__} cannot use them "
        f"(built for CUDA {built}), so it would train on the CPU. Install the torch build that matches the "
        "driver (`nvidia-smi` shows the highest CUDA it supports), e.g. in runner.setup: "
        "`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126`; "
        f"or set {ALLOW_CPU}=1 to run on the CPU on purpose"
    )
