"""Store: a folder of committed stage outputs, each named by its fingerprint, plus run records.

    runs/
      artifacts/<key>/   committed: manifest.json (written last), model/ | data.jsonl | report.json, log.txt
      work/<key>/        an attempt in progress (kept across attempts: trainer checkpoints resume)
      locks/<key>.lock   held by the apply running that stage
      recipes/<name>.json  the last plan applied per recipe (what "changed" is measured against)
      history/<time>-<name>.json  one record per apply

A stage becomes visible only by the atomic rename of its finished work folder, whose manifest
was written last; a crash leaves nothing that looks finished.
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


class Store:
    """The artifact store at `root` (created on first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def artifact_dir(self, key: str) -> Path:
        return self.root / "artifacts" / key

    def work_dir(self, key: str) -> Path:
        return self.root / "work" / key

    def has(self, key: str) -> bool:
        return (self.artifact_dir(key) / "manifest.json").is_file()

    def manifest(self, key: str) -> dict[str, Any]:
        return json.loads((self.artifact_dir(key) / "manifest.json").read_text())

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

    def begin(self, key: str) -> tuple[Path, bool]:
        """The stage's work folder, and whether an earlier attempt left work in it (call under the lock)."""
        work = self.work_dir(key)
        resumed = work.is_dir() and any(work.iterdir())
        work.mkdir(parents=True, exist_ok=True)
        return work, resumed

    def commit(self, key: str, manifest: dict[str, Any]) -> Path:
        """Publish the work folder by rename, then write the manifest into it, last.

        The manifest is what makes an artifact exist (`has`), so a crash at any point, or a bucket
        whose folder rename copies object by object, never shows a finished artifact that is not.
        """
        work, final = self.work_dir(key), self.artifact_dir(key)
        shutil.rmtree(work / "checkpoints", ignore_errors=True)
        (work / "manifest.json").unlink(missing_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # --force, or a commit that crashed before its manifest: move the old one aside
            trash = self.root / "work" / f"{key}.replaced.{os.getpid()}"
            (final / "manifest.json").unlink(missing_ok=True)
            os.rename(final, trash)
            os.rename(work, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(work, final)
        write_json(final / "manifest.json", manifest)
        return final

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
        """Apply records, oldest first."""
        folder = self.root / "history"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []

    def artifacts(self) -> list[dict[str, Any]]:
        folder = self.root / "artifacts"
        if not folder.is_dir():
            return []
        return [json.loads((p / "manifest.json").read_text()) for p in sorted(folder.iterdir())
                if (p / "manifest.json").is_file()]


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
