"""`python bench/bare_app.py`: a bare Gradio Blocks app of five tabs, the first visit's reference.

What a page of the same shape costs with nothing of ours: a `gr.ChatInterface`, then four tabs of
a prompt, a model dropdown, a Generate button and a media output (images, video, avatar video,
music). The Image tab's Generate is a naive Replicate call (`Prefer: wait` create, polls if it
outlives the wait, the output downloaded), so per-run costs have a reference too. Same
environment as app.py (REPLICATE_BASE_URL, REPLICATE_API_TOKEN, GRADIO_SERVER_NAME/PORT; the
base URL must be loopback). Bench code only.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import httpx

BASE = os.environ.get("REPLICATE_BASE_URL", "http://127.0.0.1:9").rstrip("/")
TOKEN = os.environ.get("REPLICATE_API_TOKEN", "")
if httpx.URL(BASE).host not in ("127.0.0.1", "localhost"):
    raise SystemExit("the bare app talks to a loopback simulator only")
OUT = Path(tempfile.mkdtemp(prefix="bare-app-"))
IMAGE_MODELS = ["black-forest-labs/flux-schnell", "black-forest-labs/flux-dev"]

_http: httpx.AsyncClient | None = None


def http() -> httpx.AsyncClient:
    global _http
    if _http is None:
        _http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120.0, trust_env=False
        )
    return _http


async def image(prompt: str, model: str) -> list[str]:
    """The naive call: create and hold, poll while it runs, download the first output."""
    client = http()
    created = await client.post(
        f"{BASE}/v1/models/{model}/predictions",
        json={"input": {"prompt": prompt, "megapixels": "0.25"}},
        headers={"Prefer": "wait=60"},
    )
    created.raise_for_status()
    prediction = created.json()
    while prediction["status"] not in ("succeeded", "failed", "canceled", "aborted"):
        await asyncio.sleep(0.5)
        polled = await client.get(f"{BASE}/v1/predictions/{prediction['id']}")
        polled.raise_for_status()
        prediction = polled.json()
    if prediction["status"] != "succeeded":
        raise gr.Error(str(prediction.get("error")))
    output = prediction["output"]
    url = output[0] if isinstance(output, list) else output
    data = (await client.get(url)).content
    path = OUT / f"{prediction['id']}.webp"
    path.write_bytes(data)
    return [str(path)]


def chat(message: str, history: list[dict[str, str]]) -> Iterator[str]:
    answer = ""
    for word in f"You said: {message}".split():
        answer += word + " "
        yield answer


async def nothing(prompt: str, model: str) -> None:
    return None


def build() -> gr.Blocks:
    with gr.Blocks(title="Bare Gradio app") as demo:
        gr.Markdown("# Bare Gradio app")
        with gr.Tabs():
            with gr.Tab("Chat"):
                gr.ChatInterface(chat)
            media = (
                ("Image", gr.Gallery, image),
                ("Video", gr.Video, nothing),
                ("Avatar", gr.Video, nothing),
                ("Music", gr.Audio, nothing),
            )
            for title, output, fn in media:
                with gr.Tab(title):
                    prompt = gr.Textbox(label="Prompt")
                    model = gr.Dropdown(IMAGE_MODELS, value=IMAGE_MODELS[0], label="Model")
                    run = gr.Button("Generate", variant="primary")
                    result = output(label=title)
                    run.click(fn, [prompt, model], [result], api_name=title.lower())
    demo.queue(default_concurrency_limit=None, max_size=512)
    return demo


if __name__ == "__main__":
    build().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_threads=512,
    )
