"""status: a store read as a history: what each recipe built, in plan order, and how each apply went.

    store runs: 7 artifacts, 2 applies
    pipeline-tiny
      stage    kind      output   key           built                took
      base     model     model    3f2a9c1d0e4b  2026-11-29 22:10:03  0.4s
      ...
    applies
      2026-11-29 22:15:00  pipeline-tiny  failed  5.2s  2 cached, 1 failed, 4 skipped
          sft (sft) failed: exit 1: RuntimeError: ...   log: runs/work/.../log.txt
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from typing import Any

STATES = ("ran", "cached", "failed", "skipped")


def when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "?"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def store_lines(info: dict[str, Any], last: int = 10) -> list[str]:
    """The whole store: each recipe's artifacts in plan order, then the last applies, oldest first."""
    runs, artifacts = info["runs"], info["artifacts"]
    states = [apply_state(r) for r in runs]
    unfinished = ", ".join(f"{states.count(s)} {s}" for s in ("running", "interrupted") if s in states)
    lines = [f"store {info['store']}: {len(artifacts)} artifacts, {len(runs)} applies"
             + (f" ({unfinished})" if unfinished else "")]
    by_recipe: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for manifest in artifacts:
        by_recipe[manifest.get("recipe", "?")].append(manifest)
    for recipe, manifests in sorted(by_recipe.items()):
        order = plan_order(recipe, runs)
        manifests.sort(key=lambda m: (order.get(m["stage"], len(order)), m.get("timings", {}).get("started", 0)))
        lines += ["", recipe, *_table([_artifact_row(m) for m in manifests], ARTIFACT_HEAD)]
    return lines + apply_lines(runs, last)


def plan_order(recipe: str, runs: list[dict[str, Any]]) -> dict[str, int]:
    """Stage id -> position, from the applies of `recipe` (the latest plan's order wins)."""
    order: dict[str, int] = {}
    for run in sorted((r for r in runs if r.get("recipe") == recipe), key=lambda r: r.get("started", 0),
                      reverse=True):
        for stage in run.get("stages", []):
            order.setdefault(stage["id"], len(order))
    return order


def recipe_lines(plan: Any, statuses: list[Any], info: dict[str, Any], last: int = 10) -> list[str]:
    """One recipe: each stage of its plan, in order, as built (when, how long) or not, then its applies."""
    built = {m["key"]: m for m in info["artifacts"]}
    rows = []
    for status in statuses:
        stage = status.stage
        manifest = built.get(stage.key, {})
        timings = manifest.get("timings", {})
        state = {"cached": "built", "new": "not built"}.get(status.state, status.state)
        if status.changes:
            state += ": " + "; ".join(status.changes)
        rows.append([stage.id, stage.kind, stage.key[:12], when(timings.get("started")) if manifest else "",
                     duration(timings.get("seconds")) if manifest else "", state])
    todo = sum(s.state != "cached" for s in statuses)
    lines = [f"{plan.name}: {len(statuses) - todo} of {len(statuses)} stages built in {info['store']}",
             *_table(rows, ("stage", "kind", "key", "built", "took", "state"))]
    return lines + apply_lines([r for r in info["runs"] if r.get("recipe") == plan.name], last)


ARTIFACT_HEAD = ("stage", "kind", "output", "key", "built", "took")


def _artifact_row(m: dict[str, Any]) -> list[str]:
    timings = m.get("timings", {})
    took = duration(timings.get("seconds")) + (" (resumed)" if timings.get("resumed") else "")
    return [m.get("stage", "?"), m.get("kind", "?"), m.get("artifact", "?"), m.get("key", "?")[:12],
            when(timings.get("started")), took]


def apply_state(run: dict[str, Any]) -> str:
    """`ok` / `failed` for a finished apply; for one with no end, `running` while its process lives on this
    host, else `interrupted` (killed, or its machine went away)."""
    if run.get("finished") is not None:
        return "failed" if any(s.get("state") == "failed" for s in run.get("stages", [])) else "ok"
    if run.get("host") == socket.gethostname() and _alive(run.get("pid")):
        return "running"
    return "interrupted"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _unfinished_note(run: dict[str, Any], state: str) -> list[str]:
    """Which stages a running apply is in (since when), or where an interrupted one stopped."""
    current = run.get("current") or {}
    if state == "running":
        return [f"      running {sid} since {when(t)}" for sid, t in current.items()] or ["      between stages"]
    last = max(current.items(), key=lambda kv: kv[1], default=None)
    where = f"in {last[0]} (started {when(last[1])})" if last else "between stages"
    return [f"      stopped {where}; last heard of {when(run.get('updated'))}; apply again to go on"]


def apply_lines(runs: list[dict[str, Any]], last: int) -> list[str]:
    """The last `last` applies, oldest first: start, recipe, outcome, duration, counts; a failure says where and why."""
    if not runs:
        return []
    shown = sorted(runs, key=lambda r: r.get("started", 0))[-last:]
    lines = ["", f"applies (last {len(shown)} of {len(runs)}, oldest first)" if len(runs) > last else "applies"]
    rows, notes = [], {}
    for run in shown:
        stages = run.get("stages", [])
        states = [s.get("state") for s in stages]
        outcome = apply_state(run)
        counts = ", ".join(f"{states.count(k)} {k}" for k in STATES if k in states) or (
            "nothing to run" if run.get("finished") is not None else "no stage ended yet")
        end = run.get("finished") or (time.time() if outcome == "running" else run.get("updated"))
        took = end - run["started"] if end and run.get("started") else None
        rows.append([when(run.get("started")), run.get("recipe", "?"), outcome, duration(took), counts])
        notes[len(rows) - 1] = [_failure(s) for s in stages if s.get("state") == "failed"]
        if outcome in ("running", "interrupted"):
            notes[len(rows) - 1] += _unfinished_note(run, outcome)
    for i, line in enumerate(_table(rows, None)):
        lines.append(line)
        lines += notes.get(i, [])
    return lines


def _failure(stage: dict[str, Any]) -> str:
    kind = f" ({stage['kind']})" if stage.get("kind") else ""
    why = stage.get("reason") or "see its log"
    log = f"; log: {stage['path']}" if stage.get("path") else ""
    return f"      {stage['id']}{kind} failed after {duration(stage.get('seconds'))}: {why}{log}"


def _table(rows: list[list[str]], head: tuple[str, ...] | None) -> list[str]:
    """Rows as aligned columns, indented under their heading."""
    every = ([list(head)] if head else []) + rows
    if not every:
        return []
    widths = [max(len(r[i]) for r in every) for i in range(len(every[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in every]
