"""Recipe: the whole YAML file, a union tagged by `recipe:` (the kind of experiment)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr

from schemas._base import Schema
from schemas.data import DataSpec
from schemas.models import AnyModel
from schemas.names import Name, RecipeName
from schemas.skypilot import SkyPilotRunner


class LocalRunner(Schema):
    """Run stages on this machine, each in its own subprocess (accelerate / torchrun for several processes)."""

    kind: Literal["local"] = "local"
    max_parallel: int | None = Field(default=None, ge=1)
    """Most stages running at once (caps `--jobs`); unset: `--jobs`, else one per GPU, one on a CPU."""


RunnerSpec = Annotated[LocalRunner | SkyPilotRunner, Field(discriminator="kind")]


class Tracking(Schema):
    """Where training metrics go. Never part of a fingerprint."""

    backend: Literal["tensorboard", "wandb", "none"] = "tensorboard"
    """Where metrics go: TensorBoard files in each stage's folder, Weights & Biases, or nowhere."""
    project: str | None = None
    """wandb project (WANDB_API_KEY comes from the environment)."""


class RecipeBase(Schema):
    """Blocks every recipe kind shares: named models and data, runner, store, tracking, free vars."""

    name: RecipeName
    """Experiment name; the store keeps the last plan applied under it."""
    description: str | None = None
    """Free text: what this experiment is for."""
    models: dict[Name, AnyModel] = {}
    """Named models: `base: Qwen/Qwen2.5-1.5B`, `tiny: tiny:qwen2`, `small: smollm2-135m`, or another
    recipe's model: `reasoning: {recipe: quickstart.yaml, stage: student}`."""
    data: dict[Name, DataSpec] = {}
    """Named datasets: reasoning-gym tasks, JSONL files, hub datasets."""
    runner: RunnerSpec = LocalRunner()
    """Where stages run: `{kind: local}` (this machine) or `{kind: skypilot, bucket: ...}` (cloud GPUs)."""
    store: str = "./runs"
    """Artifact store folder (relative to the current directory)."""
    tracking: Tracking = Tracking()
    """Where training metrics go (never part of a fingerprint)."""
    vars: dict[str, Any] = {}
    """Free values for `${vars.x}` interpolation."""

    _source: Any = PrivateAttr(default=None)
    """The loaded document (locations, base folder) when the recipe came from a file."""

    def count_checks(self, rows: dict[str, int]) -> tuple[list[Note], list[Note]]:
        """(errors, warnings) about counts the fields alone cannot judge: schedules against iterations,
        groups against the rows of a dataset (`rows`: name -> row count, where the plan knows it). An error
        where the recipe cannot mean it, a warning where it might. Each note is (path in the file, message)."""
        return [], []


Note = tuple[tuple[str | int, ...], str]
"""A message about the recipe, and the path of the value it is about."""
