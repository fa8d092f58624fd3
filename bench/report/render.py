"""The report as a list of blocks, rendered twice, to Markdown and to HTML, so the two never
disagree.

Blocks: ("h1"|"h2"|"h3", text), ("p", text), ("ul", [text]), ("table", header, rows),
("img", file name, alt text), ("code", text). Inline markup is Markdown `code` and **bold**.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from typing import Any


def md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_md(blocks: list[tuple]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in b[1]))
        elif kind == "table":
            header, rows = b[1], b[2]
            lines = ["| " + " | ".join(md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(md_escape(str(c)) for c in r) + " |" for r in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1]})")
        elif kind == "code":
            out.append("```\n" + b[1] + "\n```")
    return "\n\n".join(out) + "\n"


def inline_html(text: str) -> str:
    """Escape, then turn Markdown `code` spans and **bold** into HTML (the only inline
    markup the report uses)."""
    s = html.escape(text, quote=False)
    parts = s.split("`")
    s = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = s.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def html_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
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


def render_html(blocks: list[tuple], images: dict[str, bytes], title: str) -> str:
    """The blocks as one self-contained page: figures embedded as base64 `data:` URIs."""
    out: list[str] = []
    for i, b in enumerate(blocks):
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{inline_html(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{inline_html(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>\n" + "\n".join(f"<li>{inline_html(i)}</li>" for i in b[1]) + "\n</ul>")
        elif kind == "table":
            out.append(html_table(b[1], b[2]))
        elif kind == "img":
            data = base64.b64encode(images[b[1]]).decode("ascii")
            fig = (
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(b[2])}">'
                f"<figcaption><code>{html.escape(b[1])}</code></figcaption></figure>"
            )
            if i and blocks[i - 1][0] == "img":  # consecutive figures (ROC, PR) side by side
                out[-1] = out[-1].removesuffix("</div>") + fig + "</div>"
            else:
                out.append(f'<div class="figs">{fig}</div>')
        elif kind == "code":
            out.append(f"<pre><code>{html.escape(b[1])}</code></pre>")
    return html_page(title, "\n".join(out))
