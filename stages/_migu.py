"""Magnitude mask (MIGU, METHODS.md, section 5): in each linear layer, update only the weight rows (output units)
whose outputs were largest on the current step's batch.

    a_j   = sum over the step's tokens (all micro-batches) of |y_j|      y = the layer's output
    thr   = quantile(a, keep_quantile)
    W.grad[j, :] *= 1[a_j >= thr]                                        (bias untouched)

So with `keep_quantile: 0.7` about the top 30% of rows move. Under LoRA the adapter's own linear layers
(`lora_A`, `lora_B`) are the ones masked, as in the authors' code. Statistics are gathered only in
training mode, so evaluation passes between steps do not count. Under several processes the
magnitudes are summed across ranks, so every rank masks the same rows (the authors all-reduce too).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def linear_layers(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The trainable linear layers: the LoRA adapter's when there is one, else every nn.Linear."""
    lora = [m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
            and (".lora_A." in f".{n}." or ".lora_B." in f".{n}.") and m.weight.requires_grad]
    if lora:
        return lora
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.weight.requires_grad]


class MagnitudeMask:
    """Forward hooks that sum |output| per row, and a `before_step()` that masks the low rows' gradients."""

    def __init__(self, layers: Iterable[torch.nn.Linear], keep_quantile: float):
        if not 0 <= keep_quantile < 1:
            raise ValueError(f"keep_quantile must be in [0, 1), got {keep_quantile}")
        self.layers = list(layers)
        self.keep_quantile = keep_quantile
        self.magnitude: dict[torch.nn.Linear, torch.Tensor] = {}
        self._handles = [layer.register_forward_hook(self._record) for layer in self.layers]
        self.kept = 0
        """Weight rows updated at the last step."""
        self.total = sum(layer.weight.shape[0] for layer in self.layers)

    def _record(self, layer: torch.nn.Module, args: object, output: torch.Tensor) -> None:
        if not layer.training:
            return
        rows = output.detach().abs().reshape(-1, output.shape[-1]).sum(0).float()
        seen = self.magnitude.get(layer)  # type: ignore[call-overload]
        self.magnitude[layer] = rows if seen is None else seen + rows  # type: ignore[index]

    def before_step(self) -> None:
        """Zero the gradient rows below the quantile, then start counting the next step afresh."""
        kept = 0
        for layer in self.layers:
            magnitude = self.magnitude.get(layer)
            grad = layer.weight.grad
            if magnitude is None or grad is None:
                continue
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(magnitude)  # every rank must mask the same rows of the synced grad
            keep = magnitude >= torch.quantile(magnitude, self.keep_quantile)
            grad.mul_(keep.to(grad.dtype).unsqueeze(1))
            kept += int(keep.sum())
        self.kept = kept
        self.magnitude.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
