"""Names people write (`qwen2.5`, `gsm8k-v1.1`, Cyrillic) are accepted; others are refused, located; names
that become file names are bounded."""

from __future__ import annotations

from tests.sdk.conftest import PIPELINE
from tests.sdk.test_cli import recipe


def renamed(old: str, new: str) -> str:
    return (PIPELINE.replace(f"  {old}:", f"  {new}:").replace(f"model: {old},", f"model: {new},")
            .replace(f"data: {old},", f"data: {new},").replace(f"[{old}, ", f"[{new}, "))


def test_names_people_write_validate_and_plan(write, tmp_path):
    for model, data in (("qwen2.5", "gsm8k-v1.1"), ("модель", "данные")):
        path = write(renamed("train", data).replace("base", model), f"{data}.yaml")
        out = recipe("plan", str(path), "--store", str(tmp_path / "runs"))
        assert out.returncode == 0, out.stderr
        assert model in out.stdout and data in out.stdout


def test_name_with_a_space_is_refused_at_its_key(write):
    path = write(renamed("train", "train set"))
    out = recipe("validate", str(path))
    assert out.returncode == 2
    assert out.stderr.splitlines()[0] == (
        f"error: {path}:6:3: data.train set: name 'train set' may use only letters, digits, '_', '-' and '.', "
        "starting with a letter or '_'")


def test_overlong_recipe_name_is_refused_before_apply(write, tmp_path):
    path = write(PIPELINE.replace("name: demo", "name: " + "n" * 300))
    out = recipe("apply", str(path), "--store", str(tmp_path / "runs"))
    assert out.returncode == 2
    assert out.stderr == f"error: {path}:2:7: name: recipe name is 300 characters long; at most 100 " \
                         "(it becomes part of file names in the store)\n"
    assert not (tmp_path / "runs").exists()
