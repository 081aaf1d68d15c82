"""A GRPO reward that takes its time, so a test can kill the stage between two checkpoints."""

from __future__ import annotations

import time
from typing import Any


def slow(completions: list[Any], **kwargs: Any) -> list[float]:
    """Half a second per batch; rewards completions by length so the groups carry a signal."""
    time.sleep(0.5)
    return [len(c if isinstance(c, str) else c[0]["content"]) / 40 for c in completions]
