"""JSONL lines end at a newline only: control characters a model may emit stay inside their strings."""

from __future__ import annotations

import json

from stages._jsonl import numbered_rows


def test_rows_with_line_separator_characters_inside_strings_read_back():
    rows = [{"id": str(i), "response": f"a{ch}b"} for i, ch in enumerate("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")]
    raw = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    assert [row for _, row in numbered_rows(raw)] == rows


def test_windows_line_endings_and_blank_lines_are_fine():
    raw = b'{"a": 1}\r\n\r\n{"a": 2}\r\n'
    assert list(numbered_rows(raw)) == [(1, {"a": 1}), (3, {"a": 2})]


def test_a_multiple_choice_file_with_a_raw_line_separator_in_a_question_reads(tmp_path):
    from schemas import DatasetStage
    from stages import dataset
    from stages._context import StageContext
    from stages._data import read_rows

    path = tmp_path / "q.jsonl"
    record = {"question": "2 + 2?\u2028(think)", "options": {"A": "3", "B": "4"}, "answer": "B"}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    dataset.run(DatasetStage(id="q", data={"source": "mcq", "path": str(path)}), {}, StageContext(out=out))
    assert read_rows(out / "data.jsonl")[0]["prompt"].startswith("2 + 2?\u2028(think)\nA. 3")
