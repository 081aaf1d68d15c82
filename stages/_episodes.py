"""Multi-attempt episodes for the grpo stage, through TRL's `rollout_func` hook.

TRL calls the hook with the step's prompts (each already repeated once per generation) and trains on what
it returns: `prompt_ids`, `completion_ids` and an `env_mask` that TRL turns into its tool mask, so the
loss, the advantage's token weights and the logged lengths count the model's tokens only. The episode's
turns go back as the extra field `episode`, which TRL forwards to the reward functions (stages/_rewards.py
scores the episode from it and writes its turns into the replay buffer).

Torch-free: the generation itself is a `Generate` callable (stages/_episode_backends.py has transformers'
and vLLM's), so this module's logic is tested on hand-built episodes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.tasks import MultiAttemptTask
from stages._chat import has_template, messages, plain_prompt
from stages._context import StageError
from stages.verify import extract, score

Generate = Callable[[list[list[int]], int], list[tuple[list[int], list[float] | None]]]
"""Continue each token sequence by at most `max_tokens` tokens: (the new ids, their logprobs or None)."""

MARKER = "RecipeAttemptMarker7f3a"
"""Stands for an attempt while rendering the chat template around a feedback turn (letters and digits only:
templates may strip or trim a message's content)."""


@dataclass
class Episode:
    """One rollout: the prompt, then model turns and task turns, each token marked by who wrote it."""

    row: Mapping[str, Any]
    allowed: int
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    """1 for the model's tokens, 0 for the task's (TRL's tool mask)."""
    logprobs: list[float] = field(default_factory=list)
    turns: list[dict[str, Any]] = field(default_factory=list)
    """{"by": "model" | "task", "text": ...}, in order; each model turn also carries `right` and `answered`."""
    done: bool = False

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return [turn for turn in self.turns if turn["by"] == "model"]

    def summary(self) -> dict[str, Any]:
        """What the rewards and the replay buffer read (a plain dict: TRL passes it through as is)."""
        attempts = self.attempts
        return {"allowed": self.allowed, "attempts": len(attempts), "right": any(a["right"] for a in attempts),
                "answered": any(a["answered"] for a in attempts),
                "first_right": next((i + 1 for i, a in enumerate(attempts) if a["right"]), None),
                "turns": self.turns}


def episode_reward(task: MultiAttemptTask, summary: Mapping[str, Any]) -> float:
    """+1 some attempt right, -0.5 an answer given but never right, -1 no answer ever (the paper's default)."""
    if summary["right"]:
        return task.rewards.correct
    return task.rewards.wrong if summary["answered"] else task.rewards.no_answer


def prompt_key(prompt: Any) -> str:
    """A prompt as TRL hands it to the hook (text, or a list of messages), as a lookup key."""
    return json.dumps(prompt, sort_keys=True)


class MultiAttempt:
    """Runs multi-attempt episodes for one grpo stage: renders prompts and feedback turns with the model's
    chat template, asks `generate` for each round of attempts, judges each with the row's verifier."""

    def __init__(self, task: MultiAttemptTask, tokenizer: Any, rows: Sequence[Mapping[str, Any]],
                 prompts: Mapping[str, int], stops: Sequence[int], max_tokens: int, seed: int = 0):
        self.task, self.tokenizer, self.rows, self.prompts = task, tokenizer, rows, prompts
        self.stops, self.max_tokens = set(stops), max_tokens
        self.templated = has_template(tokenizer)
        self.seed = seed
        self.rng = random.Random(seed)
        self.calls = 0
        """Rollout batches run so far (every rank runs the same number, so N draws agree across ranks)."""
        self._feedback: dict[tuple[int, int | None], list[int]] = {}

    def check_template(self) -> None:
        """Render one feedback turn now, so a template that cannot hold it fails before any training."""
        if self.task.max_attempts > 1 and self.rows:
            try:
                self.feedback_ids(self.rows[0], 1, stop=None)
            except StageError:
                raise
            except Exception as err:  # jinja's TemplateError and whatever a template raises
                raise StageError(f"task multi_attempt: the model's chat template cannot hold a "
                                 f"{self.task.feedback_role} turn after the assistant's ({err}); try "
                                 "task.feedback_role: user") from None

    def chat(self, row: Mapping[str, Any], allowed: int) -> list[dict[str, str]]:
        """The row's messages with the attempts sentence added to its system prompt (or as one)."""
        chat = messages(row)
        note = self.task.attempts_prompt.replace("{n}", str(allowed))
        if not note:
            return chat
        if chat[0]["role"] == "system":
            return [{"role": "system", "content": f"{chat[0]['content']}\n{note}"}, *chat[1:]]
        return [{"role": "system", "content": note}, *chat]

    def start(self, prompt: Any, batch: int = 0) -> Episode:
        """The episode of a prompt as TRL hands it to the hook. N is drawn per prompt and rollout batch, so the
        copies of a prompt in one GRPO group share it (the group's baseline then compares answers, not draws)."""
        key = prompt_key(prompt)
        index = self.prompts.get(key)
        if index is None:
            raise StageError("task multi_attempt: a prompt TRL sampled is not among the stage's rows")
        return self.start_row(self.rows[index], draw=f"{self.seed}:{batch}:{key}")

    def start_row(self, row: Mapping[str, Any], draw: str | None = None) -> Episode:
        """A new episode of `row`, its N drawn from `draw` (a seed string) or the runner's own sequence."""
        rng = random.Random(draw) if draw is not None else self.rng
        allowed = rng.randint(self.task.min_attempts, self.task.max_attempts)
        if self.templated:
            ids = self.tokenizer.apply_chat_template(self.chat(row, allowed), tokenize=True,
                                                     add_generation_prompt=True, return_dict=False)
        else:
            note = self.task.attempts_prompt.replace("{n}", str(allowed))
            system = "\n".join(s for s in (row.get("system"), note) if s)
            ids = self.tokenizer(plain_prompt({**row, "system": system}))["input_ids"]
        return Episode(row=row, allowed=allowed, prompt_ids=list(ids))

    def feedback_ids(self, row: Mapping[str, Any], left: int, stop: int | None) -> list[int]:
        """The task's tokens after an attempt that ended with stop token `stop` (None: cut at its budget): the
        template's end of turn (unless that very token closed the attempt), the feedback turn, and the opening
        of the next assistant turn."""
        key = (left, stop)
        if key not in self._feedback:
            text = self.task.feedback.replace("{k}", str(left))
            if not self.templated:
                suffix = f"\n\n{text}\n\n"
            else:
                chat = [*messages(row), {"role": "assistant", "content": MARKER},
                        {"role": self.task.feedback_role, "content": text}]
                rendered = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
                if MARKER not in rendered:
                    raise StageError("task multi_attempt: the model's chat template rewrites the assistant's text, "
                                     "so the task cannot tell where an attempt ends and its feedback begins")
                suffix = rendered[rendered.index(MARKER) + len(MARKER):]
                end = self.tokenizer.decode([stop]) if stop is not None else ""
                if end and suffix.startswith(end):  # the attempt's own stop token closed the turn already
                    suffix = suffix[len(end):]
            self._feedback[key] = list(self.tokenizer(suffix, add_special_tokens=False)["input_ids"])
        return self._feedback[key]

    def run(self, episodes: list[Episode], generate: Generate) -> list[Episode]:
        """Every episode to its end: one `generate` call per round of attempts, over the episodes still going."""
        budget = self.task.turn_budget(self.max_tokens)
        while True:
            going = [e for e in episodes if not e.done and len(e.completion_ids) < self.max_tokens]
            for e in episodes:
                e.done = e.done or e not in going
            if not going:
                return episodes
            rooms: dict[int, list[Episode]] = {}
            for e in going:  # one call per attempt budget (an episode near its end gets what it has left)
                rooms.setdefault(min(budget, self.max_tokens - len(e.completion_ids)), []).append(e)
            for room, group in sorted(rooms.items()):
                outputs = generate([e.prompt_ids + e.completion_ids for e in group], room)
                for e, (ids, logprobs) in zip(group, outputs, strict=True):
                    self._add_attempt(e, list(ids), logprobs)

    def _add_attempt(self, e: Episode, ids: list[int], logprobs: list[float] | None) -> None:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        how = (e.row.get("meta") or {}).get("extract", "answer_tag")
        found = extract(text, how)
        right = score(e.row, text) >= 1.0
        e.completion_ids += ids
        e.env_mask += [1] * len(ids)
        e.logprobs += list(logprobs) if logprobs is not None else [0.0] * len(ids)
        stopped = bool(ids) and ids[-1] in self.stops
        e.turns.append({"by": "model", "text": text, "tokens": len(ids), "right": right,
                        "answered": bool(found and found.strip()), "stopped": stopped})
        left = e.allowed - len(e.attempts)
        if right or left <= 0:
            e.done = True
            return
        feedback = self.feedback_ids(e.row, left, ids[-1] if stopped else None)
        if len(e.completion_ids) + len(feedback) >= self.max_tokens:  # no room for another attempt
            e.done = True
            return
        e.completion_ids += feedback
        e.env_mask += [0] * len(feedback)
        e.logprobs += [0.0] * len(feedback)
        e.turns.append({"by": "task", "text": self.tokenizer.decode(feedback, skip_special_tokens=False)})


def rollout_func(runner: MultiAttempt, generate_for: Callable[[Any], Generate]) -> Callable[[list[Any], Any], dict]:
    """TRL's `rollout_func`: one episode per prompt it passes (TRL has already repeated each prompt once per
    generation), logprobs only when the backend gives them (vLLM)."""

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        runner.calls += 1
        episodes = runner.run([runner.start(p, runner.calls) for p in prompts], generate_for(trainer))
        sampled = bool(getattr(trainer, "use_vllm", False))
        return {"prompt_ids": [e.prompt_ids for e in episodes], "completion_ids": [e.completion_ids for e in episodes],
                "logprobs": [e.logprobs for e in episodes] if sampled else None,
                "env_mask": [e.env_mask for e in episodes], "episode": [e.summary() for e in episodes]}

    return rollout


def prompt_index(train: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """TRL row prompt -> index into `rows` (the hook sees prompts only); refuses one prompt with two answers."""
    out: dict[str, int] = {}
    for item in train:
        key, index = prompt_key(item["prompt"]), item["row_index"]
        seen = out.setdefault(key, index)
        if seen != index and str(rows[seen].get("answer")) != str(rows[index].get("answer")):
            raise StageError(f"task multi_attempt: rows {rows[seen].get('id', seen)!r} and "
                             f"{rows[index].get('id', index)!r} have the same prompt and different answers, so an "
                             "attempt cannot be judged; deduplicate the data")
    return out
