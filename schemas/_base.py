"""Schema: the one base every recipe model inherits (strict, immutable, documented)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """A recipe block: unknown keys are errors, values are frozen, field docstrings feed the JSON Schema."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )
