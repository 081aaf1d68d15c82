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
        self.kept = 0
        """Coordinates updated at the last step (the collaborative ones)."""
        self.total = sum(p.numel() for p in self.params)

    def before_step(self) -> None:
        """SGD: zero the conflicting gradient entries. Otherwise: remember the weights the step starts from."""
        if self.reference is None:
            raise RuntimeError("ConflictMask has no reference gradient yet; set `reference` before stepping")
        if self.on_update:
            self._before = [p.detach().clone() for p in self.params]
            return
        kept = 0
        for p, ref in zip(self.params, self.reference, strict=True):
            if p.grad is not None:
                keep = torch.mul(p.grad, ref).ge_(0)
                p.grad.mul_(keep)
                kept += int(keep.sum())
        self.kept = kept

    def after_step(self) -> None:
        """Put back every coordinate whose update conflicts with g_M (update masking only)."""
        if not self.on_update or self._before is None:
            return
        assert self.reference is not None
        kept = 0
        with torch.no_grad():
            for p, old, ref in zip(self.params, self._before, self.reference, strict=True):
                keep = torch.sub(old, p).mul_(ref).ge(0)  # u = (old - new) / lr; keep where u * g_M >= 0
                kept += int(keep.sum())
                p.copy_(torch.where(keep, p, old))
        self._before = None
        self.kept = kept


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
