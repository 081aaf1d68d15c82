"""status of a plan against the store: each stage cached, new, or changed (and which fields changed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sdk.plan import Plan, Stage
from sdk.run.store import Store

State = Literal["cached", "new", "changed", "forced"]


@dataclass(frozen=True)
class StageStatus:
    stage: Stage
    state: State
    changes: list[str] = field(default_factory=list)
    """For `changed`: dotted params that differ from the last apply, `input <slot>`, or `code version`."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.stage.id, "kind": self.stage.kind, "fingerprint": self.stage.fingerprint,
                "inputs": dict(self.stage.inputs), "state": self.state, "changes": self.changes}


def plan_status(plan: Plan, store: Store) -> list[StageStatus]:
    """Compare every stage of `plan` with the store and the plan last applied under the same name."""
    last = store.last_applied(plan.name)
    out = []
    for stage in plan.stages:
        if all(store.has(key) for key in stage.keys):
            out.append(StageStatus(stage, "cached"))
        elif reason := store.broken(stage.key):
            state: State = "changed" if stage.id in last else "new"
            out.append(StageStatus(stage, state, [f"stored artifact does not verify ({reason}); it is redone"]))
        elif stage.id in last:
            out.append(StageStatus(stage, "changed", _changes(last[stage.id], stage)))
        else:
            out.append(StageStatus(stage, "new"))
    return out


def remembered(stage: Stage) -> dict[str, Any]:
    """What the store keeps of an applied stage to explain later changes."""
    return {"fingerprint": stage.fingerprint, "kind": stage.kind, **stage.payload}


def _changes(before: dict[str, Any], stage: Stage) -> list[str]:
    now = stage.payload
    if before.get("kind") != stage.kind:
        return [f"kind {before.get('kind')} -> {stage.kind}"]
    old, new = _flat(before.get("params", {})), _flat(now["params"])
    changes = [f"{k}: {old.get(k, '-')} -> {new.get(k, '-')}" for k in sorted(old.keys() | new.keys())
               if old.get(k) != new.get(k)]
    if before.get("version") != now["version"]:
        changes.append(f"code version {before.get('version')} -> {now['version']}")
    old_in, new_in = before.get("inputs", {}), now["inputs"]
    changes += [f"input {slot} changed" for slot in sorted(old_in.keys() | new_in.keys())
                if old_in.get(slot) != new_in.get(slot)]
    return changes or ["store entry missing"]


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        return {k: v for key, val in obj.items() for k, v in _flat(val, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): obj}
