"""A README from anyone on Replicate becomes HTML safe to put in the page."""

from __future__ import annotations

import re

from helpers import FIXTURES

from neurolink_ui.ui.readme import MAX_README_CHARS, readme_html, safe_image, safe_link

HOSTILE = """# Hostile model

Hello <b onclick="steal()">bold</b> and <img src=x onerror="steal()"> inline.

<script>document.cookie</script>

<iframe src="https://evil.example/frame"></iframe>

<p align="center"><a href="javascript:steal()">click me</a></p>

[js](javascript:alert(1)) [JS upper](JAVASCRIPT:alert(1)) [data](data:text/html,<script>x</script>)
[relative](docs/run.md) [vb](vbscript:msgbox) [ok](https://replicate.com/docs)

![tracker](http://tracker.example/pixel.png) ![inline](data:image/png;base64,AAAA)
![cover](https://replicate.delivery/cover.png)

<style>body { display: none }</style>

`<script>` stays code.
"""


def test_markdown_renders_as_html() -> None:
    html = readme_html(
        "# Title\n\nSome **bold** text.\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<li>one</li>" in html
    assert "<table>" in html


def test_scripts_handlers_iframes_and_styles_never_reach_the_page() -> None:
    html = readme_html(HOSTILE)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<iframe" not in lowered
    assert "<style" not in lowered
    assert not re.search(r"\son\w+\s*=", lowered)  # no event handler attribute at all
    assert "document.cookie" not in html  # a script's content is dropped, not shown
    assert "display: none" not in html
    # The words of harmless raw HTML stay readable.
    assert "bold" in html
    assert "click me" in html
    assert "&lt;script&gt;" in html  # inside code, escaped


def test_links_only_to_http_addresses() -> None:
    html = readme_html(HOSTILE)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://replicate.com/docs"]
    assert 'rel="nofollow noopener noreferrer"' in html
    assert "javascript:" not in " ".join(hrefs).lower()


def test_images_only_over_https() -> None:
    html = readme_html(HOSTILE)
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert sources == ["https://replicate.delivery/cover.png"]
    assert "image not shown: tracker" in html


def test_images_from_the_apps_own_origin_load() -> None:
    html = readme_html("![local](http://127.0.0.1:7860/file=x.png)", "http://127.0.0.1:7860")
    assert '<img src="http://127.0.0.1:7860/file=x.png"' in html
    assert safe_image("http://127.0.0.1:7861/x.png", "http://127.0.0.1:7860") is False


def test_url_rules() -> None:
    assert safe_link("https://a.example/b") and safe_link("http://a.example")
    for bad in ("javascript:alert(1)", " JavaScript:x", "data:text/html,x", "/relative", "//x"):
        assert not safe_link(bad), bad
    assert safe_image("https://a.example/x.png")
    assert not safe_image("http://a.example/x.png")
    assert not safe_image("data:image/png;base64,AAAA")


def test_a_huge_readme_is_cut_with_a_note() -> None:
    huge = "word " * (MAX_README_CHARS // 2)
    html = readme_html(huge)
    assert "README shortened" in html
    assert len(html) < MAX_README_CHARS + 2_000


def test_an_empty_readme_says_so() -> None:
    assert "no README" in readme_html("")
    assert "no README" in readme_html("   \n")


READMES = FIXTURES / "readmes"


def test_the_hostile_fixture_readmes() -> None:
    script = readme_html((READMES / "hostile-script.md").read_text())
    assert not re.search(r"<(script|iframe|style|svg|form|input)\b", script, re.IGNORECASE)
    assert not re.search(r"\son\w+\s*=", script, re.IGNORECASE)
    assert "pwned" not in script  # script contents are dropped, not shown
    assert "this one is inside a code block and must stay visible as text" in script
    assert "Looks like a normal README." in script and "The end." in script

    links = readme_html((READMES / "hostile-links.md").read_text())
    assert re.findall(r'href="([^"]*)"', links) == ["https://replicate.com/nightmareai/real-esrgan"]

    images = readme_html((READMES / "hostile-images.md").read_text())
    for source in re.findall(r'<img src="([^"]*)"', images):
        assert source.startswith("https://"), source
