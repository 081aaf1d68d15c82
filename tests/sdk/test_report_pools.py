"""The report's CoScale-RL section from a hand-made store: pools per partition, accuracy per policy,
N, N_eff and rollouts per RL group, and the stages that ran on an empty pool."""

from __future__ import annotations

import json
from pathlib import Path

from sdk.report.write import write_report
from sdk.run.store import Store, write_json
from stages import inventory


def _fp(char: str) -> str:
    return char * 64


def _commit(store: Store, char: str, stage: str, kind: str, files: dict[str, str], **manifest) -> None:
    key = _fp(char)[:16]
    folder = store.artifact_dir(key)
    folder.mkdir(parents=True)
    for name, text in {"log.txt": "", **files}.items():
        (folder / name).write_text(text)
    write_json(folder / "manifest.json", {"key": key, "fingerprint": _fp(char), "stage": stage, "kind": kind,
                                          "recipe": "cs", "timings": {"started": 1.0, "seconds": 2.0},
                                          "files": inventory.take(folder), "summary": {}, "inputs": {},
                                          "params": {}, **manifest})


def _lines(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_pools_accuracy_and_groups_with_raised_n_and_an_empty_group(tmp_path: Path) -> None:
    store = Store(tmp_path)
    counts = {"unsolvable": 1, "solvable": 2, "solved": 1, "failed": 0, "group1": 1, "group2": 0}
    _commit(store, "b", "base", "model", {})
    _commit(store, "p", "probe1", "probe", {}, inputs={"model": _fp("b")}, summary={"mean_pass_rate": 0.375})
    _commit(store, "q", "pools1", "partition", {"report.json": json.dumps({"counts": counts, "problems": {}})},
            summary=counts)
    _commit(store, "g", "pools1.group1", "partition", {"data.jsonl": _lines([{"id": 0, "pass_rate": 0.5}])},
            output_of={"stage": "pools1", "output": "group1"})
    _commit(store, "h", "pools1.group2", "partition", {"data.jsonl": ""}, output_of={"stage": "pools1",
                                                                                    "output": "group2"})
    buffer = [{"step": 1, "id": 0, "reward": r, "generations": 2} for r in (0, 1)]
    buffer += [{"step": 2, "id": 0, "reward": r, "generations": 4} for r in (0, 1, 1, 0)]
    _commit(store, "r", "rl1_1", "grpo", {"replay.jsonl": _lines(buffer)}, inputs={"data": _fp("g")},
            params={"generations": 2})
    _commit(store, "s", "rl1_2", "grpo", {"replay.jsonl": ""}, inputs={"data": _fp("h")},
            params={"generations": 8}, summary={"empty": True})
    _commit(store, "m", "merge1", "sft", {})
    report = {"data": "test", "models": {"base": {"accuracy": 0.0}, "merge1": {"accuracy": 0.25}}}
    _commit(store, "e", "eval", "evaluate", {"report.json": json.dumps(report)},
            inputs={"models.base": _fp("b"), "models.merge1": _fp("m")})
    summary = (write_report(tmp_path, "cs") / "summary.md").read_text()
    assert "| pools1 | 1 | 2 | 1 | 0 | 1 / 0 |" in summary
    assert "| probe1 | base | 0.375 | 0.000 |" in summary and "| - | merge1 | - | 0.250 |" in summary
    assert "| rl1_1 | pools1.group1 | 1 | 2 -> 4 | 1.00 -> 3.50 | 6 | 2 |" in summary
    assert "| rl1_2 | pools1.group2 | 0 | 8 | 0.00 | 0 | 0 |" in summary
    assert "Empty at run time (no input rows; training stages passed their policy on unchanged): rl1_2 (grpo)." \
        in summary
    assert (tmp_path / "reports" / "cs" / "pools.png").is_file()


def test_a_store_without_partitions_has_no_pools_section(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _commit(store, "m", "sft", "sft", {})
    assert "CoScale-RL" not in (write_report(tmp_path, "cs") / "summary.md").read_text()
