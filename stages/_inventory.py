"""Inventory: the list of files a manifest carries, and the checks that a folder still matches it.

A commit on a bucket is not atomic: the mount uploads files in parallel and a folder rename is a
copy per object, so `manifest.json` can reach the bucket before the weights. The manifest therefore
lists every file of the artifact with its size and sha256 (streamed at commit, so a 10 GB shard
costs seconds, not memory), and an artifact counts as committed only when its folder matches it.

Two depths of check: `mismatch` (what `plan` and the apply use) compares every size and hashes the
small files only, so planning stays instant; `mismatch(..., deep=True)` hashes every file, and is
what a stage runs on its inputs before it reads them (stages/_integrity.py) and what `recipe verify`
runs on a whole store. It lives in stages/ because the stage process checks its inputs; the store
(sdk/run/store.py) writes and reads the same lists. Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
BROKEN = "broken.json"
"""Written beside the manifest when a deep check finds a file that differs; the artifact then counts as
not committed (and what was built from it as stale) until an apply rebuilds it."""

HASH_LIMIT = 8 * 2**20
"""Files up to this size (configs, tokenizers, most datasets and reports) are hashed by the quick check too."""

BLOCK = 2**20


def sha256(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The file's sha256, read in 1 MiB blocks (`progress(n)` after each block of n bytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def _hash_all(paths: list[Path], progress: Callable[[int], None] | None = None) -> list[str]:
    """The sha256 of each file, several files at once (hashlib releases the GIL: a sharded model hashes
    at the speed of the disk, not of one core)."""
    if len(paths) < 2:
        return [sha256(p, progress) for p in paths]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1, len(paths))) as pool:
        return list(pool.map(lambda p: sha256(p, progress), paths))


def take(folder: Path, skip: frozenset[str] = frozenset({MANIFEST, BROKEN})) -> dict[str, dict[str, Any]]:
    """Every file under `folder` (relative POSIX path -> size and sha256), except `skip`."""
    paths = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).as_posix() not in skip]
    return {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": digest}
            for p, digest in zip(paths, _hash_all(paths), strict=True)}


BOOKKEEPING = ("job.json", "log.txt", "summary.json", "tensorboard/")
"""Files of a stage's run rather than of its result (paths, timings, logs): left out of the content id."""


def content_id(files: Any) -> str:
    """One id for an artifact's result: the sha256 of its file list (names, sizes, hashes), bookkeeping aside.

    A stage records the id of each input it verified; when the input is rebuilt with other bytes,
    the id differs and what was built from the old one is stale. A rebuild with the same bytes (a
    merge, a dataset) keeps the id, and what was built from it stays valid."""
    if not isinstance(files, dict):
        return ""
    result = {name: entry for name, entry in files.items() if not name.startswith(BOOKKEEPING)}
    return hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()


def mismatch(folder: Path, files: Any, deep: bool = False,
             progress: Callable[[int], None] | None = None) -> str | None:
    """Why `folder` does not match the listed `files` (the first difference), or None when it does.

    `deep` hashes every file (not only those under HASH_LIMIT); `progress(n)` is told the bytes read."""
    if not isinstance(files, dict) or not files:
        return "its manifest lists no files (written before manifests were verified)"
    to_hash: list[str] = []
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != expected.get("size"):
            return f"{name} has {size} bytes, the manifest says {expected.get('size')}"
        if "sha256" in expected and (deep or size <= HASH_LIMIT):
            to_hash.append(name)
        elif progress is not None:
            progress(size)
    for name, digest in zip(to_hash, _hash_all([folder / n for n in to_hash], progress), strict=True):
        if digest != files[name]["sha256"]:
            return f"{name} differs from the manifest (sha256)"
    return None


def listed_bytes(files: Any) -> int:
    """The bytes a deep check of this file list reads."""
    return sum(int(f.get("size", 0)) for f in files.values()) if isinstance(files, dict) else 0


def mark_broken(folder: Path, reason: str, by: str) -> None:
    """Record in the artifact's folder that a deep check failed (`by`: who found it)."""
    import time

    tmp = folder / f".{BROKEN}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"reason": reason, "found_by": by, "time": time.time()}, indent=2))
    os.replace(tmp, folder / BROKEN)


def broken_reason(folder: Path) -> str | None:
    """The recorded failure of a deep check of this artifact, or None."""
    path = folder / BROKEN
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return "marked broken"
    return f"marked broken by {found.get('found_by', 'a check')}: {found.get('reason', '?')}"


def verify(folder: Path, by: str, progress: Callable[[int], None] | None = None) -> str | None:
    """Deep-check a committed artifact's folder against its manifest; mark it broken when a file differs.

    Returns why it is broken (None when every file matches, or when the folder is no stored artifact:
    a local checkpoint or a hub model has no manifest to check against)."""
    if (known := broken_reason(folder)) is not None:
        return known
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        files = json.loads(path.read_text()).get("files")
    except (OSError, ValueError, AttributeError) as err:
        return f"unreadable manifest ({err})"
    reason = mismatch(folder, files, deep=True, progress=progress)
    if reason is not None and isinstance(files, dict) and files:  # a list to check against: the bytes are wrong
        mark_broken(folder, reason, by)
    return reason
