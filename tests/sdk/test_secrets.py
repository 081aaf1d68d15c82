"""A credential never reaches a file, a log or the terminal, whatever expression would carry it there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import PipelineRecipe
from schemas.secrets import is_secret_name, secrets_in
from schemas.skypilot import SkyPilotRunner
from sdk import api
from sdk.cli import main
from sdk.errors import RecipeError

SECRET = "hf_SENTINEL_9b1e4c2a77d04f"

RECIPE = """\
recipe: pipeline
name: leak
vars: {{which: HF_TOKEN, head: HF_, tail: TOKEN, innocent: RECIPE_TEST_PLAIN}}
data:
  rows: {{source: jsonl, path: rows.jsonl}}
stages:
  - {{id: keep, kind: filter, data: rows, correct: false, require_finished: false}}
  - {{id: tune, kind: sft, model: m, data: keep, target: answer, answer_format: "{value}"}}
models:
  m: tiny:qwen2
"""

FORMS = {
    "nested": "${{oc.env:${{vars.which}}}}",
    "concatenated name": "${{oc.env:${{vars.head}}${{vars.tail}}}}",
    "nested with a default": "<answer>${{oc.env:${{vars.which}},none}}</answer>",
    "innocent variable holding the value": "pre-${{oc.env:${{vars.innocent}}}}-post",
    "innocent variable, plain": "${{oc.env:RECIPE_TEST_PLAIN}}",
    "var that resolves the env": "${{vars.t}}",
}


def files_containing(root: Path, needle: str) -> list[Path]:
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


@pytest.fixture
def leaky(tmp_path, monkeypatch):
    """write(form) -> a recipe whose answer_format would resolve to the secret (or contain it)."""
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("RECIPE_TEST_PLAIN", SECRET)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rows.jsonl").write_text(json.dumps({"prompt": "1+1?", "answer": "2", "response": "2"}) + "\n")

    def write(form: str) -> Path:
        text = RECIPE.format(value=form.format())
        if form == FORMS["var that resolves the env"]:
            text = text.replace("vars: {", "vars: {t: '${oc.env:${vars.which}}', ")
        path = tmp_path / "leak.yaml"
        path.write_text(text)
        return path

    return write


@pytest.mark.parametrize("form", list(FORMS.values()), ids=list(FORMS))
def test_no_expression_carries_a_credential_anywhere(form, leaky, tmp_path, capsys):
    path = leaky(form)
    store = tmp_path / "store"
    for argv in (["validate", str(path)], ["plan", str(path), "--store", str(store)],
                 ["plan", str(path), "--expand"], ["apply", str(path), "--store", str(store)],
                 ["apply", str(path), "--store", str(store), "--dry-run"],
                 ["apply", str(path), "--runner", "skypilot", "--dry-run", "--out", str(tmp_path / "tasks")]):
        assert main(argv) == 2, argv
        out = capsys.readouterr()
        assert SECRET not in out.out + out.err
        assert out.err.startswith(f"error: {path}:") and ("secret" in out.err or "credential" in out.err)
    assert files_containing(tmp_path, SECRET) == []
    assert not store.exists()


def test_an_override_holding_a_credential_is_refused_without_echoing_it(leaky, tmp_path, capsys):
    path = leaky("<answer>{{answer}}</answer>")
    store = tmp_path / "store"
    assert main(["apply", str(path), "--store", str(store), f"stages.tune.answer_format=x{SECRET}"]) == 2
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "$HF_TOKEN" in out.err
    assert files_containing(tmp_path, SECRET) == [] and not store.exists()


def test_a_recipe_built_in_python_with_a_credential_does_not_compile(leaky, tmp_path):
    path = leaky("<answer>{{answer}}</answer>")
    data = api.load(path).model_dump(mode="json")
    data["stages"][1]["answer_format"] = f"<answer>{{answer}}</answer>{SECRET}"
    with pytest.raises(RecipeError) as err:
        api.compile(PipelineRecipe.model_validate(data))
    assert "HF_TOKEN" in str(err.value) and SECRET not in str(err.value)


def test_short_settings_are_not_mistaken_for_credentials(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("CACHE_KEY", "1")
    assert secrets_in("false 1 true") == []


@pytest.mark.parametrize("name", ["HF_TOKEN", "WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY", "MY_PRIVATE_KEY",
                                  "DB_PASSWORD", "SSH_PASSWD", "GOOGLE_APPLICATION_CREDENTIALS", "KAGGLE_KEY",
                                  "AZURE_STORAGE_CONNECTION_STRING", "GITHUB_PAT"])
def test_one_secret_name_pattern_for_recipe_values_and_cloud_envs(name, tmp_path):
    assert is_secret_name(name)
    with pytest.raises(ValueError, match="looks like a credential"):
        SkyPilotRunner(kind="skypilot", bucket="s3://b/runs", envs={name: "x"})
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"recipe: pipeline\nname: x\nvars: {{v: '${{oc.env:{name}}}'}}\nstages: []\n")
    with pytest.raises(RecipeError, match="would write a secret"):
        api.load(recipe)
