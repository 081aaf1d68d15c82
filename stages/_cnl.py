"""Conflict mask (CNL, METHODS.md, section 4): update only the coordinates whose step agrees in sign with the
mastered-set gradient g_M, so that to first order the loss on what the model already knows cannot rise.

    g_M    = mean over the mastered rows of the loss gradient (refreshed every `ref_grad_every`)
    u      = the descent direction the optimizer is about to apply  (theta_new = theta - lr * u)
    keep_j = 1[u_j * g_M_j >= 0]
    theta_new_j = theta_j - lr * u_j  where keep_j,  theta_j  elsewhere

    dL_M ~= g_M . (theta_new - theta) = -lr * sum_j keep_j u_j g_M_j <= 0

Plain SGD steps along the gradient, so its gradient is masked before the step (no extra memory, the
authors' `sft.py`). For momentum, Adam and AdamW the optimizer's own update is masked: the step runs
on the unmasked gradient (moments and momentum buffers see it, as in the authors' `sft_adam(w)`), then
the coordinates whose update conflicts are put back to their value before the step.
Masking is element-wise over every trainable tensor (LoRA: the adapter's tensors only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

Loss = Callable[[torch.nn.Module, Any], torch.Tensor]


def masks_update(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer's update differs from lr x gradient (then the update, not the gradient, is masked)."""
    plain_sgd = type(optimizer) is torch.optim.SGD and all(
        not g.get("momentum") and not g.get("weight_decay") and not g.get("maximize") for g in optimizer.param_groups)
    return not plain_sgd


class ConflictMask:
    """Keeps an optimizer step from moving any coordinate against the mastered-set gradient.

    Call `before_step()` right before `optimizer.step()` and `after_step()` right after it.

    >>> mask = ConflictMask(model.parameters(), on_update=masks_update(opt))
    >>> mask.reference = mean_gradient(model, mastered_batches, loss_fn, mask.params)
    >>> loss.backward(); mask.before_step(); opt.step(); mask.after_step()
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], on_update: bool):
        self.params = [p for p in params if p.requires_grad]
        self.on_update = on_update
        self.reference: list[torch.Tensor] | None = None
        """g_M, one tensor per parameter (the one extra gradient-sized buffer)."""
        self._before: list[torch.Tensor] | None = None
        """Update masking: the weights the step starts from (allocated once, reused every step)."""
        self._scratch: dict[tuple[torch.dtype, torch.device], torch.Tensor] | None = None
        """Room for one tensor's conflict test, per dtype and device (the largest parameter's size)."""
        self._pending = False
        self.kept = 0
        """Coordinates updated at the last step (the collaborative ones)."""
        self.total = sum(p.numel() for p in self.params)

    def step_buffer_bytes(self) -> int:
        """Bytes held beyond g_M: the conflict scratch and, when masking the update, the step's starting weights."""
        held = [*(self._before or []), *(self._scratch or {}).values()]
        return sum(t.numel() * t.element_size() for t in held)

    def before_step(self) -> None:
        """SGD: zero the conflicting gradient entries. Otherwise: remember the weights the step starts from."""
        if self.reference is None:
            raise RuntimeError("ConflictMask has no reference gradient yet; set `reference` before stepping")
        if self._scratch is None:  # kept across steps: fresh buffers each step would fault in their pages anew
            largest: dict[tuple[torch.dtype, torch.device], int] = {}
            for p in self.params:
                largest[p.dtype, p.device] = max(largest.get((p.dtype, p.device), 0), p.numel())
            self._scratch = {k: torch.empty(n, dtype=k[0], device=k[1]) for k, n in largest.items()}
            self._before = [torch.empty_like(p) for p in self.params] if self.on_update else None
        if self.on_update:
            assert self._before is not None
            with torch.no_grad():
                for old, p in zip(self._before, self.params, strict=True):
                    old.copy_(p)
            self._pending = True
            return
        kept = 0.0
        for p, ref in zip(self.params, self.reference, strict=True):
            if p.grad is not None:
                keep = self._scratch[p.dtype, p.device][: p.numel()].view_as(p)
                torch.mul(p.grad, ref, out=keep).ge_(0)  # float 0/1: on CPU bool masks cost several float passes
                p.grad.mul_(keep)
                kept += float(keep.sum())
        self.kept = round(kept)

    def after_step(self) -> None:
        """Put back every coordinate whose update conflicts with g_M (update masking only).

        Float 0/1 masks throughout: on CPU, torch's bool reductions and `where` cost several times a
        float pass. `lerp` at weight exactly 0 or 1 returns its start or end bit for bit.
        """
        if not self.on_update or not self._pending:
            return
        assert self.reference is not None and self._before is not None and self._scratch is not None
        conflicts = 0.0
        with torch.no_grad():
            for p, old, ref in zip(self.params, self._before, self.reference, strict=True):
                conflict = self._scratch[p.dtype, p.device][: p.numel()].view_as(p)
                torch.sub(old, p, out=conflict).mul_(ref).lt_(0)  # 1 where (old - new) * g_M = lr u g_M < 0
                conflicts += float(conflict.sum())  # a float32 sum: a float64 one costs 15x on CPU
                p.lerp_(old, conflict)  # the old value where 1, the new one where 0
        self._pending = False
        self.kept = self.total - round(conflicts)


def mean_gradient(model: torch.nn.Module, batches: Iterable[Any], loss_fn: Loss,
                  params: Sequence[torch.nn.Parameter], size: Callable[[Any], int]) -> list[torch.Tensor]:
    """g_M: the example-weighted mean gradient of `loss_fn` over `batches`, without touching `.grad`.

    Computed in eval mode (no dropout), so it is the gradient at the current weights exactly.
    Under several processes each sums its shard and the sums are all-reduced.
    """
    total = [torch.zeros_like(p) for p in params]
    count = 0
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            n = size(batch)
            loss = loss_fn(model, batch)
            grads = torch.autograd.grad(loss, list(params), allow_unused=True)
            for acc, grad in zip(total, grads, strict=True):
                if grad is not None:
                    acc.add_(grad.detach(), alpha=n)
            count += n
    finally:
        model.train(was_training)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        counter = torch.tensor([float(count)], device=total[0].device)
        torch.distributed.all_reduce(counter)
        for acc in total:
            torch.distributed.all_reduce(acc)
        count = int(counter.item())
    if count == 0:
        raise ValueError("the mastered set gave no batches: g_M needs at least one mastered row")
    return [acc.div_(count) for acc in total]
