"""GPU check of coscale-rl: one iteration x 2 groups on a random-init Qwen2 (~0.5B, bf16), through the real engine.

What it exercises on a GPU: probe and evaluate sampling, partition into pools, data scaling SFT, the groups'
GRPO with `rollout_scaling` (set so that it must raise N: the run checkpoints and goes on in a new trainer
with the next N), the replay over both groups' buffers and the merge SFT. Prints per stage the wall time,
peak GPU memory beside the fit estimate, the pools, each group's N changes, and the accuracy table.

    bash bench/gpu_check.sh is the installer; run this one the same way:
    GPU_CHECK_SCRIPT=bench/gpu_coscale.py bash bench/gpu_check.sh
    GPU_CHECK_MODEL=tiny ... runs the same flow on a tiny model (CPU, minutes)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gpu_check import build_model, keep_logs, versions  # noqa: E402

ASK = "Give only the final answer inside <answer></answer>."


def write_problems(folder: Path) -> tuple[Path, Path]:
    """One-digit additions: 32 to train on, 64 to test; `grader: math` grades them by value."""
    rng = random.Random(0)
    pairs = [(a, b) for a in range(10) for b in range(10)]
    rng.shuffle(pairs)

    def rows(chosen: list[tuple[int, int]], start: int) -> str:
        return "".join(json.dumps({"id": str(start + i), "prompt": f"What is {a} + {b}? {ASK}", "answer": str(a + b)})
                       + "\n" for i, (a, b) in enumerate(chosen))

    train, test = folder / "train.jsonl", folder / "test.jsonl"
    train.write_text(rows(pairs[:32], 0))
    test.write_text(rows(pairs[32:96], 100))
    return train, test


def recipe(folder: Path, model: Path, gpu: bool) -> Path:
    import yaml

    train, test = write_problems(folder)
    doc = {
        "recipe": "coscale-rl", "name": "gpu-coscale", "store": str(folder / "store"),
        "models": {"base": {"source": str(model)}},
        "data": {"train": {"source": "jsonl", "path": str(train), "grader": "math"},
                 "test": {"source": "jsonl", "path": str(test), "grader": "math"}},
        "base": "base", "problems": "train", "iterations": 1,
        "probe": {"n": 8, "max_new_tokens": 16, "batch_size": 64},
        "pools": {"groups": 2},
        "solutions": {"field": "answer", "template": "<answer>{solution}</answer>", "k": [8]},
        "scale": {"epochs": 40, "batch_size": 16, "lr": 3.0e-4, "max_length": 128, "bf16": gpu},
        "rl": {"steps": 4, "prompts_per_step": 4, "generations": 2, "group_generations": [2, 4], "lr": 1.0e-6,
               "max_completion_tokens": 16, "bf16": gpu, "save_steps": 100,
               "reward": {"correct": 1.0, "format": 0.5},
               # a reward can never rise by 10 in a window: the run must stall and raise N at every check
               "rollout_scaling": {"schedule": [2, 4, 8], "window": 1, "min_reward_gain": 10.0,
                                   "zero_std_fraction": None}},
        "merge": {"sft": {"epochs": 1, "batch_size": 16, "lr": 1.0e-5, "max_length": 128, "bf16": gpu}},
        "evaluate": {"data": "test", "max_new_tokens": 16, "batch_size": 64},
    }
    path = folder / "gpu-coscale.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def main() -> int:
    import torch

    from sdk import api
    from sdk.errors import StageFailed
    from sdk.fit.check import fit_stage
    from sdk.fit.estimate import GB
    from sdk.run.display import Display

    gpu = torch.cuda.is_available()
    size = "tiny" if os.environ.get("GPU_CHECK_MODEL") == "tiny" else "0.5b"
    print("versions:", json.dumps(versions()))
    folder = Path(os.environ.get("GPU_CHECK_OUT") or "/tmp/gpu-check")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.time()
    model = build_model(size, folder / "model")
    path = recipe(folder, model, gpu)
    plan = api.compile(api.load(path))
    try:
        outcomes = api.apply(plan, runner="local", display=Display(stream=sys.stdout, live=False)).outcomes
    except StageFailed as failed:  # still show what ran, and the failure, below
        outcomes = failed.outcomes
    print(f"\n== per stage ({'GPU ' + torch.cuda.get_device_name(0) if gpu else 'CPU'}, {size}) ==")
    for outcome in outcomes:
        stage = plan[outcome.id]
        if stage.kind in ("model", "dataset"):
            continue
        summary = outcome.summary or {}
        peak = summary.get("peak_memory", {})
        measured = peak.get("gpu_allocated_gb") if gpu else peak.get("rss_gb")
        fit = fit_stage(plan, stage, "H200:1" if gpu else None) if stage.kind in ("sft", "grpo") else None
        est = f"{fit.peak / GB:.2f} GB" if fit and fit.peak else "-"
        keys = ("rows", "pools", "sizes", "empty", "generations", "generation_changes", "rollouts", "accuracy",
                "mean_pass_rate")
        shown = {k: summary[k] for k in keys if k in summary}
        if outcome.reason:
            print(f"{stage.id}: FAILED: {outcome.reason}")
        print(f"{stage.id:22s} {stage.kind:10s} {outcome.state:8s} {outcome.seconds:6.1f}s peak {measured} GB "
              f"(fit {est}) {json.dumps(shown)[:300]}")
    report_dir = Path(os.environ.get("OUT") or folder) / "report"
    report = subprocess.run([sys.executable, "-m", "sdk.cli", "report", "--store", str(folder / "store"),
                             "--out", str(report_dir)], capture_output=True, text=True, cwd=ROOT, check=False)
    print("\n== recipe report ==\n" + report.stdout[-4000:] + report.stderr[-2000:])
    print(f"run folder: {folder}; total {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        keep_logs(Path(os.environ.get("GPU_CHECK_OUT") or "/tmp/gpu-check"))
