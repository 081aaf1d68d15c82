"""The registries: every recipe kind and stage kind, by name, as import strings (nothing imported here).

Adding a stage kind: a spec in `schemas/stages.py`, a module in `stages/`, one line below.
Bump a stage's `version` when its code changes what it produces: every cached output of it is redone.
"""

from __future__ import annotations

from typing import NamedTuple


class StageKind(NamedTuple):
    entry: str
    """`module:function` that runs the stage (imported only inside the stage's own process)."""
    version: int
    """Stage-code version; part of every fingerprint of this kind."""


STAGE_KINDS: dict[str, StageKind] = {
    "model": StageKind("stages.model:run", 1),
    "dataset": StageKind("stages.dataset:run", 1),
    "sft": StageKind("stages.sft:run", 1),
    "grpo": StageKind("stages.grpo:run", 1),
    "generate": StageKind("stages.generate:run", 1),
    "replay": StageKind("stages.replay:run", 1),
    "filter": StageKind("stages.filter:run", 1),
    "evaluate": StageKind("stages.evaluate:run", 1),
    "split": StageKind("stages.split:run", 1),
}

RECIPE_EXPANDERS: dict[str, str] = {
    "pipeline": "sdk.expanders.pipeline:expand",
    "re-distill": "sdk.expanders.re_distill:expand",
}
"""Recipe kind -> `module:function` turning a validated recipe into stage specs."""

RUNNERS: dict[str, str] = {
    "local": "runners.local:LocalRunner",
    "skypilot": "runners.skypilot:SkyPilotLauncher",
}
"""Runner kind (`runner.kind`, `--runner`) -> `module:Class` that runs a plan's stages there."""
