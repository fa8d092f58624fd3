"""The report as a list of typed blocks, rendered twice, to Markdown and to HTML, so the two
never disagree.

Blocks: `Heading` (levels 1 to 6), `Paragraph`, `BulletList`, `Table`, `Figure` (a PNG file
name and its alt text) and `Code`. Inline markup in their text is Markdown `code` and
**bold**. Either renderer raises `TypeError`, naming the block, for anything else: a block
it does not know is an error, never silently left out of the report.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Heading:
    """A section heading, `#` to `######` in Markdown, `<h1>` to `<h6>` in HTML."""

    level: int
    text: str

    def __post_init__(self) -> None:
        if not (isinstance(self.level, int) and 1 <= self.level <= 6):
            raise ValueError(f"heading level must be 1 to 6, not {self.level!r} (heading {self.text!r})")


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class BulletList:
    items: Sequence[str]


@dataclass(frozen=True, slots=True)
class Table:
    """A header row and the body rows; cells are shown with `str`."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Figure:
    """A PNG written beside the report: `name` is its file name, `alt` its alt text."""

    name: str
    alt: str


@dataclass(frozen=True, slots=True)
class Code:
    """A preformatted block, shown verbatim."""

    text: str


Block = Heading | Paragraph | BulletList | Table | Figure | Code
BLOCK_TYPES = (Heading, Paragraph, BulletList, Table, Figure, Code)
Section = tuple[list[Block], list[str]]  # a section's blocks and the PNG names it wrote


def unknown_block(block: object) -> TypeError:
    """The error for a block neither renderer knows, naming what it got (for a tuple in the
    untyped `(kind, ...)` shape, its kind)."""
    what = type(block).__name__
    if isinstance(block, tuple) and block:
        what += f" of kind {block[0]!r}"
    known = ", ".join(t.__name__ for t in BLOCK_TYPES)
    return TypeError(f"unknown report block: {what} ({block!r:.80}); a block is one of {known}")


def md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def md_block(block: Block) -> str:
    """One block as Markdown."""
    match block:
        case Heading(level, text):
            return "#" * level + " " + text
        case Paragraph(text):
            return text
        case BulletList(items):
            return "\n".join(f"- {item}" for item in items)
        case Table(header, rows):
            lines = ["| " + " | ".join(md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(md_escape(str(c)) for c in r) + " |" for r in rows]
            return "\n".join(lines)
        case Figure(name, alt):
            return f"![{alt}]({name})"
        case Code(text):
            return "```\n" + text + "\n```"
    raise unknown_block(block)


def render_md(blocks: Iterable[Block]) -> str:
    return "\n\n".join(md_block(b) for b in blocks) + "\n"


def inline_html(text: str) -> str:
    """Escape, then turn Markdown `code` spans and **bold** into HTML (the only inline
    markup the report uses)."""
    s = html.escape(text, quote=False)
    parts = s.split("`")
    s = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = s.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def html_table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{inline_html(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{inline_html(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1150px;
       margin: 2em auto; padding: 0 1em; color: #1f2328; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; }
img { max-width: 100%; border: 1px solid #eee; }
.figs { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.figs figure { flex: 1 1 0; min-width: 420px; margin: 0; }
code { background: #f6f8fa; padding: 0 3px; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; }
"""


def html_page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def html_figure(block: Figure, images: dict[str, bytes]) -> str:
    """One figure, its PNG embedded as a base64 `data:` URI."""
    data = base64.b64encode(images[block.name]).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.alt)}">'
        f"<figcaption><code>{html.escape(block.name)}</code></figcaption></figure>"
    )


def html_block(block: Block) -> str:
    """One block other than a figure as HTML."""
    match block:
        case Heading(level, text):
            return f"<h{level}>{inline_html(text)}</h{level}>"
        case Paragraph(text):
            return f"<p>{inline_html(text)}</p>"
        case BulletList(items):
            return "<ul>\n" + "\n".join(f"<li>{inline_html(item)}</li>" for item in items) + "\n</ul>"
        case Table(header, rows):
            return html_table(header, rows)
        case Code(text):
            return f"<pre><code>{html.escape(text)}</code></pre>"
    raise unknown_block(block)


def render_html(blocks: Iterable[Block], images: dict[str, bytes], title: str) -> str:
    """The blocks as one self-contained page: figures embedded as base64 `data:` URIs;
    consecutive figures (ROC, PR) side by side in one row."""
    out: list[str] = []
    previous: Block | None = None
    for block in blocks:
        if not isinstance(block, Figure):
            out.append(html_block(block))
        elif isinstance(previous, Figure):
            out[-1] = out[-1].removesuffix("</div>") + html_figure(block, images) + "</div>"
        else:
            out.append(f'<div class="figs">{html_figure(block, images)}</div>')
        previous = block
    return html_page(title, "\n".join(out))
