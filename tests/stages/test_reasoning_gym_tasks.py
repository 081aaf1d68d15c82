"""The task list kept in `schemas/reasoning_gym_tasks.py` is what the installed reasoning-gym offers.

Regenerate it after upgrading reasoning-gym:
    python -c "from tests.stages.test_reasoning_gym_tasks import write; write()"
"""

from __future__ import annotations

import dataclasses
from importlib import metadata
from pathlib import Path

from schemas import reasoning_gym_tasks

TARGET = Path(reasoning_gym_tasks.__file__)
SET_BY_THE_SPEC = ("seed", "size")
"""Config fields the data spec's own `seed` and `size` fill in."""


def live_tasks() -> dict[str, tuple[str, ...]]:
    from reasoning_gym.factory import DATASETS

    return {name: tuple(f.name for f in dataclasses.fields(config) if f.name not in SET_BY_THE_SPEC)
            for name, (_, config) in sorted(DATASETS.items())}


def render(tasks: dict[str, tuple[str, ...]], version: str) -> str:
    head = TARGET.read_text().split("TASKS: dict", 1)[0]
    head = "\n".join(f'VERSION = "{version}"' if line.startswith("VERSION = ") else line
                     for line in head.splitlines()) + "\n"
    body = "".join(f"    {name!r}: {keys!r},\n" for name, keys in tasks.items())
    return f"{head}TASKS: dict[str, tuple[str, ...]] = {{\n{body}}}\n"


def write() -> None:
    TARGET.write_text(render(live_tasks(), metadata.version("reasoning_gym")))


def test_kept_task_list_matches_installed_reasoning_gym():
    assert reasoning_gym_tasks.VERSION == metadata.version("reasoning_gym")
    assert reasoning_gym_tasks.TASKS == live_tasks()
