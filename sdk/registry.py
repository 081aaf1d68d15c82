"""The registries of the engine: every recipe kind and runner, by name, as import strings.

Nothing is imported here: a kind's module loads only when a recipe uses it. The stage kinds are
registered beside their code, in `stages/registry.py`.
"""

from __future__ import annotations

import importlib
from typing import Any

RECIPE_EXPANDERS: dict[str, str] = {
    "pipeline": "sdk.compile.expanders.pipeline:expand",
    "re-distill": "sdk.compile.expanders.re_distill:expand",
    "cnl-inject": "sdk.compile.expanders.cnl_inject:expand",
    "bai-merge": "sdk.compile.expanders.bai_merge:expand",
    "coscale-rl": "sdk.compile.expanders.coscale_rl:expand",
    "cognition-attribution": "sdk.compile.expanders.cognition_attribution:expand",
}
"""Recipe kind -> `module:function` turning a validated recipe into stage specs."""

RUNNERS: dict[str, str] = {
    "local": "runners.local:Local",
    "skypilot": "runners.skypilot:SkyPilot",
}
"""Runner kind (`runner.kind`, `--runner`) -> `module:Class` implementing `sdk.run.runner.Runner`
(plan with estimate, apply, status, logs, cancel) for that place."""


def load_runner(kind: str) -> Any:
    """The runner class registered for `kind` (its module is imported now, not before; `sdk.api` calls it)."""
    module, _, attr = RUNNERS[kind].partition(":")
    return getattr(importlib.import_module(module), attr)
