"""Planning is a pure function of the recipe and its sources: the only disk reads go through the
`read_sources` argument (sdk/compile/sources.py), so a plan can be made, and tested, with no file at all."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from sdk.compile.compiler import compile_recipe
from sdk.compile.sources import Sources, read_sources
from sdk.recipe.loader import load_document
from sdk.recipe.validate import validate

JSONL = """
recipe: pipeline
name: pure
models:
  base: tiny:qwen2
data:
  rows: {source: jsonl, path: rows.jsonl}
  test: {source: reasoning_gym, task: basic_arithmetic, size: 8}
stages:
  - {id: sft, kind: sft, model: base, data: rows, max_steps: 2, batch_size: 2}
  - {id: eval, kind: evaluate, models: [base, sft], data: test}
"""


def test_compile_reads_nothing_but_through_its_source_reader(write, tmp_path, monkeypatch):
    (tmp_path / "rows.jsonl").write_text('{"prompt": "1+1?", "answer": "2", "response": "2"}\n' * 4)
    recipe = validate(load_document(write(JSONL)))
    asked: list[list[str]] = []
    found = read_sources(recipe, ["base", "rows", "test"], recipe._source)
    expected = compile_recipe(recipe)

    def reader(recipe_, names, doc) -> Sources:
        asked.append(sorted(names))
        return found

    def no_io(*args, **kwargs):
        raise AssertionError(f"planning touched the disk: {args[:1]}")

    (tmp_path / "rows.jsonl").unlink()  # the file is gone: only the reader's answer counts
    with monkeypatch.context() as m:
        for target, name in ((builtins, "open"), (os, "stat"), (os, "scandir"), (os, "listdir"), (Path, "cwd")):
            m.setattr(target, name, no_io)
        plan = compile_recipe(recipe, read_sources=reader)
    assert asked == [["base", "rows", "test"]]
    assert [(s.id, s.fingerprint) for s in plan.stages] == [(s.id, s.fingerprint) for s in expected.stages]


def test_the_default_reader_still_finds_a_missing_file_located(write):
    recipe = validate(load_document(write(JSONL)))
    with pytest.raises(Exception, match=r"r.yaml:6:\d+: data.rows.path: "):
        compile_recipe(recipe)


MERGE = """
recipe: pipeline
name: pure-merge
models:
  a: tiny:qwen2
  b: {source: "tiny:qwen2", seed: 1}
data:
  test: {source: reasoning_gym, task: basic_arithmetic, size: 8}
stages:
  - {id: both, kind: merge, models: [a, b]}
  - {id: eval, kind: evaluate, models: [both], data: test}
"""

CHAINED = """
recipe: pipeline
name: pure-chain
models:
  merged: {recipe: merge.yaml, stage: both}
data:
  test: {source: reasoning_gym, task: basic_arithmetic, size: 8}
stages:
  - {id: eval, kind: evaluate, models: [merged], data: test}
"""


def test_a_merge_compiles_without_touching_the_disk_or_the_store(write, monkeypatch):
    """The compiler used to open the store (`Store(recipe.store)`) to compare merged models already built."""
    from sdk.run import store as store_module

    recipe = validate(load_document(write(MERGE)))
    found = read_sources(recipe, ["a", "b", "test"], recipe._source)
    expected = compile_recipe(recipe)

    def no_io(*args, **kwargs):
        raise AssertionError(f"planning touched the disk: {args[:1]}")

    with monkeypatch.context() as m:
        for target, name in ((builtins, "open"), (os, "stat"), (os, "scandir"), (os, "listdir"), (Path, "cwd")):
            m.setattr(target, name, no_io)
        m.setattr(store_module.Store, "__init__", no_io)
        plan = compile_recipe(recipe, read_sources=lambda *_: found)
    assert [(s.id, s.fingerprint) for s in plan.stages] == [(s.id, s.fingerprint) for s in expected.stages]


def test_a_chained_recipe_compiles_without_a_store(write, monkeypatch):
    """Chaining reads the other recipe's file (it is a source), never the store."""
    from sdk.run import store as store_module

    write(MERGE, "merge.yaml")
    recipe = validate(load_document(write(CHAINED)))
    monkeypatch.setattr(store_module.Store, "__init__", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("compile opened a store")))
    plan = compile_recipe(recipe)
    assert {"merged", "eval"} <= set(plan.ids) and plan["merged"].kind == "merge"


def test_a_store_model_that_cannot_merge_is_refused_at_plan_not_at_compile(write, tmp_path):
    """A merge input already built in the store is compared by `plan` (and apply), from its files."""
    import json

    from sdk import api
    from sdk.errors import RecipeError
    from sdk.run.store import Store

    path = write(MERGE.replace("  - {id: both, kind: merge, models: [a, b]}",
                               "  - {id: tuned, kind: sft, model: b, data: test, target: answer, max_steps: 1, "
                               "batch_size: 2}\n  - {id: both, kind: merge, models: [a, tuned]}"))
    plan = api.compile(api.load(path))  # compiles: nothing is known of `tuned` yet, and no store is read
    assert api.plan(plan, store=tmp_path / "runs")  # nothing built: nothing to compare
    store = Store(tmp_path / "runs")
    work, _ = store.begin(plan["tuned"].key)
    (work / "model").mkdir()
    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 48, "vocab_size": 428,
             "num_hidden_layers": 2}
    (work / "model" / "config.json").write_text(json.dumps(llama))
    store.commit(plan["tuned"].key, {"fingerprint": plan["tuned"].fingerprint, "kind": "sft", "artifact": "model"})
    with pytest.raises(RecipeError, match="cannot merge"):
        api.plan(plan, store=store.root)
