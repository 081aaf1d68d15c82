"""Failures that must stay visible: the first error wins, a killed stage says by what and why."""

from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import api
from sdk.cli import main
from sdk.errors import StageFailed, exit_reason
from stages._context import StageContext, StageError
from stages._training import report_to
from tests.sdk.test_apply import chain  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]


def test_an_unwritable_store_reports_the_lock_not_the_history(chain, tmp_path, capsys):  # noqa: F811
    store = tmp_path / "s"
    store.mkdir()
    (store / "locks").write_text("a file where the lock folder goes")
    (store / "history").write_text("a file where the history folder goes")
    with pytest.raises(OSError) as err:
        api.apply(chain, store=store)
    assert "locks" in str(err.value) and "history" not in str(err.value)
    assert any("apply record could not be written" in n for n in err.value.__notes__)
    assert main(["apply", str(chain), "--store", str(store)]) == 1
    printed = capsys.readouterr().err.split("\nerror: ", 1)[1]
    assert "locks" in printed.splitlines()[0] and "Traceback" not in printed
    assert "note: also, the apply record could not be written" in printed


def test_a_full_disk_while_recording_keeps_the_stage_failure_and_no_temporaries(chain, tmp_path,  # noqa: F811
                                                                             monkeypatch):
    (tmp_path / "rows.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')  # `first` fails: no response
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if "/history/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(StageFailed) as err:
        api.apply(chain, store=tmp_path / "s")
    assert err.value.stage_id == "first"
    assert any("No space left" in n for n in err.value.__notes__)
    assert list((tmp_path / "s" / "history").iterdir()) == []


def test_a_stage_killed_by_sigkill_says_so_with_its_peak_memory(chain, tmp_path, monkeypatch):  # noqa: F811
    hog = "import os, signal; block = bytearray(200 * 2**20); os.kill(os.getpid(), signal.SIGKILL)"
    monkeypatch.setattr("runners.local.process.launch_command", lambda resources, job: [sys.executable, "-c", hog])
    with pytest.raises(StageFailed) as err:
        api.apply(chain, store=tmp_path / "s")
    message = str(err.value)
    assert "killed by SIGKILL" in message and "running out of memory" in message
    peak = float(message.split("peak memory ")[1].split(" GiB")[0])
    assert 0.2 <= peak < 2
    assert "=== failed: killed by SIGKILL" in err.value.tail


@pytest.mark.parametrize(("code", "text"), [(2, "exit 2"), (-15, "killed by SIGTERM"),
                                            (137, "exit 137: a process was killed by SIGKILL; the usual cause")])
def test_exit_reasons_name_the_signal(code, text):
    assert exit_reason(code).startswith(text)


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_wandb_tracking_without_wandb_is_refused_before_any_stage_runs(chain, tmp_path, capsys):  # noqa: F811
    text = chain.read_text() + "tracking: {backend: wandb, project: p}\n"
    chain.write_text(text)
    store = tmp_path / "s"
    assert main(["apply", str(chain), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "tracking.backend: wandb needs the wandb package, which is not installed here" in err
    assert "Traceback" not in err and not (store / "artifacts").exists()
    ctx = StageContext(out=tmp_path / "out", stage_id="sft", recipe="r", tracking={"backend": "wandb"})
    with pytest.raises(StageError, match="pip install wandb"):
        report_to(ctx)  # the same, said by the stage itself on a node that lacks it


@pytest.mark.parametrize("argv", [["status", "--store", "missing-store"], ["schema"]])
def test_a_closed_pipe_ends_the_cli_quietly(argv, tmp_path):
    read, write = os.pipe()
    os.close(read)  # the reader (`head`) has gone before the first byte is written
    proc = subprocess.run([sys.executable, "-m", "sdk.cli", *argv], stdout=write, stderr=subprocess.PIPE,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 141
