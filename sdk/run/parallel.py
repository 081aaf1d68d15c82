"""parallel: run the selected stages of a plan, each as soon as its inputs are committed, several at once.

`jobs` caps the stages running at one time; `devices` (GPU ids) are handed out so that stages running
together hold disjoint GPUs and their GPUs never add up to more than the machine has (a stage needing
more than the machine has waits until it can hold all of them). A stage that fails does not stop the
others: what depends on it is skipped, everything else runs. With `jobs` 1 stages run here, in the
calling thread, one after another, as they always did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from sdk.plan import Stage
from sdk.run.schedule import Need

Start = Callable[[Stage, list[str]], Any]
"""Runs one stage holding these devices; returns its outcome."""


class Devices:
    """A pool of GPU ids: taken by a stage when it starts, given back when it ends."""

    def __init__(self, ids: Iterable[str]):
        self.all = list(ids)
        self.free = list(self.all)

    def take(self, n: int) -> list[str] | None:
        """n free devices (all of them for a stage needing more than there are), or None: not now."""
        if n <= 0 or not self.all:
            return []
        n = min(n, len(self.all))
        if len(self.free) < n:
            return None
        got, self.free = self.free[:n], self.free[n:]
        return got

    def give(self, ids: list[str]) -> None:
        self.free = [d for d in self.all if d in ids or d in self.free]


class _Inline:
    """A ThreadPoolExecutor look-alike that runs each call at once in this thread (jobs == 1)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # noqa: BLE001 - handed to the caller through the future
            if not isinstance(err, Exception):
                raise
            future.set_exception(err)
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


def run_all(stages: list[Stage], start: Start, done: Callable[[Stage, Any], bool], *, jobs: int = 1,
            devices: Iterable[str] = (), need: Need = lambda _: 0,
            skipped: Callable[[Stage], Any] = lambda s: None) -> None:
    """Start every stage whose selected inputs succeeded; `done(stage, outcome)` says whether it succeeded
    (and records it); a stage whose input did not succeed gets `skipped(stage)` instead."""
    selected = {s.id for s in stages}
    pool = Devices(devices)
    ok: set[str] = set()
    ended: set[str] = set()
    waiting = list(stages)
    running: dict[Future[Any], tuple[Stage, list[str]]] = {}
    launcher: Any = _Inline() if jobs <= 1 else ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stage")
    try:
        while waiting or running:
            for stage in list(waiting):
                deps = {d for d in stage.needs if d in selected}
                if deps & (ended - ok):
                    waiting.remove(stage)
                    ended.add(stage.id)
                    skipped(stage)
                elif deps <= ok and len(running) < max(jobs, 1):
                    held = pool.take(need(stage))
                    if held is not None:
                        waiting.remove(stage)
                        running[launcher.submit(start, stage, held)] = (stage, held)
            if not running:
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                stage, held = running.pop(future)
                pool.give(held)
                ended.add(stage.id)
                if done(stage, future.result()):
                    ok.add(stage.id)
    finally:
        launcher.shutdown(wait=True)


class SerialDisplay:
    """A Display whose calls from several stage threads take turns (its counters and live bars are shared)."""

    def __init__(self, display: Any):
        self._display = display
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._display, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)
        return locked
