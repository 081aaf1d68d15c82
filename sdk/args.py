"""as_strings: every SDK argument that takes several names or overrides also takes just one.

`only="sft"` means `only=("sft",)`, never the characters s, f, t; anything but strings is refused
with a message that names the argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def as_strings(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    """`value` as a tuple of strings: one string is one item; None is none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise TypeError(f"{what}: expected a string or a list of strings, got {_kind(value)}")
    items = tuple(value)
    bad = [item for item in items if not isinstance(item, str)]
    if bad:
        raise TypeError(f"{what}: expected strings, got {_kind(bad[0])} {bad[0]!r}")
    return items


def _kind(value: Any) -> str:
    return type(value).__name__
