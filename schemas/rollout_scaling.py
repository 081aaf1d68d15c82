"""RolloutScaling: when and how a GRPO stage raises its rollout count N (CoScale-RL's compute scaling)."""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from schemas._base import Schema


class RolloutScaling(Schema):
    """Raise the rollouts per prompt (N, `generations`) when the run stalls; METHODS.md section 2.

    Each step's rollouts are summarised: the share of its prompts whose N completions all got the same
    reward (they teach nothing), and the mean reward. The run has stalled when, over the last `window`
    steps since N last changed, that share is at least `zero_std_fraction`, or the mean reward rose by
    less than `min_reward_gain` over the `window` steps before. Then the stage checkpoints and goes on
    from that checkpoint with the next N: the next `schedule` value above it, else N x `factor`, never
    above `max_generations`. With `scale_lr`, the learning rate follows N (lr / N stays constant).
    """

    window: int = Field(default=5, ge=1)
    """Steps each check looks at (METHODS.md's plateau patience); a flat reward needs twice as many."""
    zero_std_fraction: float | None = Field(default=0.5, gt=0, le=1)
    """Stall when on average at least this share of a step's prompts got N equal rewards (null: off)."""
    min_reward_gain: float | None = 0.01
    """Stall when the last window's mean reward is less than this above the window's before (null: off)."""
    schedule: list[int] = Field(default=[], examples=[[8, 16, 32, 64]])
    """The values N steps through, e.g. `[8, 16, 32, 64]` (METHODS.md); empty: multiply by `factor`."""
    factor: float = Field(default=2.0, gt=1)
    """Without a schedule, the next N is N x factor (rounded up)."""
    max_generations: int = Field(default=64, ge=2)
    """N never goes above this."""
    scale_lr: bool = True
    """Multiply the learning rate by N / `generations` whenever N changes, keeping lr / N constant, as
    CoScale-RL advises (its compute efficiency depends on lr / N)."""

    @model_validator(mode="after")
    def _coherent(self) -> RolloutScaling:
        if self.zero_std_fraction is None and self.min_reward_gain is None:
            raise ValueError("zero_std_fraction and min_reward_gain are both null: nothing can detect a stall")
        steps = zip(self.schedule, self.schedule[1:], strict=False)
        if any(n < 2 for n in self.schedule) or any(a >= b for a, b in steps):
            raise ValueError(f"schedule must rise and start at 2 or more, got {self.schedule}")
        return self

    def next_generations(self, n: int) -> int | None:
        """The N after `n`: the next schedule value above it, else ceil(n x factor); capped; None at the cap.

        >>> RolloutScaling(schedule=[8, 16, 32]).next_generations(8), RolloutScaling().next_generations(64)
        (16, None)
        """
        if self.schedule:
            following = next((value for value in self.schedule if value > n), None)
        else:
            following = math.ceil(n * self.factor)
        if following is None or n >= self.max_generations:
            return None
        return min(following, self.max_generations)

    def ladder(self, n: int) -> list[int]:
        """`n` and every N a run that starts at `n` may rise to, in order (checks must hold at each)."""
        ladder = [n]
        while (following := self.next_generations(ladder[-1])) is not None:
            ladder.append(following)
        return ladder
