"""How the sampling stages (generate, evaluate, probe) sample: temperature, length, batch, backend."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas._base import Schema


class _Sampling(Schema):
    temperature: float = Field(default=1.0, ge=0)
    """0 means greedy."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches this."""
    max_new_tokens: int = Field(default=256, ge=1)
    """Longest response in tokens; longer ones are cut off (and count as unfinished)."""
    batch_size: int = Field(default=16, ge=1)
    """Prompts per generation batch."""
    seed: int = 0
    """Sampling seed."""
    backend: Literal["auto", "transformers", "vllm"] = "auto"
    """`auto` uses vLLM when it is installed and a GPU is present."""
