"""ProcessLauncher: run a stage as a child process, stream its output into the log and the display.

The child dies with the apply (Linux parent-death signal), so a killed apply never leaves an
orphan writing into a work folder that the next apply resumes from.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
from pathlib import Path

from runners.local.launch import launch_command
from sdk.plan import Stage
from sdk.run.display import Display
from stages import PROGRESS_PREFIX

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class ProcessLauncher:
    """Starts each stage as a process on this machine (the local runner's stage launcher)."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = env
        self.peak_memory: int | None = None
        """Peak resident memory in bytes of the last stage's process tree (as far as it reaped its children)."""

    def on_devices(self, devices: list[str]) -> ProcessLauncher:
        """A copy for one stage (its own `peak_memory` when stages run together), pinned to `devices`."""
        env = dict(self.env or {})
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        return ProcessLauncher(env or None)

    def launch(self, stage: Stage, job: Path, log: Path, display: Display) -> int:
        cmd = launch_command(stage.spec.resources, job)
        env = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        with open(log, "a") as out:
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                                    bufsize=1, preexec_fn=_die_with_parent, errors="replace")
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    if line.startswith(PROGRESS_PREFIX):
                        try:
                            display.progress(stage, json.loads(line[len(PROGRESS_PREFIX):]))
                        except (json.JSONDecodeError, KeyError):
                            pass
                        continue
                    out.write(line)
                    out.flush()
                return self._reap(proc)
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                out.write("=== interrupted (Ctrl-C) ===\n")
                raise

    def _reap(self, proc: subprocess.Popen[str]) -> int:
        """Wait for the process with wait4, which also tells its peak memory (ru_maxrss, KiB on Linux)."""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.peak_memory = usage.ru_maxrss * 1024 or None
        return proc.returncode
