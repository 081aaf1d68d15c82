"""CNL's conflict mask and MIGU's magnitude mask against hand computations on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from stages._cnl import ConflictMask, masks_update, mean_gradient
from stages._migu import MagnitudeMask, linear_layers

THETA = [1.0, 2.0, 3.0, 4.0]
G_M = [1.0, 1.0, -1.0, 0.0]  # the mastered-set gradient


def _setup(optimizer_cls, reference=G_M, **kwargs):
    param = torch.nn.Parameter(torch.tensor(THETA))
    opt = optimizer_cls([param], **kwargs)
    mask = ConflictMask([param], on_update=masks_update(opt))
    mask.reference = [torch.tensor(reference)]
    return param, opt, mask


def _step(param, opt, mask, grad):
    param.grad = torch.tensor(grad)
    mask.before_step()
    opt.step()
    mask.after_step()


def test_sgd_masks_the_gradient_entries_that_conflict_with_g_m():
    param, opt, mask = _setup(torch.optim.SGD, lr=0.1)
    assert not mask.on_update
    _step(param, opt, mask, [1.0, -1.0, 2.0, -2.0])
    # g * g_M = [1, -1, -2, 0] -> keep [1, 0, 0, 1] (zero counts as agreeing)
    assert param.tolist() == pytest.approx([0.9, 2.0, 3.0, 4.2])
    assert mask.kept == 2


def test_momentum_masks_the_update_and_its_buffer_sees_the_unmasked_gradient():
    param, opt, mask = _setup(torch.optim.SGD, lr=0.1, momentum=0.9)
    assert mask.on_update
    _step(param, opt, mask, [1.0, -1.0, 2.0, -2.0])
    assert param.tolist() == pytest.approx([0.9, 2.0, 3.0, 4.2])
    _step(param, opt, mask, [1.0, 1.0, 1.0, 1.0])
    buffer = [0.9 * a + b for a, b in zip([1.0, -1.0, 2.0, -2.0], [1.0] * 4, strict=True)]  # [1.9, .1, 2.8, -.8]
    assert opt.state[param]["momentum_buffer"].tolist() == pytest.approx(buffer)
    # update u = buffer; u * g_M = [1.9, 0.1, -2.8, 0] -> keep [1, 1, 0, 1]
    assert param.tolist() == pytest.approx([0.9 - 0.19, 2.0 - 0.01, 3.0, 4.2 + 0.08])


def _adam_update(grads, step, lr=0.1, betas=(0.9, 0.999), eps=1e-8):
    """Adam's step for one coordinate after `step` gradients (bias-corrected), by hand."""
    m = v = 0.0
    for g in grads[:step]:
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
    m_hat, v_hat = m / (1 - betas[0] ** step), v / (1 - betas[1] ** step)
    return lr * m_hat / (math.sqrt(v_hat) + eps)


def test_adam_masks_the_update_not_the_gradient_and_moments_see_the_unmasked_gradient():
    g1, g2 = [1.0, -1.0, 2.0, -2.0], [-0.5, 1.0, 1.0, 1.0]
    param, opt, mask = _setup(torch.optim.Adam, lr=0.1)
    _step(param, opt, mask, g1)
    after_one = [t - _adam_update([a], 1) if a * r >= 0 else t for t, a, r in zip(THETA, g1, G_M, strict=True)]
    assert param.tolist() == pytest.approx(after_one)
    _step(param, opt, mask, g2)
    updates = [_adam_update([a, b], 2) for a, b in zip(g1, g2, strict=True)]
    # coordinate 0: the gradient (-0.5) conflicts with g_M, but Adam's update (+) agrees: it moves
    assert updates[0] > 0 and updates[2] > 0 and updates[3] < 0
    expected = [t - u if u * r >= 0 else t for t, u, r in zip(after_one, updates, G_M, strict=True)]
    assert param.tolist() == pytest.approx(expected)
    moments = [0.9 * 0.1 * a + 0.1 * b for a, b in zip(g1, g2, strict=True)]
    assert opt.state[param]["exp_avg"].tolist() == pytest.approx(moments)


def test_adamw_masks_the_update_including_weight_decay():
    reference = [1.0, 1.0, -1.0, -1.0]
    param, opt, mask = _setup(torch.optim.AdamW, reference=reference, lr=0.1, weight_decay=0.5)
    grad = [1.0, -1.0, 2.0, -2.0]
    _step(param, opt, mask, grad)
    # u = wd * theta + adam: coordinate 3 has g = -2 (agrees with g_M = -1) but u = 0.5*4 - 1 = +1 (conflicts)
    updates = [0.1 * 0.5 * t + _adam_update([g], 1) for t, g in zip(THETA, grad, strict=True)]
    keep = [u * r >= 0 for u, r in zip(updates, reference, strict=True)]
    assert keep == [True, True, False, False]
    expected = [t - u if k else t for t, u, k in zip(THETA, updates, keep, strict=True)]
    assert param.tolist() == pytest.approx(expected)


def test_plain_sgd_with_weight_decay_masks_the_update():
    assert masks_update(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1, weight_decay=0.1))


def test_stepping_without_a_reference_is_an_error():
    param = torch.nn.Parameter(torch.ones(2))
    mask = ConflictMask([param], on_update=False)
    with pytest.raises(RuntimeError, match="no reference gradient"):
        mask.before_step()


def test_mean_gradient_is_the_example_weighted_mean_and_leaves_grad_alone():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    xs, ys = torch.randn(5, 3), torch.randn(5, 1)
    batches = [(xs[:2], ys[:2]), (xs[2:], ys[2:])]

    def loss_fn(m, batch):
        return torch.nn.functional.mse_loss(m(batch[0]), batch[1])

    params = list(model.parameters())
    got = mean_gradient(model, batches, loss_fn, params, size=lambda b: len(b[0]))
    want = torch.autograd.grad(torch.nn.functional.mse_loss(model(xs), ys), params)
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert all(p.grad is None for p in params)


def test_migu_keeps_only_the_rows_with_the_largest_output_magnitude():
    layer = torch.nn.Linear(2, 4, bias=True)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0], [0.5, 0.5]]))
        layer.bias.zero_()
    mask = MagnitudeMask([layer], keep_quantile=0.5)
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    layer(x).sum().backward()
    # |y| summed over tokens per row: [2, 6, 4, 1]; median (quantile 0.5) = 3 -> rows 1 and 2 move
    mask.before_step()
    assert layer.weight.grad.tolist() == [[0.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 0.0]]
    assert layer.bias.grad.tolist() == [2.0, 2.0, 2.0, 2.0]
    assert mask.kept == 2 and not mask.magnitude


def test_migu_ignores_forward_passes_in_eval_mode_and_prefers_lora_layers():
    layer = torch.nn.Linear(2, 2)
    mask = MagnitudeMask([layer], keep_quantile=0.7)
    layer.eval()
    layer(torch.ones(1, 2))
    assert not mask.magnitude
    mask.remove()

    class Adapter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.base = torch.nn.Linear(2, 2)
            self.base.weight.requires_grad_(False)
            self.lora_A = torch.nn.ModuleDict({"default": torch.nn.Linear(2, 1)})
            self.lora_B = torch.nn.ModuleDict({"default": torch.nn.Linear(1, 2)})

    found = linear_layers(Adapter())
    assert len(found) == 2 and all(layer.weight.shape != (2, 2) for layer in found)


def test_migu_rejects_a_quantile_outside_zero_to_one():
    with pytest.raises(ValueError, match="keep_quantile"):
        MagnitudeMask([torch.nn.Linear(1, 1)], keep_quantile=1.0)
