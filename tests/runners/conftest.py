"""Fixtures for the SkyPilot runner: a workdir with a cheap recipe, an isolated SkyPilot client env.

The recipe's stages (a JSONL dataset and filters) need no torch, so the same plan serves the YAML
tests and the local-cloud test that really executes the generated setup/run scripts.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hf_SENTINEL_d41d8cd98f00b204e9800998ecf8427e"
"""A fake token value: no file written by any test may contain it."""

ROWS = [
    {"id": "a", "prompt": "1+1?", "answer": "2", "response": "<answer>2</answer>"},
    {"id": "b", "prompt": "2+2?", "answer": "4", "response": "<answer>5</answer>"},
    {"id": "c", "prompt": "3+3?", "answer": "6", "response": "<answer>6</answer>"},
]

RECIPE = """
recipe: pipeline
name: cloudy
data:
  rows: {{source: jsonl, path: rows.jsonl}}
runner: {runner}
stages:
  - {{id: keep, kind: filter, data: rows}}
  - id: train
    kind: sft
    model: base
    data: keep
    max_steps: 2
    resources: {{processes: 8}}
  - {{id: again, kind: filter, data: keep, correct: false}}
  - id: wide
    kind: filter
    data: again
    correct: false
    resources: {{num_nodes: 2, accelerators: "L4:1"}}
models:
  base: tiny:qwen2
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A synced folder holding the recipe's data (the recipe file itself is written by `recipe_file`)."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return folder


@pytest.fixture
def recipe_file(workdir: Path) -> Callable[..., Path]:
    """recipe_file(**runner_fields) -> path of the recipe inside `workdir` (install: the project root)."""

    def _write(text: str = RECIPE, **fields: Any) -> Path:
        runner = {"kind": "skypilot", "bucket": "s3://test-bucket/runs", "workdir": str(workdir),
                  "install": str(ROOT), "extras": ["train"], "secrets": ["HF_TOKEN", "WANDB_API_KEY"],
                  "envs": {"RECIPE_FLAVOUR": "plain"},
                  "resources": {"accelerators": "H100:8", "use_spot": True, "cloud": "aws",
                                "region": "us-east-1", "disk_size": 300}, **fields}
        body = textwrap.dedent(text).format(runner=json.dumps(runner))
        path = workdir / "recipe.yaml"
        path.write_text(body)
        return path

    return _write


@pytest.fixture
def sky_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SkyPilot client that can start nothing: temp HOME, no telemetry, a dead loopback API server."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
    monkeypatch.setenv("SKYPILOT_API_SERVER_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return home


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under `root` whose bytes contain `needle`."""
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and data in p.read_bytes()]


class FakeSky:
    """Records what the runner asks of SkyPilot (the module boundary, client.py's SkyClient).

    A launched job gets the next id (from 7) and a queue row per task; it reports RUNNING for
    `runs_for` looks at the queue, then the status `ends` gives for a label in its name (default
    SUCCEEDED), like SkyPilot's managed-jobs queue.
    """

    def __init__(self, queue: list[dict[str, Any]] | None = None, clusters: list[dict[str, Any]] | None = None,
                 exit_codes: list[int] | None = None, ends: dict[str, str] | None = None, runs_for: int = 1):
        self.calls: list[tuple[str, Any]] = []
        self.queue = list(queue or [])
        self.cluster_rows = clusters or []
        self.exit_codes = list(exit_codes or [])
        self.ends, self.runs_for = dict(ends or {}), runs_for
        self.next_id = 7
        self.looks: dict[int, int] = {}
        self.final: dict[int, str] = {}

    def jobs_launch(self, pipeline_yaml: str, name: str, secrets: dict[str, str]) -> list[int]:
        self.calls.append(("jobs_launch", (pipeline_yaml, name, dict(secrets))))
        job_id, self.next_id = self.next_id, self.next_id + 1
        self.looks[job_id] = 0
        self.final[job_id] = next((v for k, v in self.ends.items() if f"--{k}-" in name), "SUCCEEDED")
        for i, doc in enumerate(list(yaml.safe_load_all(pipeline_yaml))[1:]):
            self.queue.append({"job_id": job_id, "job_name": name, "task_id": i, "task_name": doc["name"],
                               "status": "PENDING"})
        return [job_id]

    def _advance(self) -> None:
        for job_id in self.looks:
            self.looks[job_id] += 1
            if self.looks[job_id] > self.runs_for:
                status = self.final[job_id]
            else:
                status = "RUNNING"
            for row in self.queue:
                if row["job_id"] == job_id and row["status"] not in ("CANCELLED",):
                    row["status"] = status

    def launched(self) -> list[str]:
        """Names of the jobs launched, in order."""
        return [c[1][1] for c in self.calls if c[0] == "jobs_launch"]

    def cluster_launch(self, task_yaml: str, cluster: str, secrets: dict[str, str]) -> int:
        self.calls.append(("cluster_launch", (task_yaml, cluster, dict(secrets))))
        return self.exit_codes.pop(0) if self.exit_codes else 0

    def jobs_queue(self, name: str) -> list[dict[str, Any]]:
        self.calls.append(("jobs_queue", name))
        self._advance()
        return [dict(j) for j in self.queue if str(j["job_name"]).startswith(name)]

    def jobs_logs(self, job_id: int, follow: bool = True) -> int:
        self.calls.append(("jobs_logs", (job_id, follow)))
        return 0

    def jobs_cancel(self, job_ids: list[int]) -> None:
        self.calls.append(("jobs_cancel", list(job_ids)))

    def clusters(self, prefix: str) -> list[dict[str, Any]]:
        self.calls.append(("clusters", prefix))
        return [c for c in self.cluster_rows if c["name"].startswith(prefix)]

    def cluster_logs(self, cluster: str, follow: bool = True) -> int:
        self.calls.append(("cluster_logs", (cluster, follow)))
        return 0

    def cluster_down(self, cluster: str) -> None:
        self.calls.append(("cluster_down", cluster))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """Run `recipe ARGS` in this process with the runner object given standing for its kind (a SkyPilot
    runner with a fake client and prices); returns (exit code, stdout); stderr is left in `.err`."""
    from sdk import api
    from sdk.cli import main

    real = api.load_runner

    def _run(runner: Any, *argv: Any) -> tuple[int, str]:
        monkeypatch.setattr(api, "load_runner", lambda kind: (lambda: runner) if kind == runner.kind else real(kind))
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        _run.err = captured.err  # type: ignore[attr-defined]
        return code, captured.out

    return _run
