"""Search result cards and the model card: hostile text and URLs from the API stay inert."""

from __future__ import annotations

import json

import pytest

from neurolink_ui.modalities.common import InputProblem
from neurolink_ui.modalities.forms import FormField
from neurolink_ui.replicate.schema import ModelInfo
from neurolink_ui.ui.panels.explore_cards import card_html, checked_query, merged_input, model_card


def test_a_card_escapes_text_and_loads_covers_only_over_https() -> None:
    hostile = {
        "model": "evil/<script>x</script>",
        "description": '<img src=x onerror="steal()"> [link](javascript:alert(1))',
        "run_count": 1234,
        "is_official": True,
        "cover_image_url": "http://tracker.example/pixel.png",
    }
    html = card_html(hostile)
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert "tracker.example" not in html  # an http cover never reaches the page
    assert "nl-cover-none" in html and "official" in html and "1.2k runs" in html
    https = card_html({**hostile, "cover_image_url": "https://replicate.delivery/c.webp"})
    assert 'src="https://replicate.delivery/c.webp"' in https
    local = card_html({**hostile, "cover_file": "/tmp/o/covers/c.webp"})
    assert 'src="/gradio_api/file=/tmp/o/covers/c.webp"' in local


def test_queries_are_checked() -> None:
    assert checked_query("  upscale ") == "upscale"
    for bad in ("", "   ", None, 5, "x" * 10_000):
        with pytest.raises(InputProblem):
            checked_query(bad)


def test_a_model_description_cannot_link_or_load_images() -> None:
    info = ModelInfo(ref="a/b", description="![x](http://t.example/p.png) [y](javascript:z) <b>")
    markdown = model_card(info).markdown()
    assert "\\](" in markdown or "\\]\\(" in markdown  # escaped, not links
    assert "\\[" in markdown and "\\!" in markdown
    assert "<b>" not in markdown


def test_form_changes_keep_what_the_json_box_set() -> None:
    fields = [FormField(name="scale", kind="number", label="Scale", default=4)]
    merged = merged_input(json.dumps({"scale": 2, "hidden_knob": 7}), fields, [8])
    assert json.loads(merged) == {"scale": 8, "hidden_knob": 7}
    # Back to the model's default: left out, so the model decides.
    assert json.loads(merged_input(merged, fields, [4])) == {"hidden_knob": 7}


def test_a_shared_runs_input_is_fitted_for_remix_and_its_files_named() -> None:
    """Remix of a shared Explore run: values the schema takes go back; recorded files (their
    placeholders) and values it now refuses are named, never sent."""
    from neurolink_ui.replicate.schema import InputSchema
    from neurolink_ui.ui.panels.explore_cards import REMIXED_NOTE, remixed_input

    properties = {
        "image": {"type": "string", "format": "uri"},
        "scale": {"type": "number", "minimum": 0, "maximum": 10},
        "refs": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "face_enhance": {"type": "boolean"},
    }
    schema = InputSchema.from_openapi(
        {"components": {"schemas": {"Input": {"type": "object", "properties": properties}}}}
    )
    stored = {
        "image": "<file photo.png>",
        "refs": ["data:image/png;base64,…"],
        "scale": 4,
        "face_enhance": True,
        "gone": 1,  # an input the model no longer has
    }
    values, note = remixed_input(schema, stored)
    assert values == {"scale": 4, "face_enhance": True}
    assert note.startswith(REMIXED_NOTE)
    assert "`image`" in note and "`refs`" in note and "gone" in note
    values, note = remixed_input(schema, {"scale": 2, "image": "https://example.com/a.png"})
    assert values == {"scale": 2, "image": "https://example.com/a.png"} and note == REMIXED_NOTE


def test_a_backslash_before_a_bracket_does_not_make_a_live_link() -> None:
    """Issue 20 item 7a: `\\[x\\](url)` once became `\\\\[x\\\\](url)` — a live link."""
    from markdown_it import MarkdownIt

    for description in (
        "\\[Sign in\\](http://127.0.0.1:9/phish)",
        "\\![p\\](http://127.0.0.1:9/p.png)",
        "\\<img src=http://127.0.0.1:9/p.png>",
    ):
        markdown = model_card(ModelInfo(ref="a/b", description=description)).markdown()
        rendered = MarkdownIt("commonmark").render(markdown)
        assert "<a " not in rendered and "<img" not in rendered, rendered
        assert "127.0.0.1:9" in rendered  # shown, as text
