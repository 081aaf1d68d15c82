"""The loader turns every malformed input into a located RecipeError, fast, without executing anything."""

from __future__ import annotations

import time

import pytest

from sdk.errors import RecipeError
from sdk.recipe.loader import load_document, parse


def error_of(text: str) -> str:
    with pytest.raises(RecipeError) as info:
        doc = parse(text, "r.yaml")
        from sdk.recipe.loader import interpolate

        interpolate(doc)
    return str(info.value)


def test_loader_reports_duplicate_key_at_second_occurrence():
    assert error_of("a: 1\nb: 2\na: 3\n") == (
        "r.yaml:3:1: a: duplicate key 'a' (first defined at line 1) (keep one of them)")


def test_loader_reports_syntax_error_position():
    assert error_of("a: [1, 2\nb: 3\n").startswith("r.yaml:2:2: invalid YAML: expected ',' or ']'")


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['touch pwned']", "!!python/name:os.system",
                                 "!!python/object/new:os.system [x]"])
def test_loader_refuses_python_tags_without_running_them(tag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = error_of(f"a: {tag}\n")
    assert message.startswith("r.yaml:1:4: a: YAML tag") and "not allowed" in message
    assert not (tmp_path / "pwned").exists()


def test_loader_refuses_non_mapping_document():
    assert error_of("- 1\n- 2\n").startswith("r.yaml:1:1: a recipe must be a mapping")


def test_loader_refuses_empty_file():
    assert error_of("").startswith("r.yaml:1:1: the recipe is empty")
    assert error_of("# only a comment\n").startswith("r.yaml:1:1: the recipe is empty")


def test_loader_refuses_binary_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    with pytest.raises(RecipeError, match=r"model.bin:1:1: not a text file"):
        load_document(path)


def test_loader_refuses_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_document(tmp_path / "nope.yaml")


def test_loader_refuses_alias_bomb_quickly():
    rows = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    message = error_of("\n".join(rows) + "\n")
    assert time.perf_counter() - start < 2
    assert "alias bomb" in message


def test_loader_refuses_recursive_alias():
    assert "recursive" in error_of("a: &a [1, *a]\n")


def test_loader_reports_cyclic_interpolation():
    assert error_of("a: ${b}\nb: ${a}\n").startswith("r.yaml:1:4: a: cannot interpolate: cyclic interpolation")


def test_loader_reports_unresolvable_interpolation():
    assert error_of("a: 1\nb: ${nope}\n") == "r.yaml:2:4: b: cannot interpolate: Interpolation key 'nope' not found"


def test_loader_refuses_secret_env_interpolation(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    message = error_of("token: ${oc.env:HF_TOKEN}\n")
    assert message.startswith("r.yaml:1:8: token: `${oc.env:HF_TOKEN}` would write a secret")
    assert "hf_secret_value" not in message


def test_loader_resolves_vars_and_env(monkeypatch):
    monkeypatch.setenv("RECIPE_TEST_SEED", "7")
    doc = parse("vars: {lr: 1e-5}\nx: {lr: '${vars.lr}', seed: '${oc.env:RECIPE_TEST_SEED}'}\n", "r.yaml")
    from sdk.recipe.loader import interpolate

    interpolate(doc)
    assert doc.data["x"] == {"lr": 1e-5, "seed": "7"}


def test_loader_reads_exponent_floats_as_numbers():
    assert parse("lr: 1e-5\nn: 2E3\ns: '1e-5'\n").data == {"lr": 1e-5, "n": 2000.0, "s": "1e-5"}


def test_loader_keeps_line_and_column_of_nested_values():
    doc = parse("a:\n  b:\n    - {c: 1}\n    - c: 2\n")
    assert (doc.values[("a", "b", 1, "c")].line, doc.values[("a", "b", 1, "c")].col) == (4, 10)
    assert (doc.keys[("a", "b", 0, "c")].line, doc.keys[("a", "b", 0, "c")].col) == (3, 8)


def test_loader_merge_keys_may_be_overridden_but_own_duplicates_may_not():
    doc = parse("a: &a {x: 1, y: 2}\nb: {<<: *a, y: 3}\n", "r.yaml")
    assert doc.data["b"] == {"x": 1, "y": 3}
    assert (doc.values[("b", "y")].line, doc.values[("b", "y")].col) == (2, 16)
    assert error_of("a: &a {x: 1}\nb: {<<: *a, y: 3, y: 4}\n").startswith("r.yaml:2:19: b.y: duplicate key 'y'")
