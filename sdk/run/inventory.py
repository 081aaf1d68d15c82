"""Inventory: the list of files a manifest carries, and the check that a folder still matches it.

A commit on a bucket is not atomic: the mount uploads files in parallel and a folder rename is a
copy per object, so `manifest.json` can reach the bucket before the weights. The manifest therefore
lists every file of the artifact with its size (and a sha256 for files small enough to hash
cheaply), and an artifact counts as committed only when its folder matches that list.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

HASH_LIMIT = 8 * 2**20
"""Files up to this size (configs, tokenizers, most datasets and reports) also get a sha256."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def take(folder: Path, skip: frozenset[str] = frozenset({"manifest.json"})) -> dict[str, dict[str, Any]]:
    """Every file under `folder` (relative POSIX path -> size, and sha256 when cheap), except `skip`."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if not path.is_file() or name in skip:
            continue
        size = path.stat().st_size
        files[name] = {"size": size, **({"sha256": sha256(path)} if size <= HASH_LIMIT else {})}
    return files


def mismatch(folder: Path, files: Any) -> str | None:
    """Why `folder` does not match the listed `files` (the first difference), or None when it does."""
    if not isinstance(files, dict) or not files:
        return "its manifest lists no files (written before manifests were verified)"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != expected.get("size"):
            return f"{name} has {size} bytes, the manifest says {expected.get('size')}"
        if "sha256" in expected and sha256(path) != expected["sha256"]:
            return f"{name} differs from the manifest (sha256)"
    return None
