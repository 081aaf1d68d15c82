"""ReplayStage: a dataset from a GRPO run's replay buffer (Re-distillation, variant B).

Takes the rollouts of the run's last `last_steps` steps, keeps the correct ones, the latest per
problem, shuffles them with a seed and caps them. Output rows are ordinary dataset rows (the
problem's `id, prompt, answer, meta, system`) plus the rollout as `response`, so filter and sft
take them like generate's output. Torch-free.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemas import Artifact, ReplayStage
from stages import _replay_buffer
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows

PROBLEM_FIELDS = ("id", "prompt", "answer", "system", "meta")


def _key(problem_id: Any) -> str:
    return json.dumps(problem_id, sort_keys=True, default=str)


def select(spec: ReplayStage, rollouts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rollouts the spec keeps, in seeded order; the buffer's file order breaks ties within a step."""
    if not rollouts:
        return []
    last = max(int(r["step"]) for r in rollouts)
    kept = [r for r in rollouts if spec.last_steps is None or int(r["step"]) > last - spec.last_steps]
    if spec.correct_only:
        kept = [r for r in kept if r.get("correct")]
    if spec.one_per_problem:
        latest: dict[str, dict[str, Any]] = {}
        for rollout in sorted(kept, key=lambda r: int(r["step"])):  # stable: later lines win within a step
            latest[_key(rollout.get("id"))] = rollout
        kept = list(latest.values())
    random.Random(spec.seed).shuffle(kept)
    return kept[: spec.max_rows] if spec.max_rows is not None else kept


def response_of(rollout: Mapping[str, Any]) -> str:
    """What a student learns from a rollout: its completion, or for a multi-turn episode its last attempt
    (the right one when the episode was right), never the task's feedback turns."""
    attempts = [t for t in rollout.get("turns") or [] if t.get("by") == "model"]
    return str(attempts[-1]["text"]) if attempts else rollout["completion"]


def to_row(rollout: Mapping[str, Any], problem: Mapping[str, Any] | None) -> dict[str, Any]:
    """A dataset row: the problem's fields (verifier `meta` included) and the rollout as the response."""
    source = problem if problem is not None else rollout
    row = {k: source[k] for k in PROBLEM_FIELDS if k in source}
    row.setdefault("meta", {})
    row.update({"response": response_of(rollout), "reward": rollout.get("reward"), "step": rollout["step"],
                "finished": bool(rollout.get("finished", True))})
    return row


def _read_run(spec: ReplayStage, slot: str, run: Artifact) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One grpo output's rollouts (each run's `last_steps` counted from its own last step) and problems."""
    folder = Path(run.path)
    buffer = folder / _replay_buffer.BUFFER
    if not buffer.is_file():
        raise StageError(f"stage {spec.id!r}: {slot.partition('.')[2] or spec.run!r} is not a grpo output "
                         f"(no {buffer.name} in {folder}); `run` must name a grpo stage")
    problems_file = folder / _replay_buffer.PROBLEMS
    problems = {_key(p.get("id")): p for p in read_rows(problems_file)} if problems_file.is_file() else {}
    return _replay_buffer.read(buffer), problems


def run(spec: ReplayStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the selected rollouts of the `run` (or every `runs.*`) input to `ctx.out/data.jsonl`."""
    runs = {slot: a for slot, a in inputs.items() if slot == "run" or slot.startswith("runs.")}
    rollouts: list[dict[str, Any]] = []
    chosen: list[dict[str, Any]] = []
    problems: dict[str, Any] = {}
    per_run: dict[str, int] = {}
    for slot, artifact in runs.items():
        own, known = _read_run(spec, slot, artifact)
        picked = select(spec.model_copy(update={"max_rows": None}), own)
        rollouts += own
        chosen += picked
        problems.update(known)
        per_run[slot.partition(".")[2] or slot] = len(picked)
    if len(runs) > 1:  # a problem in several runs: its latest correct response of them all, then one cap
        chosen = select(spec.model_copy(update={"last_steps": None}), chosen)
    elif spec.max_rows is not None:
        chosen = chosen[: spec.max_rows]
    rows = [to_row(r, problems.get(_key(r.get("id")))) for r in chosen]
    write_rows(ctx.out / "data.jsonl", rows)
    if not rows:
        print(f"warning: stage {spec.id!r} selected no rollouts from {spec.run or ', '.join(spec.runs)!r} "
              f"(correct_only={spec.correct_only}, last_steps={spec.last_steps})", flush=True)
    steps = sorted({int(r["step"]) for r in rollouts})
    return {"rollouts": len(rollouts), "rows": len(rows), "steps_in_buffer": len(steps),
            "last_step": steps[-1] if steps else 0,
            "correct_rate": sum(bool(r.get("correct")) for r in rollouts) / len(rollouts) if rollouts else 0.0,
            "problems": len({_key(r.get("id")) for r in rows}), **({"per_run": per_run} if spec.runs else {}),
            **({"empty": True} if not rows else {})}
