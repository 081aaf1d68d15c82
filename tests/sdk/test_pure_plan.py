"""Planning is a pure function of the recipe and its sources: the only disk reads go through the
`read_sources` argument (sdk/sources.py), so a plan can be made, and tested, with no file at all."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest

from sdk.compiler import compile_recipe
from sdk.loader import load_document
from sdk.sources import Sources, read_sources
from sdk.validate import validate

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
