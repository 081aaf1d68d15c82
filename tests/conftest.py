"""Shared test setup: offline Hugging Face, the repo on sys.path, one tiny model and one dataset per session.

The environment is set at import, before any test imports huggingface_hub (which reads it once).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from schemas import Artifact  # noqa: E402
from stages._context import StageContext  # noqa: E402

ARITHMETIC = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+"]}
"""1-digit addition: tiny prompts, so generation and training stay fast."""


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """A `tiny:qwen2` model artifact (seed 0), built once per session."""
    from stages._models import build_tiny

    folder = tmp_path_factory.mktemp("tiny-model")
    build_tiny("qwen2", 0, folder / "model")
    return Artifact(type="model", path=str(folder))


@pytest.fixture(scope="session")
def arithmetic_data(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """A dataset artifact of 6 reasoning-gym 1-digit additions."""
    from schemas import DatasetStage
    from stages import dataset

    folder = tmp_path_factory.mktemp("arithmetic")
    spec = DatasetStage(id="data", data={"source": "reasoning_gym", "task": "basic_arithmetic", "size": 6,
                                         "seed": 1, "config": ARITHMETIC})
    dataset.run(spec, {}, StageContext(out=folder))
    return Artifact(type="dataset", path=str(folder))


@pytest.fixture
def ctx(tmp_path: Path) -> StageContext:
    """A fresh stage context whose `out` folder exists."""
    out = tmp_path / "out"
    out.mkdir()
    return StageContext(out=out, stage_id="test", recipe="test")
