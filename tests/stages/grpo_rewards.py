"""Custom GRPO rewards for the tests, imported by `module:function` inside the stage."""

from __future__ import annotations

from typing import Any


def text_length(completions: list[Any], completion_ids: list[list[int]], answer: list[str],
                **kwargs: Any) -> list[float]:
    """Characters per token: varies across samples of a random model, so every group carries a signal.

    Also checks that TRL hands over the dataset's `answer` column and the trainer state.
    """
    assert len(answer) == len(completions) and "trainer_state" in kwargs
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [len(text) / max(1, len(ids)) for text, ids in zip(texts, completion_ids, strict=True)]
