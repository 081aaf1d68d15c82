"""Artifact: a typed, committed stage output in the store (a model folder, a JSONL dataset, a report)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from schemas._base import Schema

ArtifactType = Literal["model", "dataset", "report"]


class Artifact(Schema):
    """What one stage hands the next: its type, its folder in the store, and (for hub models) a hub reference."""

    type: ArtifactType
    path: str
    """The committed stage folder."""
    ref: str | None = None
    """For a hub model that was not copied into the store: the id to load (`revision` beside it)."""
    revision: str | None = None
    dtype: str | None = None
    """The dtype the recipe asked to load this model in (`models.<name>.dtype`); None keeps the checkpoint's."""

    @property
    def model(self) -> str:
        """What `from_pretrained` takes: the saved folder, or the hub id."""
        return self.ref or str(Path(self.path) / "model")

    @property
    def rows(self) -> Path:
        """The JSONL rows of a dataset artifact."""
        return Path(self.path) / "data.jsonl"

    @property
    def report(self) -> Path:
        """The metrics JSON of a report artifact."""
        return Path(self.path) / "report.json"
