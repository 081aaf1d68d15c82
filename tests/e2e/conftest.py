"""What the end-to-end tests share, built once per session by the real CLI and hard-linked into each
test's own store, where those stages then count as cached: SmolLM2-135M converted (the `model` stage of
every recipe that names `smollm2-135m`, 35-50 s of GGUF dequantising each time) and the quickstart's cold
start (the reasoning model bai-merge-tiny chains, 12 SFT steps). Everything else each test builds itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def smollm2_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the quickstart up to its cold start: the converted SmolLM2, the warm-up additions and
    the cold-start SFT."""
    store = tmp_path_factory.mktemp("smollm2-store")
    out = subprocess.run([sys.executable, "-m", "sdk.cli", "apply", "recipes/quickstart.yaml", "--until",
                          "cold_start", "--store", str(store)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return store


@pytest.fixture
def seeded(smollm2_store: Path) -> Callable[[Path], Path]:
    """seeded(store) -> store, with the session's artifacts linked in (their files are never written)."""

    def seed(store: Path) -> Path:
        for artifact in (smollm2_store / "artifacts").iterdir():
            shutil.copytree(artifact, store / "artifacts" / artifact.name, copy_function=os.link)
        return store

    return seed
