"""Store: a folder of committed stage outputs, each named by its fingerprint, plus run records.

    runs/
      artifacts/<key>/   committed: manifest.json (written last, lists every file), model/ | data.jsonl | ...
      work/<key>/        an attempt in progress (kept across attempts)
      checkpoints/<key>/ the trainer checkpoints of an attempt; deleted once its commit verifies
      locks/<key>.lock   held by the apply running that stage
      recipes/<name>.json  the last plan applied per recipe (what "changed" is measured against)
      history/<time>-<name>.json  one record per apply

A stage becomes visible by the rename of its finished work folder, then its manifest, written
last. The manifest lists every file with its size and sha256 (stages/_inventory.py) and an artifact
counts only when its folder matches it, so neither a crash nor a bucket that uploads the manifest
before the weights shows a finished artifact that is not. The quick check here compares sizes and
hashes the small files; a stage hashes every file of its inputs before reading them, and marks an
input whose bytes differ broken (`broken.json`). A manifest also records the content id of each input
the stage verified: an artifact built from an input that is now broken, or that was rebuilt with other
bytes since, is stale, and the next apply rebuilds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from schemas import Artifact
from sdk.errors import StoreError
from stages import inventory

MANIFEST = inventory.MANIFEST
ABSENT = "no manifest"


class Store:
    """The artifact store at `root` (created on first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._verified: set[str] = set()

    def artifact_dir(self, key: str) -> Path:
        return self.root / "artifacts" / key

    def work_dir(self, key: str) -> Path:
        return self.root / "work" / key

    def checkpoint_dir(self, key: str) -> Path:
        return self.root / "checkpoints" / key

    def has(self, key: str) -> bool:
        """Whether the stage is committed: its manifest reads and its files match the manifest's list."""
        return self.check(key) is None

    def check(self, key: str) -> str | None:
        """None when committed; else why not (`ABSENT`, a file that fails the quick check, a deep check's
        broken mark, or an input it was built from that is broken or was rebuilt since)."""
        if key in self._verified:
            return None
        folder = self.artifact_dir(key)
        if not (folder / MANIFEST).is_file():
            return ABSENT
        try:
            manifest = self.manifest(key)
        except StoreError as err:
            return str(err)
        reason = (inventory.broken_reason(folder) or inventory.mismatch(folder, manifest.get("files"))
                  or self._stale_input(manifest))
        if reason is None:
            self._verified.add(key)
        return reason

    def _stale_input(self, manifest: dict[str, Any]) -> str | None:
        """Why an input this artifact was built from no longer holds what it was built from, or None.

        An input that is gone (collected, or never stored: a hub model) does not make it stale."""
        for key, built_from in (manifest.get("input_content") or {}).items():
            reason = self.check(key)
            if reason == ABSENT:
                continue
            name = self._stage_name(key)
            if reason is not None:
                return f"built from {name}, which is not intact ({reason})"
            if inventory.content_id(self.manifest(key).get("files")) != built_from:
                return f"built from an earlier {name} (it was rebuilt with other bytes since)"
        return None

    def _stage_name(self, key: str) -> str:
        try:
            return repr(self.manifest(key).get("stage", key[:12]))
        except StoreError:
            return key[:12]

    def content_id(self, key: str) -> str:
        """The content id of a committed artifact (what a stage built from it records)."""
        return inventory.content_id(self.manifest(key).get("files"))

    def verify(self, key: str, progress: Any = None) -> str | None:
        """Deep-check every file of a stored artifact (hashing each); mark it broken when one differs.
        Returns why it is not intact, or None."""
        self._verified.clear()
        return inventory.verify(self.artifact_dir(key), "recipe verify", progress)

    def broken(self, key: str) -> str | None:
        """Why a stored artifact (one with a manifest) does not count as committed; None otherwise."""
        reason = self.check(key)
        return None if reason in (None, ABSENT) else reason

    def manifest(self, key: str) -> dict[str, Any]:
        path = self.artifact_dir(key) / MANIFEST
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise StoreError(f"{path}: unreadable manifest ({type(err).__name__}: {err})") from None
        if not isinstance(data, dict):
            raise StoreError(f"{path}: unreadable manifest (not a JSON object)")
        return data

    def artifact(self, key: str) -> Artifact:
        """The typed artifact of a committed stage."""
        m = self.manifest(key)
        summary = m.get("summary", {})
        return Artifact(type=m["artifact"], path=str(self.artifact_dir(key).resolve()), ref=summary.get("ref"),
                        revision=summary.get("revision"), dtype=summary.get("dtype"))

    @contextlib.contextmanager
    def lock(self, key: str, on_wait: Any = None) -> Iterator[None]:
        """Hold the stage's lock; if another apply holds it, call `on_wait()` once and wait for it."""
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait:
                    on_wait()
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def sweep(self) -> list[tuple[str, int]]:
        """Remove what killed applies left behind: work folders (and checkpoints) of stages that are
        committed, and commit leftovers (`<key>.replaced.<pid>`), when no live apply holds that stage's
        lock. A stage's unfinished first run is kept: the next apply resumes from it. Returns each
        removed path (relative to the store) with the bytes it freed."""
        freed: list[tuple[str, int]] = []
        work = self.root / "work"
        for folder in sorted(work.iterdir()) if work.is_dir() else []:
            key = folder.name.split(".replaced.")[0]
            leftover = folder.name != key
            if not folder.is_dir() or not (leftover or self.has(key)) or not self.lock_free(key):
                continue
            for path in (folder, *(() if leftover else (self.checkpoint_dir(key),))):
                if path.exists():
                    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                    shutil.rmtree(path, ignore_errors=True)
                    freed.append((str(path.relative_to(self.root)), size))
        return freed

    def lock_free(self, key: str) -> bool:
        """Whether no apply holds the stage's lock now."""
        path = self.root / "locks" / f"{key}.lock"
        if not path.exists():
            return True
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fh, fcntl.LOCK_UN)
            return True

    def begin(self, key: str) -> tuple[Path, bool]:
        """The stage's work folder, and whether an earlier attempt left work in it (call under the lock)."""
        work = self.work_dir(key)
        resumed = any(f.is_dir() and any(f.iterdir()) for f in (work, self.checkpoint_dir(key)))
        work.mkdir(parents=True, exist_ok=True)
        return work, resumed

    def commit(self, key: str, manifest: dict[str, Any], source: Path | None = None) -> Path:
        """Publish the work folder (or `source`, a named output's folder inside it) by rename, then write
        its manifest (with the file list), last.

        The stage's checkpoints are deleted only once the committed artifact verifies, so no crash
        in between loses the training they hold.
        """
        work, final = source or self.work_dir(key), self.artifact_dir(key)
        (work / MANIFEST).unlink(missing_ok=True)
        manifest = {**manifest, "files": inventory.take(work)}
        final.parent.mkdir(parents=True, exist_ok=True)
        self._verified.clear()  # what was built from the old artifact may be stale now
        if final.exists():  # --force, or an artifact that failed verification: move the old one aside
            trash = self.root / "work" / f"{key}.replaced.{os.getpid()}"
            (final / MANIFEST).unlink(missing_ok=True)
            os.rename(final, trash)
            os.rename(work, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(work, final)
        write_json(final / MANIFEST, manifest)
        if reason := self.check(key):
            raise StoreError(f"{final}: the commit does not verify ({reason}); its checkpoints are kept in "
                             f"{self.checkpoint_dir(key)}")
        self.drop_checkpoints(key)
        return final

    def drop_checkpoints(self, key: str) -> None:
        """Delete a committed stage's checkpoints (a worker node's link to the shared folder is only unlinked)."""
        folder = self.checkpoint_dir(key)
        if folder.is_symlink():
            folder.unlink()
        else:
            shutil.rmtree(folder, ignore_errors=True)

    def remember(self, recipe: str, stages: dict[str, Any]) -> None:
        """Record the stages of the plan last applied for `recipe` (the base for "changed" in plan)."""
        path = self.root / "recipes" / f"{recipe}.json"
        known = self.last_applied(recipe)
        known.update(stages)
        write_json(path, known)

    def last_applied(self, recipe: str) -> dict[str, Any]:
        path = self.root / "recipes" / f"{recipe}.json"
        try:
            return json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, json.JSONDecodeError) as err:
            raise StoreError(f"{path}: unreadable ({err}); delete it to start the record afresh") from None

    def record_run(self, recipe: str, record: dict[str, Any]) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(record.get("started", time.time())))
        path = self.root / "history" / f"{stamp}-{os.getpid()}-{recipe}.json"
        write_json(path, record)
        return path

    def runs(self) -> list[dict[str, Any]]:
        """Apply records, oldest first (by start time: two applies of one second are ordered by when each
        began, not by their process ids in the file names)."""
        folder = self.root / "history"
        records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        return sorted(records, key=lambda r: r.get("started", 0))

    def artifacts(self) -> list[dict[str, Any]]:
        """The manifests of committed artifacts (ones that fail verification are left out)."""
        folder = self.root / "artifacts"
        if not folder.is_dir():
            return []
        return [self.manifest(p.name) for p in sorted(folder.iterdir()) if self.has(p.name)]


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + fsync + rename), so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half-written temporaries behind
        raise
