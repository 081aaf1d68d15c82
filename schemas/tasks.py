"""Multi-turn RL tasks for the grpo stage: the task, not the model, writes some of an episode's tokens.

`multi_attempt` (Chung, Du, Fu 2025, DualityRL/multi-attempt): up to N attempts per question; after a wrong
or unanswered attempt the task appends a feedback turn and the model answers again. The task's tokens
are left out of the loss and the advantage (TRL's tool mask); the reward is one per episode.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas._base import Schema


class AttemptRewards(Schema):
    """The episode's reward by outcome (the paper: +1 / -0.5 / -1, given at the episode's last token)."""

    correct: float = 1.0
    """Some attempt was right."""
    wrong: float = -0.5
    """An answer was given (the row's extractor found one: `\\boxed{}` or `<answer>`) but none was right."""
    no_answer: float = -1.0
    """No attempt gave an answer the extractor could find."""


class MultiAttemptTask(Schema):
    """Several attempts per question with feedback between them (DualityRL's `vllm_mul.py`).

    Each episode draws its number of attempts N uniformly from `min_attempts..max_attempts` and tells the
    model in the system prompt; an attempt ends at the end of turn or at `attempt_tokens`; a wrong or
    unanswered attempt with attempts left gets the feedback turn; a right one, the last attempt or an
    exhausted `max_completion_tokens` ends the episode. The paper generates in 64-token chunks and stops an
    attempt at its first boxed answer; here an attempt runs to its end of turn, then is judged."""

    kind: Literal["multi_attempt"]
    min_attempts: int = Field(default=1, ge=1)
    """Fewest attempts an episode may allow (the paper trains with N drawn from 1..5)."""
    max_attempts: int = Field(default=5, ge=1)
    """Most attempts an episode may allow; evaluate at a fixed N with min_attempts = max_attempts."""
    feedback: str = "Your answer is incorrect. You have {k} attempts left. Try an alternative."
    """The task's turn after a wrong attempt; `{k}` is replaced by the attempts left (the paper's text)."""
    feedback_role: Literal["system", "user"] = "system"
    """The chat role of the feedback turn (the paper: system; some chat templates allow only user turns)."""
    attempts_prompt: str = ("You have {n} attempts to answer the question, and you should provide the full "
                            "reasoning steps in each attempt.")
    """Added to the row's system prompt (or as one); `{n}` is the episode's N. Empty: tell the model nothing."""
    attempt_tokens: int | None = Field(default=None, ge=1)
    """Longest single attempt in tokens; unset: whatever of `max_completion_tokens` the episode has left."""
    rewards: AttemptRewards = AttemptRewards()
    """The episode's reward by outcome; it replaces the verifier's 0/1 (`reward.correct` still weights it)."""

    @model_validator(mode="after")
    def _attempts_and_templates(self) -> MultiAttemptTask:
        if self.min_attempts > self.max_attempts:
            raise ValueError(f"min_attempts {self.min_attempts} is above max_attempts {self.max_attempts}")
        if self.max_attempts > 1 and "{k}" not in self.feedback:
            raise ValueError("feedback has no `{k}` slot for the attempts left (e.g. 'You have {k} attempts left.')")
        if self.attempts_prompt and "{n}" not in self.attempts_prompt:
            raise ValueError("attempts_prompt has no `{n}` slot for the episode's attempts (or set it to '')")
        return self

    def check_budget(self, limit: int, name: str) -> None:
        """Refuse an attempt longer than the episode's budget (`name`: the stage field that holds it)."""
        if self.attempt_tokens is not None and self.attempt_tokens > limit:
            raise ValueError(f"task.attempt_tokens {self.attempt_tokens} is above {name} {limit}, which bounds the "
                             "whole episode: raise it or lower the attempt's budget")

    def turn_budget(self, max_completion_tokens: int) -> int:
        """Tokens one attempt may take."""
        return min(self.attempt_tokens or max_completion_tokens, max_completion_tokens)


Task = MultiAttemptTask
"""Every multi-turn task (one kind so far; a union tagged by `kind` as more come)."""
