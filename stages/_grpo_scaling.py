"""A GRPO run in segments, one per rollout count N: stop at a stall, checkpoint, go on with a larger N.

TRL's GRPOTrainer fixes N (`num_generations`) when it is built: its sampler, batch sizes and vLLM
engine are sized for it. So when `stall_reason` (stages/rollout_scaling.py) fires at step s, the
callback here asks the trainer to save and stop; the checkpoint gets `rollout-scaling.json` saying
the N and learning rate to go on with (and the history the detector reads), and the stage builds a
new trainer that resumes from it, exactly as after an interrupt. Every rank sees the same rollouts
(the reward functions gather them), so every rank decides alike. A resumed trainer takes the
learning rate back from the checkpoint's scheduler and optimizer, so `on_train_begin` sets the
segment's own.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import GrpoStage
from stages.rollout_scaling import StepStats, scaled_lr, stall_reason, step_stats

STATE = "rollout-scaling.json"
"""The scaling state inside each checkpoint folder (written before the folder is marked complete)."""


@dataclass
class Segment:
    """Where a run stands: its N, learning rate, the steps since N last changed, and every change so far."""

    generations: int
    lr: float
    history: list[StepStats] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    stop: dict[str, Any] | None = None
    """The change asked for at this segment's last step (the next segment applies it)."""

    def to_json(self) -> dict[str, Any]:
        """What the checkpoint keeps: the state the next step (or segment) starts from."""
        if self.stop is None:
            return {"generations": self.generations, "lr": self.lr, "changes": self.changes,
                    "history": [s._asdict() for s in self.history]}
        return {"generations": self.stop["to"], "lr": self.stop["lr"], "changes": [*self.changes, self.stop],
                "history": []}


def start(spec: GrpoStage, checkpoint: Path | None) -> Segment:
    """The segment a run (re)starts with: from the checkpoint's state, else `generations` and `lr`."""
    path = checkpoint / STATE if checkpoint is not None else None
    if path is None or not path.is_file():
        return Segment(spec.generations, spec.lr)
    saved = json.loads(path.read_text())
    return Segment(int(saved["generations"]), float(saved["lr"]), [StepStats(**s) for s in saved["history"]],
                   list(saved["changes"]))


def callback(spec: GrpoStage, segment: Segment):
    """The trainer callback that watches each step's rollouts (fed through `observe`) for a stall."""
    from transformers import TrainerCallback

    rule = spec.rollout_scaling

    class WatchStall(TrainerCallback):
        """Judge each finished step; on a stall, save and stop so the stage goes on with the next N."""

        def __init__(self) -> None:
            self.rows: dict[int, list[Mapping[str, Any]]] = defaultdict(list)

        def observe(self, rows: Sequence[Mapping[str, Any]]) -> None:
            for row in rows:
                self.rows[int(row["step"])].append(row)

        def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
            set_lr(optimizer, lr_scheduler, segment.lr)

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if not self.rows.get(step):
                return
            segment.history.extend(step_stats(self.rows.pop(step)))
            reason = stall_reason(segment.history, rule)
            following = rule.next_generations(segment.generations)
            if reason is None or following is None or step >= state.max_steps:
                return
            lr = scaled_lr(spec.lr, spec.generations, following, rule)
            segment.stop = {"step": step, "from": segment.generations, "to": following, "lr": lr, "reason": reason}
            control.should_save = True
            control.should_training_stop = True

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:  # before MarkComplete's on_save lists the folder's files
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                tmp = folder / f".{STATE}.tmp"
                tmp.write_text(json.dumps(segment.to_json(), indent=1))
                os.replace(tmp, folder / STATE)

    return WatchStall()


def set_lr(optimizer: Any, scheduler: Any, lr: float) -> None:
    """Make `lr` the peak learning rate of a (possibly resumed) optimizer and schedule, keeping its shape."""
    inner = getattr(scheduler, "scheduler", scheduler)
    if optimizer is None or inner is None or not getattr(inner, "base_lrs", None):
        return
    ratio = lr / inner.base_lrs[0]
    if ratio == 1.0:
        return
    inner.base_lrs = [base * ratio for base in inner.base_lrs]
    for group in optimizer.param_groups:
        group["lr"] *= ratio
        if "initial_lr" in group:
            group["initial_lr"] *= ratio
    if getattr(inner, "_last_lr", None):
        inner._last_lr = [value * ratio for value in inner._last_lr]


@contextlib.contextmanager
def vllm_engine(engine: Any, max_num_seqs: int | None) -> Iterator[None]:
    """Build a segment's trainer around one colocated vLLM engine for the whole run.

    The first segment builds it, with room for `max_num_seqs` sequences: TRL sizes it from the
    segment's own N, so after a raise of N every step would generate in several waves. Later segments
    get the same engine (a second one does not fit beside the first on the GPU): TRL passes N to it at
    every generate call and re-syncs the weights at a new trainer's first generation, so it serves them
    once it points at the new trainer's model and accelerator.
    """
    if engine is None and max_num_seqs is None:
        yield
        return
    from trl.trainer import grpo_trainer

    built = grpo_trainer.VLLMGeneration

    def sized_engine(*args: Any, **kwargs: Any) -> Any:
        kwargs["max_num_seqs"] = max(max_num_seqs or 0, kwargs.get("max_num_seqs") or 0) or None
        return built(*args, **kwargs)

    def same_engine(model: Any, accelerator: Any, **_: Any) -> Any:
        engine.model, engine.accelerator = model, accelerator
        return engine

    grpo_trainer.VLLMGeneration = sized_engine if engine is None else same_engine
    try:
        yield
    finally:
        grpo_trainer.VLLMGeneration = built


def detach_engine(trainer: Any) -> Any:
    """Take a finished segment's vLLM engine for the next one, without its hold on the old model."""
    engine = trainer.vllm_generation
    engine.model = engine.accelerator = None
    return engine


def free_device_memory() -> None:
    """Collect what the last segment left (its model, optimizer, gathered states) and hand its cached
    GPU blocks back, so the next model loads into free memory rather than beside the old one."""
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
