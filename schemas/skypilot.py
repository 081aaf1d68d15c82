"""SkyPilotRunner: run a recipe's stages on cloud GPUs, with the artifact store on a mounted bucket."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from schemas._base import Schema
from schemas.secrets import is_secret_name

BUCKET_PATTERN = (r"^((s3|gs|r2|cos|oci)://[A-Za-z0-9][A-Za-z0-9._\-]*(/[^\s]*)?"
                  r"|https://[^\s/]+\.blob\.core\.windows\.net/[^\s]+)$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CloudDefaults(Schema):
    """Machines for stages that do not say otherwise (a stage's own `resources` win field by field)."""

    accelerators: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(:\d+(\.\d+)?)?$",
                                     examples=["H100:8", "A100-80GB:4", "L4:1"])
    """Accelerators per node, `NAME:COUNT`."""
    use_spot: bool = False
    """Spot instances (with managed jobs, a preempted stage resumes from its checkpoints in the bucket)."""
    cloud: str | None = None
    """aws, gcp, azure, lambda, nebius, runpod, kubernetes, ... (any enabled in `sky check` when unset)."""
    region: str | None = None
    """Region to run in; any when unset."""
    disk_size: int | None = Field(default=None, ge=1)
    """Disk per node in GB."""


class SkyPilotRunner(Schema):
    """Run each stage (or each run of stages needing the same machines) as a SkyPilot task.

    Every task calls `recipe apply FILE --only STAGE` on its node against the store on `bucket`, so
    finished stages are skipped on any machine and an interrupted stage resumes from its checkpoints.
    """

    kind: Literal["skypilot"]
    bucket: str = Field(pattern=BUCKET_PATTERN, examples=["s3://my-bucket/runs", "gs://my-bucket/recipes"])
    """The artifact store: a bucket URL (with an optional folder) mounted on every node."""
    mount: Literal["MOUNT_CACHED", "MOUNT"] = "MOUNT_CACHED"
    """How the bucket is mounted. MOUNT_CACHED (rclone, local cache) supports appends and renames,
    which the store uses; plain MOUNT only suits buckets whose FUSE driver supports both."""
    mount_path: str = Field(default="/recipe-store", pattern=r"^/[A-Za-z0-9_.\-/]+$")
    """Where the bucket appears on the nodes."""
    managed: bool = True
    """Launch the tasks as one managed-jobs pipeline (spot recovery, runs without this machine);
    false: one cluster per task, launched in order from here and torn down after its task."""
    merge_stages: bool = True
    """Run consecutive stages that need the same single-node machines in one task (one cluster)."""
    workdir: str = "."
    """Folder synced to every node (honours .gitignore / .skyignore); the recipe file must be inside."""
    ship_files: bool = True
    """Send local data files outside `workdir` to every node (file_mounts); false: refuse such a recipe."""
    install: str = "."
    """What pip installs on the nodes: `.` (the synced workdir is a checkout of this project) or a
    requirement such as `recipe[train]==0.1.0` or a git URL."""
    extras: list[str] = ["train"]
    """Extras added when `install` is a folder."""
    gpu_extras: list[str] = ["vllm"]
    """Extras added on tasks whose machines have accelerators (vLLM: colocated GRPO rollouts, fast evaluation)."""
    setup: list[str] = []
    """Shell lines run before the install, inside the node's venv (e.g. a CUDA-specific torch index)."""
    envs: dict[str, str] = {}
    """Plain environment variables for the stages. Their values are written into the task YAML:
    credentials belong in `secrets`."""
    secrets: list[str] = ["HF_TOKEN", "WANDB_API_KEY"]
    """Names of variables passed from this environment through SkyPilot secrets (names missing here are
    skipped). Their values are never written to a file."""
    resources: CloudDefaults = CloudDefaults()
    """Default machines for every stage."""
    max_parallel: int | None = Field(default=None, ge=1)
    """Most stage jobs running at once; unset: every stage whose inputs are ready."""
    budget: float | None = Field(default=None, gt=0)
    """Refuse to launch when the estimated cost in $ exceeds this (or cannot be estimated)."""
    hours: dict[str, float] = {}
    """Expected hours per stage id or stage kind, for the estimate; e.g. `{grpo: 10, sft: 2}`."""
    default_hours: float = Field(default=1.0, ge=0)
    """Hours assumed for a GPU stage that `hours` does not name."""
    max_restarts_on_errors: int = Field(default=0, ge=0)
    """Managed jobs: restart a stage that fails (not just preemptions) up to this many times."""

    @field_validator("envs")
    @classmethod
    def _no_credentials_in_envs(cls, envs: dict[str, str]) -> dict[str, str]:
        for name in envs:
            if not ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if is_secret_name(name):
                raise ValueError(f"{name!r} looks like a credential; list its name under `secrets:` so its "
                                 "value comes from your environment and is never written to a file")
        return envs

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if not ENV_NAME.match(n)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an environment variable name (secrets lists names, not values)")
        return names
