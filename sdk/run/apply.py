"""apply: run the stages of a plan that the store does not have yet, through a runner.

Per stage: take its lock, look again (another apply may have finished it meanwhile), run it in its
work folder, then commit it with a manifest. Stages start as soon as their inputs are committed,
up to `jobs` at once (sdk/run/parallel.py). A failure stops what depends on the failed stage; every
other branch runs on, everything finished stays committed, and the failed stage's work folder
(log, checkpoints) is kept for the next attempt to resume from.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from sdk.args import as_strings
from sdk.errors import Problem, RecipeError, StageFailed, did_you_mean, exit_reason
from sdk.plan import Plan, Stage
from sdk.run.diff import StageStatus, plan_status, remembered
from sdk.run.display import Display
from sdk.run.parallel import SerialDisplay, run_all
from sdk.run.schedule import Need
from sdk.run.store import Store, write_json

TRACKED_PACKAGES = ("recipe", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "vllm")


class StageLauncher(Protocol):
    """Runs one stage's process to completion and returns its exit code (negative: killed by that signal).

    A launcher that knows the process's peak memory in bytes exposes it as `peak_memory` after the call.
    """

    def launch(self, stage: Stage, job: Path, log: Path, display: Display) -> int: ...



@dataclass
class StageOutcome:
    id: str
    state: str
    """cached | ran | failed | skipped"""
    seconds: float = 0.0
    path: str | None = None
    """The artifact folder; for a failed stage, its log."""
    summary: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    reason: str | None = None
    """Why a failed stage failed: how its process ended and the error it printed last."""


@dataclass
class ApplyResult:
    """What an apply did: each stage's outcome here; for a dry run what it would do and the files it
    wrote; for a cloud launch the job it submitted."""

    plan: Plan
    outcomes: list[StageOutcome]
    runner: str = "local"
    dry_run: bool = False
    preview: list[StageStatus] = field(default_factory=list)
    """Dry run: the stages it would consider, each cached, new, changed or forced (local runner)."""
    files: list[Path] = field(default_factory=list)
    """Files a dry run wrote (the cloud runner's task YAML), under the store unless `out` was given."""
    estimate: Any = None
    """Cloud runner: tasks, machines and cost (`runners.skypilot.pricing.Estimate`)."""
    launched: Any = None
    """Cloud runner, not a dry run: the job it submitted (`runners.skypilot.Launched`)."""

    def __getitem__(self, stage_id: str) -> StageOutcome:
        for outcome in self.outcomes:
            if outcome.id == stage_id:
                return outcome
        raise KeyError(f"no stage {stage_id!r} in this apply (it had: {', '.join(o.id for o in self.outcomes)})")

    @property
    def ok(self) -> bool:
        return all(o.state in ("cached", "ran") for o in self.outcomes)


def select(plan: Plan, store: Store, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
           force: tuple[str, ...] = ()) -> list[Stage]:
    """The stages this apply will consider, checking that every named stage exists."""
    only, until, force = stage_names(plan, only), stage_names(plan, until), stage_names(plan, force)
    if only:
        for sid in only:
            for slot, ref in plan[sid].inputs:
                dep = plan.producer(ref).id
                if dep not in only and not store.has(plan.key_of(ref)):
                    raise RecipeError(f"--only {sid}: its input {slot} ({ref!r}) is not in the store yet; "
                                      f"run `recipe apply --until {dep}` first")
        wanted = set(only)
    elif until:
        wanted = set(until).union(*(plan.ancestors(s) for s in until))
    else:
        wanted = set(plan.ids)
    return [s for s in plan.stages if s.id in wanted]


def stage_names(plan: Plan, names: tuple[str, ...]) -> tuple[str, ...]:
    """`--only/--until/--force` names as stage ids (a fanned-out stage's name means all its branches)."""
    try:
        return plan.named(as_strings(names, "stage names"))
    except KeyError as err:
        name = err.args[0]
        names = list(dict.fromkeys([*plan.ids, *(i.split("[")[0] for i in plan.ids)]))
        hint = did_you_mean(name, names)
        raise RecipeError(f"no stage named {name!r} in this plan ({hint + '; ' if hint else ''}stages: "
                          f"{', '.join(plan.ids)})") from None


def preview(plan: Plan, store: Store, *, only: tuple[str, ...] = (), until: tuple[str, ...] = (),
            force: tuple[str, ...] = ()) -> list[StageStatus]:
    """What `apply_plan` with the same arguments would do, stage by stage, running nothing
    (`apply --dry-run`): the stages it would consider, each cached, new, changed, or forced."""
    stages = {s.id for s in select(plan, store, only, until, force)}
    force = stage_names(plan, force)
    out = []
    for status in plan_status(plan, store):
        if status.stage.id in stages:
            forced = status.state == "cached" and not _cached(store, status.stage, force)
            out.append(StageStatus(status.stage, "forced") if forced else status)
    return out


def _cached(store: Store, stage: Stage, force: tuple[str, ...]) -> bool:
    """Whether apply takes the stage from the store rather than running it (the one rule both use)."""
    return stored(store, stage) and stage.id not in force


def stored(store: Store, stage: Stage) -> bool:
    """Whether the store holds everything the stage makes (its main artifact and every named output)."""
    return all(store.has(key) for key in stage.keys)


def apply_plan(plan: Plan, store: Store, launcher: StageLauncher, display: Display, *, only: tuple[str, ...] = (),
               until: tuple[str, ...] = (), force: tuple[str, ...] = (), jobs: int = 1,
               devices: Iterable[str] = (), need: Need = lambda _: 0) -> ApplyResult:
    """Run what is not cached, up to `jobs` stages at once (on disjoint `devices`, `need` GPUs each).

    A failing stage stops only what depends on it; when every other stage has ended, the first
    failure is raised (StageFailed, its `.outcomes` every stage's outcome)."""
    stages = select(plan, store, only, until, force)
    force = stage_names(plan, force)
    if not all(_cached(store, s, force) for s in stages):
        check_tracking(plan.tracking)
    outcomes: dict[str, StageOutcome] = {}
    failures: list[StageFailed] = []
    started = time.time()
    shown: Any = SerialDisplay(display) if jobs > 1 else display
    display.begin(plan, [s.id for s in stages], str(store.root))
    _sweep(store, display)
    progress = _Progress(store, plan, started)  # `recipe status` sees a running apply, or where a killed one stopped

    def start(stage: Stage, held: list[str]) -> StageOutcome:
        progress.running(stage.id)
        if _cached(store, stage, force):
            shown.cached(stage)
            return StageOutcome(stage.id, "cached", path=str(store.artifact_dir(stage.key)), kind=stage.kind)
        try:
            return _run_stage(plan, stage, store, _on_devices(launcher, held), shown, stage.id in force)
        except StageFailed as failed:
            failures.append(failed)
            return StageOutcome(failed.stage_id, "failed", getattr(failed, "seconds", 0.0), failed.log,
                                kind=stage.kind, reason=failure_reason(failed))

    def done(stage: Stage, outcome: StageOutcome) -> bool:
        outcomes[stage.id] = outcome
        progress.ended(stage.id, outcome)
        if outcome.state == "failed":
            return False
        store.remember(plan.name, {stage.id: remembered(stage)})
        return True

    def skipped(stage: Stage) -> None:
        outcomes[stage.id] = StageOutcome(stage.id, "skipped", kind=stage.kind)

    try:
        run_all(stages, start, done, jobs=jobs, devices=devices, need=need, skipped=skipped)
        ordered = [outcomes[s.id] for s in stages if s.id in outcomes]
        if failures:
            failures[0].outcomes = ordered
            for other in failures[1:]:
                failures[0].add_note(f"also failed: {other}")
            raise failures[0]
    finally:
        display.end()
        ordered = [outcomes[s.id] for s in stages if s.id in outcomes]
        ordered += [StageOutcome(s.id, "skipped", kind=s.kind) for s in stages if s.id not in outcomes]
        _record(store, plan, {"recipe": plan.name, "started": started, "finished": time.time(),
                              "stages": [o.__dict__ for o in ordered]}, failing=sys.exc_info()[1])
    return ApplyResult(plan, ordered)


def _on_devices(launcher: StageLauncher, held: list[str]) -> StageLauncher:
    """The launcher for one stage: its own copy pinned to the devices it holds, when it can be pinned."""
    on_devices = getattr(launcher, "on_devices", None)
    return on_devices(held) if on_devices is not None else launcher


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b")


def failure_reason(failed: StageFailed) -> str:
    """How the stage's process ended, and the last error it printed (`error: ...` or an exception line)."""
    lines = [line.strip() for line in (failed.tail or "").splitlines()]
    lines = [line for line in lines if line and not line.startswith(("===", "$ "))]
    said = next((line for line in reversed(lines) if line.startswith("error: ")), None)
    said = said or next((line for line in reversed(lines) if _EXCEPTION_LINE.match(line)), None)
    if said is None:
        return failed.reason
    said = re.sub(r"^error: (stage '[^']*': )?", "", said)
    return f"{failed.reason}: {said}"


WANDB_MISSING = ("wandb needs the wandb package, which is not installed here "
                 "(pip install wandb, or set tracking.backend: tensorboard)")


def check_tracking(tracking: dict[str, Any]) -> None:
    """Refuse before any stage starts rather than let a trainer die on a missing import."""
    if tracking.get("backend") == "wandb" and importlib.util.find_spec("wandb") is None:
        raise RecipeError(Problem(WANDB_MISSING, path="tracking.backend"))


def _sweep(store: Store, display: Display) -> None:
    """Clear what killed applies left in the store (`Store.sweep`), saying what it freed."""
    try:
        freed = store.sweep()
    except OSError as err:
        display.note(f"could not clear stale work folders: {err}")
        return
    if freed:
        total = sum(size for _, size in freed) / 1e6
        display.note(f"removed {len(freed)} stale folder(s) of killed runs, {total:,.1f} MB: "
                     + ", ".join(path for path, _ in freed))


class _Progress:
    """The apply's history record while it runs: written at the start and at every stage's start and end
    (the same file the finished record replaces), with this process's id, so `recipe status` tells a
    running apply from one that was killed, and where it was. Best effort: a store that cannot be
    written to here fails the final record, not the run."""

    def __init__(self, store: Store, plan: Plan, started: float) -> None:
        self.store, self.plan = store, plan
        self.record: dict[str, Any] = {"recipe": plan.name, "started": started, "pid": os.getpid(),
                                       "host": socket.gethostname(), "current": {}, "stages": []}
        self.lock = threading.Lock()
        self._write()

    def running(self, stage_id: str) -> None:
        with self.lock:
            self.record["current"][stage_id] = time.time()
            self._write()

    def ended(self, stage_id: str, outcome: StageOutcome) -> None:
        with self.lock:
            self.record["current"].pop(stage_id, None)
            self.record["stages"].append(dict(outcome.__dict__))
            self._write()

    def _write(self) -> None:
        try:
            self.store.record_run(self.plan.name, {**self.record, "updated": time.time()})
        except OSError:
            pass


def _record(store: Store, plan: Plan, record: dict[str, Any], failing: BaseException | None) -> None:
    """Write the apply's history record; when the apply is already failing, that failure is the one
    reported (a full or unwritable store would otherwise replace it with an error about `history/`)."""
    try:
        store.record_run(plan.name, record)
    except OSError as err:
        if failing is None:
            raise
        failing.add_note(f"also, the apply record could not be written: {err}")


def _run_stage(plan: Plan, stage: Stage, store: Store, launcher: StageLauncher, display: Display,
               forced: bool) -> StageOutcome:
    with store.lock(stage.key, on_wait=lambda: display.waiting(stage)):
        if stored(store, stage) and not forced:
            display.cached(stage)
            return StageOutcome(stage.id, "cached", path=str(store.artifact_dir(stage.key)), kind=stage.kind)
        if reason := store.broken(stage.key):
            display.redo(stage, reason)
        work, resumed = store.begin(stage.key)
        input_keys = list(dict.fromkeys(plan.key_of(ref) for _, ref in stage.inputs))
        built_from = {key: store.content_id(key) for key in input_keys}  # what the stage verifies and reads
        job = {
            "spec": stage.spec.model_dump(mode="json"),
            "inputs": {slot: store.artifact(plan.key_of(ref)).model_dump() for slot, ref in stage.inputs},
            "out": str(work.resolve()),
            "checkpoints": str(store.checkpoint_dir(stage.key).resolve()),
            "recipe": plan.name,
            "tracking": plan.tracking,
        }
        write_json(work / "job.json", job)
        log = work / "log.txt"
        with open(log, "a") as fh:
            fh.write(f"=== {stage.id} ({stage.kind}) {time.strftime('%Y-%m-%d %H:%M:%S')}"
                     f"{' resumed' if resumed else ''} ===\n")
        t0 = time.time()
        display.start(stage, resumed)
        code = launcher.launch(stage, work / "job.json", log, display)
        seconds = time.time() - t0
        if code != 0:
            peak = getattr(launcher, "peak_memory", None)
            with open(log, "a") as fh:
                fh.write(f"=== failed: {exit_reason(code, peak)} ===\n")
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
            display.failed(stage, tail, str(log))
            failed = StageFailed(stage.id, code, str(log), tail, peak)
            failed.seconds = seconds
            raise failed
        summary_file = work / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        manifest = {**_manifest(plan, stage, summary, t0, seconds, resumed), "input_content": built_from}
        _commit_outputs(store, stage, work, manifest)
        final = store.commit(stage.key, manifest)  # last: its manifest is what makes the stage done
        display.done(stage, seconds, summary)
        return StageOutcome(stage.id, "ran", seconds, str(final), summary, kind=stage.kind)


def _commit_outputs(store: Store, stage: Stage, work: Path, manifest: dict[str, Any]) -> None:
    """Commit each named output (`work/<name>/`) as an artifact of its own, keyed by its fingerprint."""
    for out in stage.outputs:
        folder = work / out.name
        if not folder.is_dir():
            raise StageFailed(stage.id, 1, str(work / "log.txt"), f"the stage wrote no {out.name!r} output "
                              f"(expected the folder {folder})")
        store.commit(out.key, {**manifest, "fingerprint": out.fingerprint, "key": out.key,
                               "stage": f"{stage.id}.{out.name}", "artifact": out.type,
                               "output_of": {"stage": stage.id, "fingerprint": stage.fingerprint,
                                             "output": out.name}}, source=folder)


def _manifest(plan: Plan, stage: Stage, summary: dict[str, Any], t0: float, seconds: float,
              resumed: bool) -> dict[str, Any]:
    return {
        "fingerprint": stage.fingerprint,
        "key": stage.key,
        "stage": stage.id,
        "recipe": plan.name,
        "kind": stage.kind,
        "artifact": stage.spec.OUTPUT,
        **({"outputs": {o.name: o.key for o in stage.outputs}} if stage.outputs else {}),
        **{k: stage.payload[k] for k in ("version", "params", "inputs")},
        "summary": summary,
        "resources": stage.spec.resources.model_dump(exclude_defaults=True),
        "versions": _versions(),
        "timings": {"started": t0, "seconds": round(seconds, 3), "resumed": resumed},
        "host": {"hostname": socket.gethostname(), "platform": platform.platform(), "python": sys.version.split()[0]},
    }


def _versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
