"""Fixtures for engine tests: write inline recipes to tmp files, load them as the CLI would."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(text, name="r.yaml") -> path of a dedented file in tmp_path."""

    def _write(text: str, name: str = "r.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write


PIPELINE = """
recipe: pipeline
name: demo
models:
  base: tiny:qwen2
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 32, seed: 1}
  test: {source: reasoning_gym, task: basic_arithmetic, size: 16, seed: 2}
stages:
  - {id: sft, kind: sft, model: base, data: train, max_steps: 5, lr: 1.0e-3}
  - {id: sample, kind: generate, model: sft, data: train, n: 2}
  - {id: keep, kind: filter, data: sample}
  - {id: eval, kind: evaluate, models: [base, sft], data: test}
"""


@pytest.fixture
def pipeline(write: Callable[..., Path]) -> Path:
    return write(PIPELINE)
