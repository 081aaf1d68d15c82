"""What artifact integrity costs: hashing a model at commit and again when a stage reads it, against
copying the same file (what saving or downloading a model costs at least).

Writes a file of random bytes (500 MB by default) in a temp folder, then times, interleaved over N
rounds: a copy of it (`shutil.copyfile`, page cache warm), the commit's inventory (`take`: size and
sha256 of every file) and a stage's deep check of its input (`mismatch(..., deep=True)`). Prints the
median and best of each and their ratios to the copy, measured in this one process.

    python bench/hash_cost.py [--mb 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages import inventory  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=500)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        with (model / "model.safetensors").open("wb") as fh:
            for _ in range(args.mb):
                fh.write(os.urandom(2**20))
        files = inventory.take(model)
        timings: dict[str, list[float]] = {"copy": [], "hash at commit": [], "check at read": []}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            shutil.copyfile(model / "model.safetensors", Path(tmp) / "copy.safetensors")
            timings["copy"].append(time.perf_counter() - t0)
            os.unlink(Path(tmp) / "copy.safetensors")
            t0 = time.perf_counter()
            inventory.take(model)
            timings["hash at commit"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert inventory.mismatch(model, files, deep=True) is None
            timings["check at read"].append(time.perf_counter() - t0)
    base_median, base_best = statistics.median(timings["copy"]), min(timings["copy"])
    print(f"{args.mb} MB file, {args.runs} interleaved runs (median / best seconds, ratio to the copy)")
    for name, values in timings.items():
        median, best = statistics.median(values), min(values)
        print(f"  {name:<15} {median:6.2f} / {best:6.2f} s   {median / base_median:5.2f}x / {best / base_best:5.2f}x"
              f"   {args.mb / median:6.0f} MB/s")


if __name__ == "__main__":
    main()
