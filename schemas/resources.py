"""Resources: what a stage needs to run (processes, distribution strategy, cloud accelerators)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas._base import Schema


class Resources(Schema):
    """Per-stage compute. Never part of a stage's fingerprint: moving a stage does not change its result."""

    processes: int = Field(default=1, ge=1)
    """Worker processes on one node (one per GPU); >1 launches through accelerate (torchrun on CPU)."""
    strategy: Literal["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"] = "ddp"
    """How several processes share the model."""
    accelerators: str | None = Field(default=None, examples=["H100:8", "A100-80GB:4"])
    """Cloud accelerators for SkyPilot, `NAME:COUNT`."""
    num_nodes: int = Field(default=1, ge=1)
    """Machines for the stage (cloud runs)."""
    use_spot: bool = False
    """Spot instances (cloud runs): cheaper, may be preempted."""
    cloud: str | None = None
    """Cloud to run on (aws, gcp, azure, ...); any enabled one when unset."""
    region: str | None = None
    """Region to run in; any when unset."""
    disk_size: int | None = Field(default=None, ge=1)
    """Disk in GB."""
