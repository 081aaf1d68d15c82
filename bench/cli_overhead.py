"""How long the CLI takes to answer, as ratios to a bare `python -c pass` start in the same run.

Prints the median of N runs for: `recipe --help`, `recipe validate`, `recipe plan`, and a fully
cached `recipe apply` of pipeline-tiny (the store is filled once first, which takes about a minute).
Targets on a 2-core machine: plan < 0.5 s, cached re-apply < 3 s.

    python bench/cli_overhead.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = str(ROOT / "recipes" / "pipeline-tiny.yaml")


def timed(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    cli = [sys.executable, "-m", "sdk.cli"]
    with tempfile.TemporaryDirectory() as store:
        subprocess.run([*cli, "apply", RECIPE, "--store", store], cwd=ROOT, check=True, capture_output=True)
        base = timed([sys.executable, "-c", "pass"], runs)
        rows = {
            "recipe --help": timed([*cli, "--help"], runs),
            "recipe validate": timed([*cli, "validate", RECIPE], runs),
            "recipe plan": timed([*cli, "plan", RECIPE, "--store", store], runs),
            "recipe apply (all cached)": timed([*cli, "apply", RECIPE, "--store", store], runs),
        }
    print(f"baseline python -c pass: {base:.3f} s (median of {runs})")
    for name, seconds in rows.items():
        print(f"{name:<28} {seconds:6.3f} s  {seconds / base:5.1f}x baseline")


if __name__ == "__main__":
    main()
