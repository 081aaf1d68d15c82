"""The GRPO replay buffer on disk: one JSONL line per rollout, appended as training goes.

A rollout row is `{step, id, prompt, completion, reward, correct, answer, finished, completion_tokens,
generations}`; `step` is the optimizer step the rollout was generated for (1-based), so a run resumed
from checkpoint K keeps exactly the rows with `step <= K`; `generations` is N, the completions per
prompt at that step (rollout scaling may raise it; older buffers lack it), and the rows of a step are
its rollout count (`stages.rollout_scaling.step_stats` sums them). A multi-turn episode (a grpo `task`) adds
`turns` (`{by: model | task, text, ...}` in order), `attempts`, `allowed` and `first_right`; its `correct` is
whether some attempt was right. The problems themselves (with their verifier
`meta`) are written once to `problems.jsonl`, so the buffer stays small. Torch-free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

BUFFER = "replay.jsonl"
PROBLEMS = "problems.jsonl"


def append(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append rows in one write and flush them, so a kill loses at most the batch being written."""
    text = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def read(path: Path) -> list[dict[str, Any]]:
    """All complete rows; a torn last line (the process was killed mid-write) is skipped."""
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def truncate(path: Path, max_step: int) -> int:
    """Drop rows generated after `max_step` (the checkpoint a run resumes from); returns rows kept."""
    if not path.exists():
        return 0
    kept = [row for row in read(path) if int(row.get("step", 0)) <= max_step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept), encoding="utf-8")
    os.replace(tmp, path)
    return len(kept)
