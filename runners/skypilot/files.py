"""Local data a recipe reads (JSONL files, saved dataset folders): inside `workdir` it travels with it;
outside, each file or folder is sent to every node by `file_mounts` and the nodes' recipe points at
the copy (or, with `ship_files: false`, the recipe is refused at plan time).

Every task needs all of it: a node compiles the whole recipe, and local data is identified by its
content, so the copy at another path gives the same fingerprints.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import HubData, JsonlData, McqData
from schemas.skypilot import SkyPilotRunner
from sdk.errors import Problem, RecipeError
from sdk.plan import Plan
from sdk.recipe.loader import Path_, dotted

REMOTE_FOLDER = "~/.recipe-files"


@dataclass(frozen=True)
class Shipped:
    """A file outside the workdir: where the recipe names it, the file here, its path on the nodes."""

    where: Path_
    local: Path
    remote: str

    @property
    def override(self) -> str:
        """What the node's `recipe apply` adds so its recipe reads the copy."""
        return f"{dotted(self.where)}={json.dumps(self.remote)}"


def local_files(plan: Plan) -> list[tuple[Path_, Path]]:
    """(where in the recipe, absolute path) of every local file or folder the plan's datasets read
    (the compiler has made their paths absolute)."""
    found = []
    for stage in plan.stages:
        data = getattr(stage.spec, "data", None)
        if stage.kind != "dataset" or data is None:
            continue
        parts = [((), data)] if not hasattr(data, "parts") else [(("parts", i), p) for i, p in enumerate(data.parts)]
        for tail, part in parts:
            if (local := _local(part)) is not None:
                found.append(((*stage.origin, *tail, local[0]), local[1]))
    return found


def _local(part: Any) -> tuple[str, Path] | None:
    """The field naming a local file or folder, and its path (None: data from the hub or a generator)."""
    if isinstance(part, JsonlData) or (isinstance(part, McqData) and part.path is not None):
        return "path", Path(str(part.path))
    if isinstance(part, (HubData, McqData)) and Path(str(part.id)).is_absolute() and Path(str(part.id)).is_dir():
        return "id", Path(part.id)
    return None


def files_to_ship(recipe: Any, plan: Plan, runner: SkyPilotRunner, workdir: Path) -> list[Shipped]:
    """The files outside `workdir`; refused (located, naming file and workdir) when `ship_files` is off."""
    outside = [(where, path) for where, path in local_files(plan) if not path.is_relative_to(workdir)]
    if outside and not runner.ship_files:
        doc = getattr(recipe, "_source", None)
        message = "{} is outside runner.workdir {}, so the nodes would not have it"
        hint = "move it into the workdir, or set runner.ship_files: true to send it with every task"
        raise RecipeError([doc.problem(where, message.format(path, workdir), hint=hint) if doc else
                           Problem(message.format(path, workdir), path=dotted(where), hint=hint)
                           for where, path in outside])
    return [Shipped(where, path, f"{REMOTE_FOLDER}/{_digest(path)}/{path.name}") for where, path in outside]


def _digest(path: Path) -> str:
    """Tells apart files of the same name (the path, not the content: a folder may be large)."""
    return hashlib.sha256(str(path).encode()).hexdigest()[:16]
