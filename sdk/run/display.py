"""Display: what `apply` shows while stages run (live rich progress on a terminal, plain lines otherwise)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from sdk.plan import Plan, Stage


def interactive() -> bool:
    """Whether a person is likely watching: a terminal, a REPL or a notebook, and not a test run."""
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    if hasattr(sys, "ps1") or sys.flags.interactive or "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


class Display:
    """Progress for an apply; `quiet` prints nothing (SDK use), `live` redraws bars on a terminal."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.quiet = quiet
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_print: dict[str, float] = {}
        self._count = 0
        self._total = 0

    def _say(self, text: str) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, markup=False)
        else:
            print(text, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """One line of news that is not about a stage (a cloud job launched, or ended)."""
        self._say(text)

    def begin(self, plan: Plan, ids: list[str], store: str) -> None:
        self._total = len(ids)
        self._say(f"apply {plan.name}: {len(ids)} stage(s), store {store}")
        if self.live and not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=False,
            )
            self._progress.start()

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def cached(self, stage: Stage) -> None:
        self._count += 1
        self._say(f"[{self._count}/{self._total}] {stage.id} ({stage.kind}): cached {stage.key}")

    def redo(self, stage: Stage, reason: str) -> None:
        self._say(f"{stage.id}: the stored artifact {stage.key} does not verify ({reason}); redoing it")

    def waiting(self, stage: Stage) -> None:
        self._say(f"{stage.id}: another apply is running this stage; waiting for it")

    def start(self, stage: Stage, resumed: bool) -> None:
        self._count += 1
        note = " (resuming an interrupted attempt)" if resumed else ""
        if self._progress is not None:
            from rich.markup import escape

            self._tasks[stage.id] = self._progress.add_task(escape(f"{stage.id} ({stage.kind})"), total=None,
                                                            info=note)
        else:
            self._say(f"[{self._count}/{self._total}] {stage.id} ({stage.kind}): running{note}")
        self._last_print[stage.id] = time.time()

    def progress(self, stage: Stage, event: dict[str, Any]) -> None:
        done, total, desc = event.get("done", 0), event.get("total"), event.get("desc", "")
        metrics = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in event.items() if k not in ("done", "total", "desc"))
        if self._progress is not None:
            self._progress.update(self._tasks[stage.id], completed=done, total=total,
                                  info=f"{desc} {metrics}".strip())
        elif time.time() - self._last_print.get(stage.id, 0) > 10 or (total and done == total):
            self._last_print[stage.id] = time.time()
            self._say(f"    {stage.id}: {desc} {done}/{total or '?'} {metrics}".rstrip())

    def done(self, stage: Stage, seconds: float, summary: dict[str, Any]) -> None:
        brief = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in list(summary.items())[:4] if not isinstance(v, (dict, list)))
        if self._progress is not None:
            task = self._tasks[stage.id]
            total = self._progress.tasks[task].total or 1
            self._progress.update(task, completed=total, total=total, info=f"done {brief}")
        else:
            self._say(f"    {stage.id}: done in {seconds:.1f}s {brief}".rstrip())

    def failed(self, stage: Stage, tail: str, log: str) -> None:
        self.end()
        self._say(f"{stage.id} ({stage.kind}) failed. Last lines of its log:\n{tail.rstrip()}\nfull log: {log}")
