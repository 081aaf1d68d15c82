"""`apply --dry-run` shows exactly what the apply would do; SDK arguments take one name or several."""

from __future__ import annotations

import pytest

from sdk import api
from sdk.cli import main
from sdk.errors import RecipeError
from tests.sdk.test_apply import chain  # noqa: F401 - the fixture

SELECTIONS = [{}, {"force": ("first",)}, {"only": ("second",), "force": ("second",)}, {"until": ("first",)},
              {"until": ("first",), "force": ("rows", "first")}]


def would(statuses) -> tuple[list[str], list[str]]:
    return [s.stage.id for s in statuses], [s.stage.id for s in statuses if s.state != "cached"]


def did(result) -> tuple[list[str], list[str]]:
    return [o.id for o in result.outcomes], [o.id for o in result.outcomes if o.state == "ran"]


@pytest.mark.parametrize("selection", SELECTIONS, ids=[str(s) for s in SELECTIONS])
def test_the_preview_is_what_the_apply_then_does(selection, chain, tmp_path):  # noqa: F811
    store = tmp_path / "s"
    api.apply(chain, store=store, until=("first",))  # a store with some of the plan in it
    preview = would(api.plan(chain, store, **selection))
    assert preview == did(api.apply(chain, store=store, **selection))


def test_the_preview_refuses_what_the_apply_refuses(chain, tmp_path):  # noqa: F811
    with pytest.raises(RecipeError, match="--only second: its input data \\('first'\\) is not in the store yet"):
        api.plan(chain, tmp_path / "s", only="second")


def test_dry_run_honours_force_only_and_until_on_the_command_line(chain, tmp_path, capsys):  # noqa: F811
    store = str(tmp_path / "s")
    api.apply(chain, store=store)
    capsys.readouterr()
    assert main(["apply", str(chain), "--store", store, "--force", "first", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "forced" in out and "1 of 3 stages to run" in out and "everything is cached" not in out
    assert main(["apply", str(chain), "--store", store, "--until", "first", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "second" not in out and "everything is cached" in out


def test_apply_result_names_the_stages_that_ran_for_one_that_did_not(chain, tmp_path):  # noqa: F811
    result = api.apply(chain, store=tmp_path / "s", until="first")
    assert result["first"].state == "ran"
    with pytest.raises(KeyError, match=r"no stage 'second' in this apply \(it had: rows, first\)"):
        result["second"]


def test_one_string_is_one_name_for_every_sequence_argument(chain, tmp_path):  # noqa: F811
    store = tmp_path / "s"
    assert [o.id for o in api.apply(chain, store=store, until="first").outcomes] == ["rows", "first"]
    assert [o.state for o in api.apply(chain, store=store, only="first", force="first").outcomes] == ["ran"]
    assert [s.stage.id for s in api.plan(chain, store, only="second")] == ["second"]
    assert api.load(chain, "stages.second.max_rows=3").stages[1].max_rows == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"only": 3}, "only: expected a string or a list of strings, got int"),
    ({"force": True}, "force: expected a string or a list of strings, got bool"),
    ({"until": ["first", 2]}, "until: expected strings, got int 2"),
])
def test_anything_but_strings_is_refused_plainly(kwargs, message, chain, tmp_path):  # noqa: F811
    with pytest.raises(TypeError, match=message):
        api.apply(chain, store=tmp_path / "s", **kwargs)
    with pytest.raises(TypeError, match="overrides: expected strings"):
        api.load(chain, [("stages.second.max_rows", 3)])


def test_plan_named_takes_one_stage_name_too(chain):  # noqa: F811
    plan = api.compile(api.load(chain))
    assert plan.named("second") == plan.named(["second"]) == ("second",)
