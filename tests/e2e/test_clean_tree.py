"""Nothing written where it was not asked for: in a fresh clone, a full apply, its report, a plan and a
SkyPilot dry run leave `git status` clean (everything generated lands in the store, `runs/`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The project's tracked files as they are now, committed in a repository of their own."""
    repo = tmp_path / "clone"
    for name in git(ROOT, "ls-files", "-z").split("\0"):
        if name and (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "clone")
    return repo


def test_apply_report_plan_and_a_cloud_dry_run_leave_the_clone_clean(clone):
    env = {**os.environ, "PYTHONPATH": str(clone), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for argv in (["apply", "recipes/pipeline-tiny.yaml"], ["report"], ["plan", "recipes/pipeline-tiny.yaml"],
                 ["status"], ["apply", "recipes/re-distill.yaml", "--runner", "skypilot", "--dry-run"]):
        done = subprocess.run([sys.executable, "-m", "sdk.cli", *argv], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    assert "runs/sky-tasks/re-distill-kk" in done.stdout  # says where the task YAML went
    assert list((clone / "runs" / "sky-tasks" / "re-distill-kk").glob("00-base-*.yaml"))
    assert git(clone, "status", "--porcelain", "--untracked-files=all") == ""
