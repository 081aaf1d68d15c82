"""GRPO rewards: the task verifier, a format bonus and custom `module:function` rewards, in TRL's signature.

The functions share a `Rewards` object: each stores its scores for the current batch, and the last
one called writes every rollout of the batch (with its weighted total) to the replay buffer. TRL
calls reward functions in list order on each process, so the batch is complete at that point.
Each process scores its own share of the batch; `gather` brings every process's rollouts to all
of them (a collective every rank reaches at the same point) and only the process holding `buffer`
(rank 0) writes, so rollouts of ranks on other nodes reach the store too.
Torch-free: the trainer passes the step through `trainer_state`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from schemas import RewardSpec
from schemas.tasks import Task
from stages import _replay_buffer
from stages._context import StageError
from stages.verify import extract, is_correct, score

RewardFn = Callable[..., list[float | None]]


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or (conversational) a list of message dicts."""
    if isinstance(completion, str):
        return completion
    return "".join(str(message.get("content", "")) for message in completion)


def has_format(row: Mapping[str, Any], text: str) -> float:
    """1.0 when the response carries an answer the row's extractor can find (tag or `\\boxed{}`)."""
    how = (row.get("meta") or {}).get("extract", "answer_tag")
    found = extract(text, how)
    return float(bool(found and found.strip()))


def import_reward(target: str) -> RewardFn:
    """Import a custom reward `module:function`; a StageError names what is missing."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise StageError(f"custom reward {target!r}: cannot import module {module_name!r} ({err})") from err
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise StageError(f"custom reward {target!r}: module {module_name!r} has no function {attr!r}")
    return fn


class Rewards:
    """The reward functions of one GRPO stage, and the replay buffer they feed."""

    def __init__(self, spec: RewardSpec, rows: Sequence[Mapping[str, Any]], buffer: Path | None,
                 max_tokens: int, eos_ids: set[int], gather: Callable[[list[Any]], list[Any]] = list,
                 task: Task | None = None):
        self.rows = rows
        self.task = task
        """A multi-turn task: the verifier's reward is then the episode's (stages/_episodes.py)."""
        self.buffer = buffer
        self.gather = gather
        self.max_tokens = max_tokens
        self.eos_ids = eos_ids
        self.scores: dict[str, list[float | None]] = {}
        self.generations: int | None = None
        """N of the rollouts being scored (the trainer's `num_generations`), written into each buffer row."""
        self.observe: Callable[[list[dict[str, Any]]], None] | None = None
        """Called with every process's rollouts of each batch (stages/_grpo_scaling.py watches them)."""
        named: list[tuple[str, RewardFn, float]] = [("correct", self._correct, spec.correct)]
        if spec.format:
            named.append(("format", self._format, spec.format))
        for target in spec.custom:
            fn = import_reward(target)
            named.append((target.rpartition(":")[2], fn, 1.0))
        self.weights = [weight for _, _, weight in named]
        last = len(named) - 1
        self.functions = [self._wrap(name, fn, index == last) for index, (name, fn, _) in enumerate(named)]

    def _correct(self, completions: list[Any], row_index: list[int], **kwargs: Any) -> list[float]:
        if self.task is not None:
            from stages._episodes import episode_reward

            return [episode_reward(self.task, e) for e in kwargs["episode"]]
        return [score(self.rows[i], completion_text(c)) for i, c in zip(row_index, completions, strict=True)]

    def _format(self, completions: list[Any], row_index: list[int], **_: Any) -> list[float]:
        return [has_format(self.rows[i], completion_text(c)) for i, c in zip(row_index, completions, strict=True)]

    def _wrap(self, name: str, fn: RewardFn, last: bool) -> RewardFn:
        def reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
            out = fn(prompts=prompts, completions=completions, **kwargs)
            if inspect.isawaitable(out):
                out = asyncio.run(out)
            self.scores[name] = list(out)
            if last:
                self._record(completions, kwargs)
            return self.scores[name]

        reward.__name__ = name  # TRL logs `rewards/<name>/mean`
        return reward

    def _record(self, completions: list[Any], kwargs: Mapping[str, Any]) -> None:
        """Append the batch to the buffer: step, problem, completion, weighted total, verifier verdict."""
        state = kwargs.get("trainer_state")
        step = (state.global_step if state is not None else 0) + 1  # the optimizer step these rollouts train
        ids = kwargs.get("completion_ids") or [[] for _ in completions]
        columns = list(self.scores.values())
        episodes = kwargs.get("episode")
        out = []
        for j, (i, completion) in enumerate(zip(kwargs["row_index"], completions, strict=True)):
            row = self.rows[i]
            parts = [(w, col[j]) for w, col in zip(self.weights, columns, strict=True)]
            total = sum(w * r for w, r in parts if r is not None and not math.isnan(r))
            tokens = list(ids[j])
            right = is_correct(float(self.scores["correct"][j] or 0.0))
            if episodes is not None:
                right = bool(episodes[j]["right"])
            out.append({
                "step": step, "id": row.get("id"), "prompt": row.get("prompt"),
                "completion": completion_text(completion), "reward": total,
                "correct": right, "answer": row.get("answer"),
                "finished": bool(tokens) and (tokens[-1] in self.eos_ids or len(tokens) < self.max_tokens),
                "completion_tokens": len(tokens), "generations": self.generations,
            })
            if episodes is not None:  # the episode's turns, the task's marked: a multi-turn run's buffer
                out[-1].update({k: episodes[j][k] for k in ("turns", "attempts", "allowed", "first_right")})
                attempts = [t for t in episodes[j]["turns"] if t["by"] == "model"]
                out[-1]["finished"] = bool(attempts) and bool(attempts[-1].get("stopped"))  # its last attempt ended
        everyone = self.gather(out)
        if self.buffer is not None:
            _replay_buffer.append(self.buffer, everyone)
        if self.observe is not None:
            self.observe(everyone)
