"""Expanded: what a kind's expander gives the compiler, one stage spec with the place it comes from."""

from __future__ import annotations

from typing import NamedTuple

from schemas import StageSpec
from sdk.recipe.loader import Path_


class Expanded(NamedTuple):
    """A stage spec and the place in the recipe it comes from."""

    spec: StageSpec
    origin: Path_
