"""What CNL's mask costs: a masked training step against a plain one on the same model, in one process.

Times forward + backward + optimizer step with and without the conflict mask (SGD: the gradient is
masked; AdamW: the update is) in pairs, alternating which of the two goes first, after a warm-up. A
shared, loaded machine slows whole stretches of steps, so the figure is the median of the per-pair
ratios (masked / plain of adjacent steps), printed with its quartiles and the load average; the mask's
own time (`before_step` + `after_step`) is timed apart, and 1 + mask / plain step is printed beside the
ratio: the overhead read from the mask's own calls, which noise on the rest of the step cannot inflate.
Then the g_M pass over the mastered rows and the extra memory: g_M (one gradient-sized buffer) and, for
update masking, the weights the step starts from (a second one), and room for one tensor's conflict
test. Target: masked / plain <= 1.25x.

    python bench/cnl.py [--model smollm2-135m|tiny] [--steps 30] [--mastered 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _model(name: str, folder: Path):
    from stages._models import build_tiny, convert_smollm2, load_model, load_tokenizer

    path = build_tiny("qwen2", 0, folder) if name == "tiny" else convert_smollm2(folder)
    return load_model(path, "float32"), load_tokenizer(path, padding_side="left")


def _rows(count: int) -> list[dict]:
    from schemas import McqData
    from stages._mcq import mcq_rows

    return list(mcq_rows(McqData(source="mcq", path=str(ROOT / "recipes/data/mcq-tiny.jsonl"))))[:count]


def _loss_fn(tok, device):
    import torch

    from stages._chat import prompt_text
    from stages._scoring import letter_token

    def loss(model, rows):
        enc = tok([prompt_text(tok, r) for r in rows], return_tensors="pt", padding=True,
                  add_special_tokens=False).to(device)
        target = torch.tensor([letter_token(tok, r["answer"]) for r in rows], device=device)
        return torch.nn.functional.cross_entropy(model(**enc).logits[:, -1, :], target)
    return loss


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(optimizer_name: str, model, tok, rows, mastered, steps: int) -> dict[str, float]:
    import torch

    from stages._cnl import ConflictMask, masks_update, mean_gradient

    device = next(model.parameters()).device
    loss = _loss_fn(tok, device)
    params = [p for p in model.parameters() if p.requires_grad]
    make = {"sgd": lambda: torch.optim.SGD(params, lr=1e-7),
            "adamw": lambda: torch.optim.AdamW(params, lr=1e-7, weight_decay=0.1)}[optimizer_name]
    plain_opt, masked_opt = make(), make()
    mask = ConflictMask(params, on_update=masks_update(masked_opt))
    _sync(device)
    t0 = time.perf_counter()
    mask.reference = mean_gradient(model, [mastered[i:i + 8] for i in range(0, len(mastered), 8)], loss, params,
                                   size=len)
    _sync(device)
    ref_seconds = time.perf_counter() - t0

    def step(opt, masked: bool) -> tuple[float, float]:
        """Seconds for the whole step, and for the mask's own calls within it."""
        _sync(device)
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss(model, [rows[step.i % len(rows)]]).backward()
        _sync(device)
        own = time.perf_counter()
        if masked:
            mask.before_step()
        _sync(device)
        own = time.perf_counter() - own
        opt.step()
        _sync(device)
        after = time.perf_counter()
        if masked:
            mask.after_step()
        _sync(device)
        end = time.perf_counter()
        step.i += 1
        return end - start, own + end - after

    step.i = 0  # type: ignore[attr-defined]
    for _ in range(2):  # warm-up: allocator, optimizer state, the mask's buffers
        step(plain_opt, False)
        step(masked_opt, True)
    plain, masked, ratios, own = [], [], [], []
    for i in range(steps):
        pair = [(plain_opt, False), (masked_opt, True)]
        times = dict((m, step(o, m)) for o, m in (pair if i % 2 else pair[::-1]))
        plain.append(times[False][0])
        masked.append(times[True][0])
        own.append(times[True][1])
        ratios.append(masked[-1] / plain[-1])
    quartiles = statistics.quantiles(ratios, n=4)
    grad_bytes = sum(p.numel() * p.element_size() for p in params)
    return {"plain_s": statistics.median(plain), "masked_s": statistics.median(masked),
            "ratio": statistics.median(ratios), "ratio_q1": quartiles[0], "ratio_q3": quartiles[2],
            "mask_s": statistics.median(own), "g_M_pass_s": ref_seconds, "g_M_rows": len(mastered),
            "g_M_MiB": grad_bytes / 2**20, "step_buffers_MiB": mask.step_buffer_bytes() / 2**20,
            "kept_share": mask.kept / mask.total}


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", choices=["smollm2-135m", "tiny"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--mastered", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model, tok = _model(args.model, Path(tmp) / "model")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).train()
    rows = _rows(48)
    print(f"model {args.model} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, fp32) on {device}; "
          f"{args.steps} step pairs, batch 1")
    for name in ("sgd", "adamw"):
        load = _load()
        r = bench(name, model, tok, rows[args.mastered:], rows[: args.mastered], args.steps)
        print(f"{name:6s} plain {r['plain_s'] * 1e3:7.1f} ms  masked {r['masked_s'] * 1e3:7.1f} ms  "
              f"ratio {r['ratio']:.2f}x (quartiles {r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}; target <= 1.25x)  "
              f"mask {r['mask_s'] * 1e3:.1f} ms/step (1 + mask/plain = {1 + r['mask_s'] / r['plain_s']:.2f}x)  "
              f"g_M pass {r['g_M_pass_s']:.2f} s for {r['g_M_rows']} rows  "
              f"extra memory: g_M {r['g_M_MiB']:.0f} MiB + step buffers {r['step_buffers_MiB']:.0f} MiB  "
              f"kept {r['kept_share']:.0%}  load {load} -> {_load()}")


if __name__ == "__main__":
    main()
