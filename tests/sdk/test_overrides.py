"""Command-line overrides win over the file, which wins over defaults (one precedence, tested here)."""

from __future__ import annotations

import pytest

from sdk import api
from sdk.errors import RecipeError


def test_precedence_override_over_file_over_default(pipeline):
    recipe = api.load(pipeline, ["stages.sft.lr=2e-5"])
    sft = recipe.stages[0]
    assert sft.lr == 2e-5          # override beats the file's 1e-3
    assert sft.max_steps == 5      # file beats the default (None)
    assert sft.batch_size == 8     # default


def test_override_by_index_and_by_stage_id_are_the_same(pipeline):
    by_index = api.compile(api.load(pipeline, ["stages.1.n=4"]))
    by_id = api.compile(api.load(pipeline, ["stages.sample.n=4"]))
    assert by_index["sample"].fingerprint == by_id["sample"].fingerprint


def test_override_deletes_with_tilde(pipeline):
    recipe = api.load(pipeline, ["~stages.sft.max_steps"])
    assert recipe.stages[0].max_steps is None


def test_override_with_bad_value_is_located_at_the_override(pipeline):
    with pytest.raises(RecipeError) as info:
        api.load(pipeline, ["stages.sft.lr=fast"])
    assert str(info.value) == "override 'stages.sft.lr=fast': stages.0.lr: give a number, not the string 'fast'"


def test_override_of_unknown_stage_id_is_an_error(pipeline):
    with pytest.raises(RecipeError, match="no list item with id 'sfft'"):
        api.load(pipeline, ["stages.sfft.lr=1"])


def test_override_without_equals_is_an_error(pipeline):
    with pytest.raises(RecipeError, match="overrides look like"):
        api.load(pipeline, ["stages.sft.lr"])
