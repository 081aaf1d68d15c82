"""StageContext: what a running stage knows besides its spec and inputs (out folder, progress, tracking)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROGRESS_PREFIX = "@@progress "
"""Lines starting with this on a stage's stdout are progress events for the runner's live display."""


@dataclass
class StageContext:
    """Per-run facts of one stage process. `out` is the work folder; it becomes the artifact on success."""

    out: Path
    stage_id: str = "stage"
    recipe: str = "recipe"
    tracking: dict[str, Any] = field(default_factory=lambda: {"backend": "none"})
    checkpoint_dir: Path | None = None
    """Where the store keeps this stage's checkpoints (beside the work folder, shared by every node)."""

    @property
    def checkpoints(self) -> Path:
        """Trainer checkpoints; kept across attempts, deleted by the store once the commit verifies."""
        return self.checkpoint_dir or self.out / "checkpoints"

    def progress(self, done: int, total: int | None = None, desc: str = "", **metrics: float) -> None:
        """Report progress (steps, batches) to the runner; cheap, one line on stdout."""
        event = {"done": done, "total": total, "desc": desc, **metrics}
        sys.stdout.write(PROGRESS_PREFIX + json.dumps(event) + "\n")
        sys.stdout.flush()


class StageError(Exception):
    """A problem the user can fix (missing model, bad data); printed as one line, no traceback."""
