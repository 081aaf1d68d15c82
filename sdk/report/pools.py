"""The report's CoScale-RL section: pool sizes per partition, pass rate and accuracy per policy, and per
RL group its rollout count N, its effective rollout count N_eff and the rollouts it sampled.

It reads only what the store holds: each partition's `report.json`, each probe's summary, the evaluate
report, the rows each grpo stage trained on (their probed `pass_rate`) and each grpo stage's replay
buffer (rows per step are the rollouts sampled; rows carry N where the stage recorded it). With a plain-GRPO
baseline, the rollout budget of both arms, planned and sampled, so the paired difference is read at a known
cost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.coscale_rl import BASELINE_STAGE
from schemas.stages.pools import POOLS
from sdk.report.page import Block, Heading, Image, Table, Text
from sdk.report.plots import stacked_bar_plot
from sdk.run.store import Store

POOLS_NOTE = ("Problems per pool after each partition (pools<i>: the iteration's first probe; repools<i>: after its "
              "data scaling). unsolvable: pass rate below the unsolvable threshold (they get solutions); solvable: "
              "between the thresholds (RL, in difficulty groups, group1 easiest); solved: above the solved threshold; "
              "failed: unsolvable with their solution budget spent.")
ACCURACY_NOTE = ("train pass rate: the probe's share of correct samples on the training problems; test accuracy: "
                 "the evaluate stage's accuracy of the same policy (fractions 0 to 1; - where not measured).")
BUDGET_NOTE = ("RL rollouts of each arm: planned = steps x prompts_per_step x N per grpo stage (the first N); "
               "sampled = completions in the stages' replay buffers (a CoScale-RL group found empty at run time "
               "samples none). The probes' samples are not RL rollouts and are not counted.")
GROUPS_NOTE = ("N: rollouts per prompt (first -> last when the stage raised it); N_eff = N (1 - p^N - (1 - p)^N), "
               "averaged over the group's problems with p their probed pass rate (a prompt teaches only when its N "
               "rewards differ); rollouts sampled: completions in the stage's replay buffer (the group's rollout "
               "compute).")


def _by_kind(stages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The stages of one kind (a named output's artifact carries its stage's kind too: left out)."""
    return [s for s in stages if s.get("folder") is not None and (s.get("manifest") or {}).get("kind") == kind
            and "output_of" not in s["manifest"]]


def _names(stages: list[dict[str, Any]]) -> dict[str, str]:
    """Fingerprint -> stage id, for every stage of the apply."""
    return {s["manifest"]["fingerprint"]: s["id"] for s in stages if s.get("manifest")}


def pools_blocks(stages: list[dict[str, Any]], store: Store, out: Path) -> list[Block]:
    """The section, or nothing when the apply has no partition stage."""
    partitions = _by_kind(stages, "partition")
    if not partitions:
        return []
    counts = {s["id"]: json.loads((s["folder"] / "report.json").read_text())["counts"] for s in partitions}
    groups = sorted({g for c in counts.values() for g in c if g not in POOLS}, key=lambda g: int(g[5:]))
    rows = [[sid, *(str(c.get(p, 0)) for p in POOLS), " / ".join(str(c.get(g, 0)) for g in groups)]
            for sid, c in counts.items()]
    blocks: list[Block] = [Heading("CoScale-RL: pools, accuracy and rollouts per iteration"),
                           Table(["partition", *POOLS, "groups (" + " / ".join(groups) + ")"], rows, POOLS_NOTE,
                                 numeric=frozenset(range(1, len(POOLS) + 2)))]
    stacked_bar_plot({sid: {p: float(c.get(p, 0)) for p in POOLS} for sid, c in counts.items()}, "problems",
                     "problems per pool, per partition", out / "pools.png")
    blocks.append(Image("pools.png", "pool sizes per partition", "Each bar is one partition; colours are pools."))
    blocks += _accuracy(stages)
    blocks += _groups(stages, store)
    budget = budget_rows(stages)
    if len(budget) > 1:
        blocks.append(Table(["arm", "RL stages", "rollouts planned", "rollouts sampled"], budget, BUDGET_NOTE,
                            numeric=frozenset({1, 2, 3})))
    empty = [f"{s['id']} ({s['manifest']['kind']})" for s in stages
             if s.get("manifest") and s["manifest"].get("summary", {}).get("empty") is True]
    if empty:
        blocks.append(Text("Empty at run time (no input rows; training stages passed their policy on unchanged): "
                           + ", ".join(empty) + "."))
    return blocks


