"""Messages a user meets: the SDK's StageFailed says what the stage said; a YAML boolean key gets a hint;
a kind changed by an override is reported against the override."""

from __future__ import annotations

import pytest

from sdk import api
from sdk.errors import StageFailed
from tests.sdk.conftest import PIPELINE
from tests.sdk.test_apply import chain  # noqa: F401 - the fixture
from tests.sdk.test_cli import recipe


def test_stage_failed_carries_the_stages_own_error_line(chain, tmp_path):  # noqa: F811
    (tmp_path / "rows.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')  # `first` fails: no response
    with pytest.raises(StageFailed) as err:
        api.apply(chain, store=tmp_path / "s")
    assert "row 0 has no `response`" in str(err.value)
    assert err.value.error is not None and "row 0 has no `response`" in err.value.error


def test_a_key_yaml_reads_as_a_boolean_gets_a_hint_to_quote_it(write):
    path = write(PIPELINE.replace("  train:", "  no:").replace("data: train,", 'data: "no",'))
    out = recipe("validate", str(path))
    assert out.returncode == 2
    assert out.stderr == (f"error: {path}:6:3: data: this key is read as false, and a name must be text "
                          '(YAML reads unquoted no/yes/on/off/true/false/null so; quote the name: "no")\n')


def test_a_kind_changed_by_an_override_is_reported_against_the_override(write):
    out = recipe("validate", str(write(PIPELINE)), "stages.sample.kind=filter")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "error: override 'stages.sample.kind=filter': stages.1.kind: kind 'filter' has no field "
        f"{field!r} (this override changed the kind; change or delete that field too)" for field in ("model", "n")]
