"""Every shipped recipe keeps the fingerprints of its stages: a refactor that changes what a recipe means
(or would redo everything cached) fails here. A change of meaning on purpose regenerates the file:

    python -m tests.sdk.test_shipped_fingerprints
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sdk import api

ROOT = Path(__file__).resolve().parents[2]
PINNED = Path(__file__).with_name("shipped_fingerprints.json")


def current() -> dict[str, dict[str, str]]:
    return {path.name: {s.id: s.key for s in api.compile(api.load(path)).stages}
            for path in sorted((ROOT / "recipes").glob("*.yaml"))}


def test_every_shipped_recipe_keeps_its_stage_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pinned, now = json.loads(PINNED.read_text()), current()
    assert set(now) == set(pinned), "a recipe was added or removed: regenerate (see this module's docstring)"
    changed = [f"{name}: {sid}" for name, stages in now.items() for sid, key in stages.items()
               if pinned[name].get(sid) != key]
    assert not changed and all(set(now[n]) == set(pinned[n]) for n in now), changed


if __name__ == "__main__":
    PINNED.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
    sys.exit(0)
