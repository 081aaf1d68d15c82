"""The stage registry: every stage kind and the `module:function` that runs it (nothing imported here).

Adding a stage kind: a spec module in `schemas/stages/` (with its traits, `VERSION` among them) listed in
`schemas/stage_kinds.py`, a module in `stages/`, and one line below.
"""

from __future__ import annotations

STAGE_KINDS: dict[str, str] = {
    "model": "stages.model:run",
    "dataset": "stages.dataset:run",
    "sft": "stages.sft:run",
    "grpo": "stages.grpo:run",
    "generate": "stages.generate:run",
    "replay": "stages.replay:run",
    "filter": "stages.filter:run",
    "take": "stages.take:run",
    "sample_effect": "stages.sample_effect:run",
    "evaluate": "stages.evaluate:run",
    "split": "stages.split:run",
    "forgetting": "stages.forgetting:run",
    "merge": "stages.merge:run",
    "probe": "stages.probe:run",
    "partition": "stages.partition:run",
    "solutions": "stages.solutions:run",
    "attribute": "stages.attribute:run",
}
"""Stage kind -> `module:function` (imported only inside the stage's own process)."""
