"""devices: the GPUs this machine lets a stage use, and how many a stage holds while it runs.

No torch import (the runner process stays light): CUDA_VISIBLE_DEVICES when set, else the driver's
list in /proc. A stage holds one GPU per process on a GPU machine and none on a CPU one; a sampling stage
(generate, evaluate, probe) holds the count its `resources.accelerators` names, which its vLLM engines
then share by tensor and data parallelism (stages/_parallel.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from sdk.fit.check import gpu_count
from sdk.plan import Stage

DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")


def visible_devices(env: dict[str, str] | None = None, driver: Path = DRIVER_GPUS) -> list[str]:
    """The GPU ids stages may be pinned to (empty on a CPU machine)."""
    env = dict(os.environ) if env is None else env
    given = env.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [d.strip() for d in given.split(",") if d.strip() and d.strip() != "-1"]
    if driver.is_dir():
        return [str(i) for i in range(sum(1 for _ in driver.iterdir()))]
    return []


def gpus_needed(stage: Stage, devices: list[str]) -> int:
    """GPUs the stage holds: one per process where there are GPUs (a sampling stage: as many as its
    accelerators name, at most all there are), none on a CPU machine."""
    if not devices:
        return 0
    if stage.spec.SAMPLING:
        return min(max(1, gpu_count(stage.spec.resources.accelerators)), len(devices))
    return stage.spec.resources.processes


def default_jobs(devices: list[str]) -> int:
    """Stages at once when `--jobs` is not given: one per GPU on a GPU machine, one on a CPU."""
    return max(len(devices), 1)
