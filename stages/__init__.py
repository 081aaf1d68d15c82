"""The operations a plan runs, one module per stage kind; heavy libraries are imported inside `run`.

Every stage module has `run(spec, inputs, ctx) -> dict`: `spec` is its schema from `schemas.stages`,
`inputs` maps each input slot to an `Artifact`, `ctx` is a `StageContext` whose `out` folder becomes
the artifact (`model/` for a model, `data.jsonl` for a dataset, `report.json` for a report).
The returned dict is a summary that lands in the manifest.

What code outside `stages/` may use is imported here (runners read progress lines, the report reads
replay buffers, the store writes and checks manifests' file lists, `plan` checks local JSONL files and
merges, the fit check lays vLLM out as the stage will); the underscore modules are this package's own.
"""

from stages import _inventory as inventory
from stages._context import PROGRESS_PREFIX, StageContext, StageError
from stages._jsonl import JsonlError, checked_rows, first_without
from stages._mcq import RowError as McqRowError
from stages._mcq import mcq_rows
from stages._merge_check import (
                                  ModelFacts,
                                  check_all,
                                  config_facts,
                                  first_mismatch,
                                  folder_facts,
                                  judge_mismatch,
                                  reward_model_mismatch,
                                  tiny_facts,
)
from stages._parallel import VLLM_SHARE, Layout, sampling_layout
from stages._replay_buffer import read as read_replay_buffer

__all__ = ["PROGRESS_PREFIX", "VLLM_SHARE", "JsonlError", "Layout", "McqRowError", "ModelFacts", "StageContext",
           "StageError", "check_all", "checked_rows", "config_facts", "first_mismatch", "first_without",
           "folder_facts", "inventory", "judge_mismatch", "mcq_rows", "read_replay_buffer", "reward_model_mismatch",
           "sampling_layout", "tiny_facts"]
