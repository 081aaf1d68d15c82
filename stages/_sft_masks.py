"""The sft stage's CNL / MIGU masks and per-epoch forgetting counts, as TrainerCallbacks on TRL's loop.

The masks act between `backward` and `optimizer.step()` through the Trainer's own
`on_pre_optimizer_step` / `on_optimizer_step` events, so TRL keeps its loop, logging and checkpoints.
g_M is computed from the trainer's `mastered` eval split, tokenized and collated exactly like the
training rows (the same response-only loss).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas import SftStage
from stages._context import StageContext

FORGETTING_FILE = "forgetting.json"
"""Per-epoch learned / forgotten counts, beside the trained model in the sft artifact."""

_LOSS_KEYS = ("input_ids", "attention_mask", "labels", "position_ids")


def _loss(model: Any, batch: dict[str, Any]) -> Any:
    return model(**{k: v for k, v in batch.items() if k in _LOSS_KEYS}).loss


def mask_callback(spec: SftStage, trainer: Any):
    """The callback that applies `spec.cnl` or `spec.migu` to every optimizer step (None when neither)."""
    from transformers import TrainerCallback

    from stages._cnl import ConflictMask, masks_update, mean_gradient
    from stages._migu import MagnitudeMask, linear_layers

    if spec.cnl is None and spec.migu is None:
        return None
    cnl, migu = spec.cnl, spec.migu

    class Masks(TrainerCallback):
        """Masks each step; `kept` gathers the share of coordinates (CNL) or rows (MIGU) that moved."""

        def __init__(self) -> None:
            self.mask: Any = None
            self.kept: list[float] = []

        def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
            params = [p for p in trainer.model.parameters() if p.requires_grad]
            if cnl is not None:
                self.mask = ConflictMask(params, on_update=masks_update(getattr(optimizer, "optimizer", optimizer)))
            else:
                self.mask = MagnitudeMask(linear_layers(trainer.model), migu.keep_quantile)  # type: ignore[union-attr]

        def _refresh(self) -> None:
            self.mask.reference = None  # freed first: the pass holds its own sum and gradient, two buffers already
            self.mask.reference = mean_gradient(trainer.model, trainer.get_eval_dataloader("mastered"), _loss,
                                                self.mask.params, size=lambda b: int(b["input_ids"].shape[0]))

        def on_epoch_begin(self, args, state, control, **kwargs):
            if cnl is not None and cnl.ref_grad_every == "epoch":
                self._refresh()

        def on_step_begin(self, args, state, control, **kwargs):
            if cnl is not None and cnl.ref_grad_every != "epoch" and state.global_step % cnl.ref_grad_every == 0:
                self._refresh()

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            self.mask.before_step()

        def on_optimizer_step(self, args, state, control, **kwargs):
            if cnl is not None:
                self.mask.after_step()
            self.kept.append(self.mask.kept / max(self.mask.total, 1))

    return Masks()


def forgetting_callback(spec: SftStage, trainer: Any, ctx: StageContext, sets: dict[str, list[dict[str, Any]]],
                        tokenizer: Any, masks: Any = None):
    """Counts, before training and after each epoch: injection rows answered right (learned), mastered and
    held-out rows answered wrong (forgotten). Appends to `forgetting.json` (kept across a resume)."""
    from transformers import TrainerCallback

    from stages._scoring import correct_flags, pick_scorer

    path = ctx.out / FORGETTING_FILE
    scorers = {name: pick_scorer("auto", rows) for name, rows in sets.items() if rows}

    def count(name: str) -> int | None:
        rows = sets.get(name) or []
        if not rows:
            return None
        flags = correct_flags(trainer.model, tokenizer, rows, scorers[name], spec.score_max_new_tokens)
        return sum(flags) if name == "injection" else len(flags) - sum(flags)

    class Forgetting(TrainerCallback):
        def __init__(self, masks: Any) -> None:
            self.masks = masks

        def _record(self, state: Any, epoch: int) -> None:
            if not state.is_world_process_zero:
                return
            entry = {"epoch": epoch, "step": state.global_step, "learned": count("injection"),
                     "forgotten": count("mastered"), "heldout_forgotten": count("heldout")}
            if self.masks is not None and self.masks.kept:
                entry["kept_share"] = round(sum(self.masks.kept) / len(self.masks.kept), 4)
                self.masks.kept.clear()
            history = [e for e in _read(path) if e["epoch"] != epoch]
            path.write_text(json.dumps(sorted([*history, entry], key=lambda e: e["epoch"]), indent=2))
            ctx.progress(epoch, None, "forgetting", **{k: float(v) for k, v in entry.items()
                                                       if k not in ("epoch", "step") and v is not None})

        def on_train_begin(self, args, state, control, **kwargs):
            if state.global_step == 0:
                self._record(state, 0)

        def on_epoch_end(self, args, state, control, **kwargs):
            self._record(state, int(round(state.epoch or 0)))

    return Forgetting(masks)


def _read(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.is_file() else []
