"""DatasetStage: materialise a named dataset (procedural, JSONL, MCQ, Hugging Face, a mix)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from schemas.artifacts import ArtifactType
from schemas.data import DataSpec
from schemas.stages.base import StageSpec


class DatasetStage(StageSpec):
    """Materialise a named dataset into JSONL rows that carry their own verifier settings."""

    kind: Literal["dataset"] = "dataset"
    data: DataSpec
    content: str | None = None
    """Digest of a local file's bytes or a saved dataset folder's files (set by the compiler); where it lies
    is not part of the result."""
    OUTPUT: ClassVar[ArtifactType] = "dataset"
    LIGHT: ClassVar[bool] = True

    def non_result(self) -> frozenset[str]:
        mix = self.data.source == "mix"
        parts = self.data.parts if mix else [self.data]
        prefixes = [f"data.parts.{i}." for i in range(len(parts))] if mix else ["data."]
        out = set()
        for at, part in zip(prefixes, parts, strict=True):
            if self.content and _local_key(part):
                out.add(f"{at}{_local_key(part)}")
            if getattr(part, "grader", None) == "exact":  # added later: left out at its default, so caches stay
                out.add(f"{at}grader")
        return frozenset(out)


def _local_key(data: Any) -> str | None:
    """The field that holds where a local source lies (made absolute by the compiler): not part of the result."""
    if data.source in ("jsonl", "mcq"):
        return "path"
    if data.source == "hf" and data.id.startswith("/"):
        return "id"
    return None
