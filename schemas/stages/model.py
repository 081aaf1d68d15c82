"""ModelStage: materialise a named model (build a `tiny:` one, convert a shipped one, pin a hub id or folder)."""

from __future__ import annotations

from typing import ClassVar, Literal

from schemas.artifacts import ArtifactType
from schemas.models import ModelSpec
from schemas.stages.base import StageSpec


class ModelStage(StageSpec):
    """Materialise a named model: build a `tiny:` one, convert a shipped one, or pin a hub id / folder."""

    kind: Literal["model"] = "model"
    model: ModelSpec
    content: str | None = None
    """Fingerprint of a local folder's files (set by the compiler)."""
    OUTPUT: ClassVar[ArtifactType] = "model"
    LIGHT: ClassVar[bool] = True

    def non_result(self) -> frozenset[str]:
        # A local folder is identified by its files, not by where it lies.
        return frozenset({"model.source"}) if self.content else frozenset()
