"""Text a visitor or a model wrote, made safe to hand to a Gradio Markdown or Chatbot (pure).

Gradio renders Markdown with raw HTML and then sanitises it: scripts and handlers go, but `<style>`,
`<form action>`, `<input>`, inline `style=` and `<img>` from any host stay — enough to turn a shared
link into a phishing page on the app's own origin, or to fire a tracking pixel. So such text never
reaches the page as HTML:

- `as_text()`: shown exactly as written (every Markdown and HTML character escaped) — prompts.
- `without_html()`: Markdown kept (emphasis, lists, links, code) but raw HTML shown as text and
  images (`![…](…)`, which load from any host) shown as their source — answers, notes, errors.

Inside code (fenced blocks and inline code spans) nothing is escaped: Markdown shows code as text.
A fence or span is only left alone when Markdown is sure to read it as code; anything in doubt is
escaped (at worst a stray `&lt;` shows).
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark (and in marked).
_PUNCTUATION = re.compile(r"([!\"#$%&'()*+,\-./:;=>?@\[\\\]^_`{|}~])")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}(?=[^`]*$)|~{3,})")
# A code span: a run of backticks not preceded by a backslash, closed by a run of the same length
# on the same line, with no `|` inside (a table splits its cells there before reading code).
_CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`)([^|\n]+?)(?<!`)\1(?!`)")


def as_text(text: str) -> str:
    """`text` as Markdown that shows it character for character (line breaks kept as breaks)."""
    escaped = _PUNCTUATION.sub(r"\\\1", text).replace("<", "&lt;")
    return "  \n".join(escaped.splitlines())


def _inline(text: str) -> str:
    """Outside code spans: no raw HTML (every `<` an entity), no images (`![` not one)."""
    out: list[str] = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        out.append(_outside_code(text[last : span.start()]))
        out.append(span.group(0))
        last = span.end()
    out.append(_outside_code(text[last:]))
    return "".join(out)


def _outside_code(text: str) -> str:
    return text.replace("<", "&lt;").replace("![", "!\\[")


def without_html(text: str) -> str:
    """`text` as Markdown with raw HTML and images shown as text; code left as it is."""
    lines = text.split("\n")
    out: list[str] = []
    paragraph: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is not None:
            out.append(line)
            stripped = line.lstrip(" ")
            if (
                len(line) - len(stripped) <= 3
                and stripped.startswith(fence)
                and not stripped.strip(" `~")
            ):
                fence = None
            continue
        opened = _FENCE_OPEN.match(line)
        if opened:
            if paragraph:
                out.append(_inline("\n".join(paragraph)))
            paragraph = []
            fence = opened.group(1)
            out.append(line)
            continue
        paragraph.append(line)
    if paragraph:
        out.append(_inline("\n".join(paragraph)))
    return "\n".join(out)
