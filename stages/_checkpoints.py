"""Checkpoints: resume a training stage only from a complete trainer checkpoint, and save on a clock.

transformers resumes from whatever folder it is given: `resume_from_checkpoint=True` takes the
newest `checkpoint-N` blindly (`get_last_checkpoint`), and a checkpoint without `optimizer.pt` or
`scheduler.pt` silently starts a fresh optimizer (`Trainer._load_optimizer_and_scheduler`). On a
bucket a preemption leaves exactly such folders (uploads run in parallel). So after every save all
ranks meet, rank 0 writes `recipe-checkpoint.json` listing the checkpoint's files and sizes, and a
run resumes only from the newest checkpoint whose list verifies and holds the trainer, optimizer
and scheduler states. Newer incomplete ones are deleted with a line. With `save_total_limit=2`
(stages/_training.py) the previous checkpoint survives until the new one is complete, and the
store deletes the folder only after the stage's commit verifies.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MARK = "recipe-checkpoint.json"
PREFIX = "checkpoint-"


def step_of(folder: Path) -> int | None:
    tail = folder.name[len(PREFIX):]
    return int(tail) if folder.name.startswith(PREFIX) and tail.isdigit() else None


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MARK}


def mark(folder: Path) -> None:
    """Record `folder` as complete: its files and sizes, written atomically after them."""
    tmp = folder / f".{MARK}.tmp"
    tmp.write_text(json.dumps({"files": _files(folder)}, indent=1, sort_keys=True))
    os.replace(tmp, folder / MARK)


def problem(folder: Path) -> str | None:
    """Why `folder` is not a checkpoint to resume from, or None when it is complete."""
    try:
        listed = json.loads((folder / MARK).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"no complete {MARK} (the save did not finish)"
    for name, size in listed.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{name} is missing or incomplete"
    top = {name.split("/")[0] for name in listed}
    deepspeed = any(name.startswith("global_step") for name in top)  # DeepSpeed keeps both in global_stepN/
    if "trainer_state.json" not in top:
        return "no trainer_state.json"
    if not deepspeed and not any(name.startswith("optimizer") for name in top):
        return "no optimizer state (optimizer.pt): resuming would restart the optimizer"
    if not deepspeed and "scheduler.pt" not in top:
        return "no scheduler.pt: resuming would restart the schedule"
    return None


def resume_point(folder: Path, rank: int = 0) -> tuple[Path | None, int]:
    """The newest complete checkpoint in `folder` and its step, or (None, 0).

    Rank 0 deletes incomplete checkpoints newer than it (their marker first, so every rank judges
    them alike), saying why: they would take a slot of `save_total_limit`.
    """
    found = sorted(((step, p) for p in folder.glob(f"{PREFIX}*") if p.is_dir()
                    and (step := step_of(p)) is not None), reverse=True) if folder.is_dir() else []
    for step, path in found:
        reason = problem(path)
        if reason is None:
            return path, step
        if rank == 0:
            print(f"checkpoint {path.name} is incomplete ({reason}); deleting it", flush=True)
            (path / MARK).unlink(missing_ok=True)
            shutil.rmtree(path, ignore_errors=True)
    return None, 0


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def callbacks(save_minutes: float | None, asks: Sequence[Any] = ()) -> list[Any]:
    """Trainer callbacks: no checkpoint after the last step unless asked; mark every finished save complete;
    also save every `save_minutes` if set. `asks`: callbacks of the stage's own that may ask for a save (they
    run after the last-step rule and before the marking, so their asks are kept and marked)."""
    from accelerate.utils import broadcast_object_list
    from transformers import TrainerCallback

    class NoLastStepCheckpoint(TrainerCallback):
        """The Trainer saves a full checkpoint, optimizer state included, after its last step, and the stage
        writes the model right after it: that checkpoint is only cost (3 times the weights in fp32 Adam, about
        100 GB for a 7B model). A save that `save_steps` falls on anyway stays, and so does any later ask."""

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps and (not state.save_steps or state.global_step % state.save_steps):
                control.should_save = False

    class MarkComplete(TrainerCallback):
        """Rank 0 marks a checkpoint complete once every rank has written its part of it."""

        def on_step_end(self, args, state, control, **kwargs):
            if control.should_save and state.is_world_process_zero:  # a save into a stale folder
                (Path(args.output_dir) / f"{PREFIX}{state.global_step}" / MARK).unlink(missing_ok=True)

        def on_save(self, args, state, control, **kwargs):
            _barrier()
            if state.is_world_process_zero:
                mark(Path(args.output_dir) / f"{PREFIX}{state.global_step}")

    class SaveByClock(TrainerCallback):
        """Ask for a save when `save_minutes` have passed since the last one (rank 0's clock decides)."""

        def __init__(self) -> None:
            self.last = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            due = [time.monotonic() - self.last >= save_minutes * 60]
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                broadcast_object_list(due)  # every rank must save at the same step
            if due[0]:
                control.should_save = True

        def on_save(self, args, state, control, **kwargs):
            self.last = time.monotonic()

    # The last-step rule first, the asks and the clock after it, MarkComplete last: it sees every ask.
    return [NoLastStepCheckpoint(), *asks, *([SaveByClock()] if save_minutes else []), MarkComplete()]
