"""The report as blocks (headings, text, tables, images), written twice: `summary.md` and `report.html`.

`report.html` is one self-contained file: the PNGs are inlined as data URIs and the style is inline, so a
plain browser opens it from anywhere (mail it, attach it, copy it off a cluster).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    head: list[str]
    rows: list[list[str]]
    note: str = ""
    """Said once under the table: what the columns measure and on which scale."""
    numeric: frozenset[int] = field(default_factory=frozenset)
    """Columns aligned right."""


@dataclass(frozen=True)
class Image:
    file: str
    """PNG file name in the report folder."""
    alt: str
    caption: str = ""


Block = Heading | Text | Table | Image


def markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            align = ["---:" if i in block.numeric else "---" for i in range(len(block.head))]
            lines += ["| " + " | ".join(block.head) + " |", "|" + "|".join(align) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in block.rows]
            lines += ["", block.note, ""] if block.note else [""]
        else:
            lines += [f"![{block.alt}]({block.file})", ""]
            lines += [f"*{block.caption}*", ""] if block.caption else []
    return "\n".join(lines).rstrip() + "\n"


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1320px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; } th, td { padding: .25em .7em; border-bottom: 1px solid #e4e4e4; }
th { text-align: left; background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; font-size: .92em; max-width: 80em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 640px; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
"""


def page(title: str, blocks: list[Block], folder: Path) -> str:
    """The blocks as one HTML document; consecutive images share a row (they wrap on narrow screens)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"]
    in_plots = False
    for block in blocks:
        if isinstance(block, Image) != in_plots:
            out.append('<div class="plots">' if not in_plots else "</div>")
            in_plots = not in_plots
        out.append(_html(block, folder))
    out.append("</div>" if in_plots else "")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html(block: Block, folder: Path) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Text):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.head)
        rows = "".join("<tr>" + "".join(
            f'<td class="num">{html.escape(c)}</td>' if i in block.numeric else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)) + "</tr>" for row in block.rows)
        note = f'<p class="note">{html.escape(block.note)}</p>' if block.note else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{note}"
    data = base64.b64encode((folder / block.file).read_bytes()).decode()
    caption = f"<figcaption>{html.escape(block.caption)}</figcaption>" if block.caption else ""
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.alt)}" '
            f'title="{html.escape(block.file)}">{caption}</figure>')
