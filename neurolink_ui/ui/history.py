"""The History tab: this session's generations, each downloadable and with the code to rerun it."""

from __future__ import annotations

import json

import gradio as gr

from ..snippets import curl_snippet, python_snippet
from .retention import duration_text

_MEDIA = {"image": gr.Image, "video": gr.Video, "avatar": gr.Video, "music": gr.Audio}


def entry_snippets(entry: dict) -> tuple[str, str]:
    """The Python and curl calls that rerun this generation."""
    version = entry.get("version")
    # A community model run by name ran on a version; official models answer "hidden".
    pinned = None if not version or version == "hidden" or ":" in entry["model"] else version
    params = entry.get("params", {})
    return (
        python_snippet(entry["model"], params, pinned),
        curl_snippet(entry["model"], params, pinned),
    )


def entry_markdown(entry: dict) -> str:
    timing = (
        f"predict {entry['predict_time']:.2f} s · " if entry.get("predict_time") is not None else ""
    )
    pinned = entry.get("version") not in (None, "", "hidden")
    version = f" · version `{entry['version'][:12]}`" if pinned else ""
    params = json.dumps(entry.get("params", {}), ensure_ascii=False)
    if len(params) > 400:
        params = params[:400] + "…"
    prompt = entry.get("prompt") or ""
    if entry.get("prompt_file"):
        prompt += " *(shortened: the full text is the .txt under Download)*"
    return (
        f"**{entry['kind'].capitalize()}** · {entry['created']} · `{entry['model']}`{version} · "
        f"{timing}total {entry.get('wall_time', 0):.2f} s\n\n"
        f"> {prompt}\n\n<sub>Parameters: `{params}`</sub>"
    )


def build_history_panel(generations: gr.State, output_ttl: float = 86400.0) -> None:
    gr.Markdown(
        "Everything generated in this browser session, newest first. Outputs are kept on this "
        f"server for {duration_text(output_ttl)}, then removed (Replicate deletes its copies "
        "after an hour); download what you want to keep."
    )

    @gr.render(inputs=[generations])
    def render_history(entries: list[dict] | None) -> None:
        if not entries:
            gr.Markdown("*Nothing yet: generate something in another tab.*")
            return
        for index, entry in enumerate(entries):
            with gr.Group():
                gr.Markdown(entry_markdown(entry), padding=True)
                files = entry.get("files") or []
                media = _MEDIA.get(entry["kind"])
                if media is gr.Image and files:
                    gr.Gallery(
                        files,
                        columns=4,
                        height=320,
                        object_fit="contain",
                        label="Images",
                        key=f"h-{index}-media",
                    )
                elif media is not None and files:
                    media(files[0], label=entry["kind"].capitalize(), key=f"h-{index}-media")
                elif entry.get("text"):
                    gr.Markdown(entry["text"][:2000], padding=True)
                downloads = [*files, *([entry["prompt_file"]] if entry.get("prompt_file") else [])]
                if downloads:
                    gr.File(downloads, label="Download", key=f"h-{index}-files")
                with gr.Accordion("Run it in code", open=False):
                    python, curl = entry_snippets(entry)
                    gr.Code(python, language="python", label="Python (httpx)")
                    gr.Code(curl, language="shell", label="curl")
