"""Schema: the one base every recipe model inherits (strict, immutable, documented)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from schemas._docs import field_doc


class Schema(BaseModel):
    """A recipe block: unknown keys are errors, values are frozen, field docstrings feed the JSON Schema
    (schemas/_docs.py).

    Strict types, as the YAML and JSON tools researchers know: `alpha: "0.5"` or `steps: true` is an error,
    never a silent conversion (write numbers unquoted; `1e-5` is a number, the loader reads YAML 1.2 floats)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=False,  # schemas/_docs.py attaches them when a JSON Schema is made
        validate_default=True,
        defer_build=True,
        strict=True,
    )

    SHORTHAND: ClassVar[str | None] = None
    """The field a bare string fills (`base: tiny:qwen2` means `base: {source: tiny:qwen2}`); None: no shorthand."""

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        return {cls.SHORTHAND: value} if cls.SHORTHAND and isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The block's JSON Schema; with a shorthand, a bare string is accepted beside the mapping."""
        schema = handler(core_schema)
        if cls.SHORTHAND:
            body = handler.resolve_ref_schema(schema)
            mapping = dict(body)
            field = mapping["properties"][cls.SHORTHAND]
            field.setdefault("description", field_doc(cls, cls.SHORTHAND) or "")
            short = {k: v for k, v in field.items() if k not in ("title", "description")}
            short["description"] = f"Short for `{{{cls.SHORTHAND}: ...}}`. " + field.get("description", "")
            body.clear()
            body.update(title=mapping.pop("title", cls.__name__), description=mapping.pop("description", ""),
                        anyOf=[short, mapping])
        return schema


def added(default: Any, **kwargs: Any) -> Any:
    """A field added after recipes of its kind shipped: left out of every dump while it holds its default, so
    a fingerprint (and so every artifact cached before the field existed) stays what it was."""
    return Field(default=default, exclude_if=lambda value: value == default, **kwargs)
