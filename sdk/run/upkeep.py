"""Store upkeep: `recipe verify` hashes every file of the stored artifacts against their manifests, and
`recipe gc` removes what no given recipe uses any more.

Verification is the deep check a stage already runs on its own inputs, done for a whole store (or one
recipe's artifacts) at once: a file whose bytes differ marks its artifact broken, and the next apply
rebuilds it and what was built from it. Collection keeps every artifact a stage of the given recipes
makes; everything else under `artifacts/`, and every work or checkpoint folder no live apply holds
whose stage is committed or in none of the plans, is removed, with the bytes freed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sdk.errors import StoreError
from sdk.plan import Plan
from sdk.run.store import MANIFEST, Store
from stages import inventory


@dataclass(frozen=True)
class Verified:
    """One artifact's deep check: its key, the stage that made it, the bytes read, and why it is broken."""

    key: str
    stage: str
    bytes: int
    broken: str | None


def stored_keys(store: Store, plans: Iterable[Plan] = ()) -> list[str]:
    """The artifacts with a manifest in the store: all of them, or those the plans' stages make."""
    folder = store.root / "artifacts"
    present = sorted(p.name for p in folder.iterdir() if (p / MANIFEST).is_file()) if folder.is_dir() else []
    plans = list(plans)
    if not plans:
        return present
    wanted = {key for plan in plans for stage in plan.stages for key in stage.keys}
    return [key for key in present if key in wanted]


def verify(store: Store, keys: list[str], progress: Callable[[int], None] | None = None) -> list[Verified]:
    """Deep-check each artifact (`progress(n)` after each block of n bytes read); broken ones are marked."""
    found = []
    for key in keys:
        manifest = _manifest(store, key)
        files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
        found.append(Verified(key, str(manifest.get("stage", key[:12])), inventory.listed_bytes(files),
                              store.verify(key, progress)))
    return found


@dataclass(frozen=True)
class Garbage:
    """A folder `gc` removes: its path in the store, its size, and why it goes."""

    path: Path
    bytes: int
    why: str


def garbage(store: Store, plans: list[Plan]) -> list[Garbage]:
    """What `gc` would remove from the store, keeping everything the plans' stages make."""
    if held := [p.stem for p in (store.root / "locks").glob("*.lock") if not store.lock_free(p.stem)]:
        raise StoreError(f"{store.root}: an apply is running on this store (it holds the lock of stage "
                         f"{held[0][:12]}); run gc once it has ended")
    wanted = {key for plan in plans for stage in plan.stages for key in stage.keys}
    found: list[Garbage] = []
    for sub, why in (("artifacts", "no given recipe makes it"), ("work", "unfinished work of a stage in no plan"),
                     ("checkpoints", "checkpoints of a stage in no plan")):
        folder = store.root / sub
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            key = path.name.split(".replaced.")[0]
            if key in wanted and path.name == key:
                if sub == "artifacts" or not store.has(key):
                    continue  # kept: a planned artifact, or the work a later apply resumes from
                why_here = "left over: its stage is committed"
            else:
                why_here = why if path.name == key else "left by an interrupted commit"
            found.append(Garbage(path, _size(path), why_here))
    return found


def collect(found: list[Garbage]) -> int:
    """Remove what `garbage` listed; the bytes freed."""
    freed = 0
    for item in found:
        if item.path.is_symlink() or item.path.is_file():
            item.path.unlink()
        else:
            shutil.rmtree(item.path, ignore_errors=True)
        freed += item.bytes
    return freed


def _manifest(store: Store, key: str) -> dict:
    try:
        return store.manifest(key)
    except StoreError:
        return {}


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
