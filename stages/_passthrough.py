"""An empty pool is not an error: a training stage with `if_empty: pass` and no rows hands its model on.

The model's files are hard-linked (copied where links are refused, e.g. on a bucket mount) into the
stage's own `model/`, so the artifact stands alone; a hub model not copied into the store stays a
reference. A grpo stage also writes an empty replay buffer, so readers of its buffer see no rollouts.
The summary says `empty: true`, which the report shows. Torch-free.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemas import Artifact, StageSpec
from stages import _replay_buffer
from stages._data import read_rows
from stages._lineage import TRAINING_FILE


def applies(spec: StageSpec, inputs: Mapping[str, Artifact]) -> bool:
    """Whether the stage asked to pass its model on when empty and its `data` has no rows."""
    return getattr(spec, "if_empty", "fail") == "pass" and "data" in inputs and not read_rows(inputs["data"].rows)


def _link_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)


def pass_through(spec: StageSpec, inputs: Mapping[str, Artifact], out: Path) -> dict[str, Any]:
    """Hand `inputs["model"]` on as this stage's output; the summary records why."""
    model = inputs["model"]
    summary: dict[str, Any] = {"empty": True, "rows": 0, "passed_through": getattr(spec, "model", "model")}
    if model.dtype:
        summary["dtype"] = model.dtype
    if model.ref:
        summary.update(ref=model.ref, revision=model.revision)
    else:
        _link_tree(Path(model.model), out / "model")
    lineage = Path(model.path) / TRAINING_FILE
    if lineage.is_file():
        shutil.copy2(lineage, out / TRAINING_FILE)
    if spec.kind == "grpo":
        (out / _replay_buffer.BUFFER).touch()
        (out / _replay_buffer.PROBLEMS).touch()
        summary["rollouts"] = 0
    print(f"stage {spec.id!r}: {getattr(spec, 'data', 'data')!r} has no rows; "
          f"the model {summary['passed_through']!r} is passed on unchanged", flush=True)
    return summary