def _accuracy(stages: list[dict[str, Any]]) -> list[Block]:
    names = _names(stages)
    evals = _by_kind(stages, "evaluate")
    test = json.loads((evals[-1]["folder"] / "report.json").read_text()).get("models", {}) if evals else {}
    rows, seen = [], set()
    for probe in _by_kind(stages, "probe"):
        policy = names.get(probe["manifest"]["inputs"].get("model", ""), "?")
        seen.add(policy)
        accuracy = test.get(policy, {}).get("accuracy")
        rate = probe["manifest"].get("summary", {}).get("mean_pass_rate")
        rows.append([probe["id"], policy, "-" if rate is None else f"{rate:.3f}",
                     "-" if accuracy is None else f"{accuracy:.3f}"])
    rows += [["-", name, "-", f"{m.get('accuracy', 0):.3f}"] for name, m in test.items() if name not in seen]
    return [Table(["probe", "policy", "train pass rate", "test accuracy"], rows, ACCURACY_NOTE,
                  numeric=frozenset({2, 3}))]


def _groups(stages: list[dict[str, Any]], store: Store) -> list[Block]:
    from stages.rollout_scaling import group_effective_rollouts, step_stats

    rows = []
    for rl in _by_kind(stages, "grpo"):
        if rl["id"] == BASELINE_STAGE:
            continue  # the plain-GRPO arm: no group, its rollouts are in the budget table
        manifest = rl["manifest"]
        data_key = manifest["inputs"].get("data", "")[:16]
        if not store.has(data_key):
            continue
        group = [r for r in _rows(store.artifact_dir(data_key) / "data.jsonl") if "pass_rate" in r]
        steps = step_stats(_rows(rl["folder"] / "replay.jsonl"))
        first = int(manifest["params"].get("generations", 0))
        last = next((s.generations for s in reversed(steps) if s.generations), first)
        rates = [float(r["pass_rate"]) for r in group]
        n_eff = [f"{group_effective_rollouts(n, rates):.2f}" for n in dict.fromkeys((first, last))]
        rows.append([rl["id"], store.manifest(data_key).get("stage", "?"), str(len(group)),
                     " -> ".join(str(n) for n in dict.fromkeys((first, last))), " -> ".join(n_eff),
                     str(sum(s.rollouts for s in steps)), str(len(steps))])
    if not rows:
        return []
    return [Table(["RL stage", "group", "problems", "N", "N_eff", "rollouts sampled", "steps"], rows, GROUPS_NOTE,
                  numeric=frozenset({2, 5, 6}))]


def budget_rows(stages: list[dict[str, Any]]) -> list[list[str]]:
    """[arm, RL stages, rollouts planned, rollouts sampled] for the CoScale-RL arm and the plain-GRPO arm (none
    without a plain-GRPO arm)."""
    runs = _by_kind(stages, "grpo")
    if not any(rl["id"] == BASELINE_STAGE for rl in runs):
        return []  # no plain-GRPO arm: nothing to compare
    arms: dict[str, list[int]] = {}
    for rl in runs:
        params = rl["manifest"].get("params", {})
        arm = "plain GRPO" if rl["id"] == BASELINE_STAGE else "CoScale-RL"
        tally = arms.setdefault(arm, [0, 0, 0])
        tally[0] += 1
        tally[1] += int(params.get("steps", 0)) * int(params.get("prompts_per_step", 0)) * int(
            params.get("generations", 0))
        tally[2] += int(rl["manifest"].get("summary", {}).get("rollouts", 0))  # the stage's replay buffer rows
    return [[arm, *map(str, tally)] for arm, tally in sorted(arms.items())]


def budget_line(stages: list[dict[str, Any]]) -> str | None:
    """One line for the apply's output: the RL rollouts each arm sampled (only with a plain-GRPO arm)."""
    rows = budget_rows(stages)
    if len(rows) < 2:
        return None
    return "RL rollouts sampled: " + ", ".join(f"{arm} {sampled} (planned {planned})"
                                                for arm, _, planned, sampled in rows)


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
