"""A model's README, from anyone on Replicate, as HTML safe to put in the page (pure: no Gradio).

Gradio's own Markdown sanitising (DOMPurify in the browser) removes scripts and event handlers but
lets an image load from any address, so the README is rendered here instead, with markdown-it:
raw HTML is never passed through (its tags are dropped, its text kept, script and style contents
removed), links go only to http(s) addresses, images load only over https (or from the app's own
origin), and the text is capped before it is parsed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

MAX_README_CHARS = 50_000
_DROPPED_ELEMENTS = re.compile(
    r"<(script|style|iframe|object|embed|noscript|template|svg|math)\b.*?(</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_TAG = re.compile(r"<[^>]*>?")


def safe_link(url: str) -> bool:
    """Only absolute http(s) links (no javascript:, data:, relative paths to this app)."""
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def safe_image(url: str, app_origin: str | None = None) -> bool:
    """An image the page may load: https, or from the app's own origin."""
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.netloc:
        return True
    if app_origin:
        own = urlsplit(app_origin)
        return (parts.scheme, parts.netloc) == (own.scheme, own.netloc) and bool(parts.netloc)
    return False


def _text_of_html(raw: str) -> str:
    """Raw HTML as the words it shows: dangerous elements with their content removed, every
    other tag dropped, the rest escaped."""
    return html.escape(html.unescape(_TAG.sub("", _DROPPED_ELEMENTS.sub("", raw))))


class _VettedLinks(MarkdownIt):
    """Links and images both pass `validateLink` first; a refused one stays as its literal text."""

    def validateLink(self, url: str) -> bool:
        return safe_link(url) or url.strip().startswith("#")


def _renderer(app_origin: str | None) -> MarkdownIt:
    md = _VettedLinks("commonmark", {"html": True}).enable(["table", "strikethrough"])

    def html_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        text = _text_of_html(tokens[idx].content).strip()
        return f"<p>{text}</p>\n" if text else ""

    def html_inline(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return _text_of_html(tokens[idx].content)

    def image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = html.escape(self.renderInlineAsText(token.children or [], options, env))
        if not safe_image(src, app_origin):
            return f"<em>[image not shown: {alt or 'untitled'} — only https images load]</em>"
        return (
            f'<img src="{html.escape(src)}" alt="{alt}" loading="lazy" '
            'referrerpolicy="no-referrer" style="max-width:100%">'
        )

    def link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        href = str(token.attrGet("href") or "")
        if href.startswith("#"):
            return "<a>"  # in-page anchors of the README don't exist in this page
        return f'<a href="{html.escape(href)}" target="_blank" rel="nofollow noopener noreferrer">'

    md.add_render_rule("html_block", html_block)
    md.add_render_rule("html_inline", html_inline)
    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    return md


def readme_html(markdown: str, app_origin: str | None = None) -> str:
    """The README as sanitised HTML, at most MAX_README_CHARS of it rendered."""
    text = markdown if isinstance(markdown, str) else ""
    note = ""
    if len(text) > MAX_README_CHARS:
        note = (
            f"<p><em>README shortened: the first {MAX_README_CHARS:,} of {len(text):,} "
            "characters are shown.</em></p>"
        )
        text = text[:MAX_README_CHARS]
    if not text.strip():
        return "<p><em>This model has no README.</em></p>"
    body = _renderer(app_origin).render(text)
    return f'<div class="nl-readme">{body}{note}</div>'
