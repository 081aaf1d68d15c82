"""Linear CKA between two sets of representations of the same inputs (Kornblith et al. 2019), as a
full-batch value and streamed over minibatches (Nguyen, Raghu, Kornblith 2021), so that memory holds one
batch of hidden states per layer, never the whole question set.

    CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),   K = X X^T, L = Y Y^T (linear kernels)

The minibatch form sums the unbiased HSIC estimator (Song et al. 2012) of each batch: it does not depend on
the batch size in expectation, as the biased full-batch estimator does.
"""

from __future__ import annotations

from typing import Any


def linear_cka(x: Any, y: Any) -> float:
    """Full-batch linear CKA of two (n, d) tensors, in float64: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    x = x.double() - x.double().mean(0, keepdim=True)
    y = y.double() - y.double().mean(0, keepdim=True)
    cross = (y.T @ x).norm() ** 2
    return float(cross / ((x.T @ x).norm() * (y.T @ y).norm()))


def hsic_unbiased(k: Any, l: Any) -> Any:  # noqa: E741 (the kernel names of the paper)
    """The unbiased HSIC estimator of two (n, n) Gram matrices (n >= 4), in float64."""
    import torch

    n = k.shape[0]
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs 4 or more samples, got {n}")
    eye = torch.eye(n, dtype=torch.float64, device=k.device)
    k = k.double() * (1 - eye)
    l = l.double() * (1 - eye)  # noqa: E741
    ones = torch.ones(n, 1, dtype=torch.float64, device=k.device)
    trace = (k * l.T).sum()
    middle = (ones.T @ k @ ones) * (ones.T @ l @ ones) / ((n - 1) * (n - 2))
    cross = 2 * (ones.T @ k @ l @ ones) / (n - 2)
    return ((trace + middle - cross) / (n * (n - 3))).squeeze()


class MinibatchCka:
    """Per-layer linear CKA accumulated over minibatches: `add(fast, slow)` with one (batch, hidden) tensor
    per layer for each mode, the same questions in the same order; `values()` at the end."""

    def __init__(self) -> None:
        self._xy: list[float] = []
        self._xx: list[float] = []
        self._yy: list[float] = []
        self._varies: list[bool] = []
        self.samples = 0

    def add(self, fast: list[Any], slow: list[Any]) -> None:
        if len(fast) != len(slow):
            raise ValueError(f"{len(fast)} fast layers and {len(slow)} slow ones")
        if not self._xy:
            self._xy, self._xx, self._yy = [0.0] * len(fast), [0.0] * len(fast), [0.0] * len(fast)
            self._varies = [False] * len(fast)
        for layer, (x, y) in enumerate(zip(fast, slow, strict=True)):
            self._varies[layer] |= _varies(x) and _varies(y)
            k = x.double() @ x.double().T
            l = y.double() @ y.double().T  # noqa: E741
            self._xy[layer] += float(hsic_unbiased(k, l))
            self._xx[layer] += float(hsic_unbiased(k, k))
            self._yy[layer] += float(hsic_unbiased(l, l))
        self.samples += int(fast[0].shape[0]) if fast else 0

    def values(self) -> list[float | None]:
        """CKA per layer; None where a mode's states do not vary over the questions (the embedding of a last
        prompt token that every prompt shares: there is nothing to compare)."""
        out: list[float | None] = []
        for xy, xx, yy, varies in zip(self._xy, self._xx, self._yy, self._varies, strict=True):
            out.append(xy / (xx * yy) ** 0.5 if varies and xx > 0 and yy > 0 else None)
        return out


def _varies(x: Any, tolerance: float = 1e-8) -> bool:
    """Whether the rows of x differ beyond rounding: their spread around the mean against their size."""
    x = x.double()
    return float(((x - x.mean(0, keepdim=True)) ** 2).sum()) > tolerance * max(float((x**2).sum()), 1e-300)


def batches(n: int, size: int) -> list[tuple[int, int]]:
    """[start, end) spans of `size` over n items, a last span shorter than 4 joined to the one before."""
    spans = [(start, min(start + size, n)) for start in range(0, n, size)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < 4:
        spans[-2:] = [(spans[-2][0], n)]
    return spans
