"""A shared result shows the files its input was given and every player it needs; Remix puts the
kept input files back into the panel's own file inputs (only into one of their kind)."""
# ruff: noqa: F811  (a test takes the imported `launched` fixture as an argument)

from __future__ import annotations

import io
import json
import sqlite3
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from gradio_client import handle_file
from helpers import shared_parts
from launched import LaunchedApp
from PIL import Image
from test_history_persist import launched  # noqa: F401  (its app, as a fixture)

from neurolink_ui.results import NewResult, ResultStore, new_history_id
from neurolink_ui.ui.panels.shared import MAX_PLAYERS, make_open_shared
from neurolink_ui.ui.remix import RemixTarget

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64


def png(path: Path, color: str = "red") -> Path:
    Image.new("RGB", (16, 12), color).save(path)
    return path


def wav(path: Path) -> Path:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10" * 800)
    path.write_bytes(buffer.getvalue())
    return path


def open_shared(store: ResultStore, kept_id: str, me: str) -> dict[str, Any]:
    share_id = store.share(me, kept_id)
    assert share_id is not None
    opened = make_open_shared(store, True, {"avatar", "compare"})
    return shared_parts(opened(SimpleNamespace(query_params={"result": share_id})))


def test_a_shared_avatar_shows_its_portrait_and_narration(tmp_path: Path) -> None:
    portrait, voice = png(tmp_path / "face.png"), wav(tmp_path / "voice.wav")
    video = tmp_path / "talk.mp4"
    video.write_bytes(MP4)
    store = ResultStore(tmp_path / "data")
    me = new_history_id()
    kept = store.add(
        me,
        NewResult(
            kind="avatar",
            model="cjwbw/sadtalker",
            input={"source_image": "<file face.png>", "driven_audio": "<file voice.wav>"},
            input_files=(("source_image", portrait), ("driven_audio", voice)),
            files=(video,),
        ),
    )
    view = open_shared(store, kept.id, me)
    assert view["inputs"].visible
    [shown] = view["inputs"].value
    assert Path(shown["image"]["path"]).read_bytes() == portrait.read_bytes()
    assert view["input_audio"].visible
    assert Path(view["input_audio"].value["path"]).read_bytes() == voice.read_bytes()
    first, *others = view["videos"]
    assert first.visible and Path(first.value["path"]).read_bytes() == MP4
    assert not any(player.visible for player in [*others, *view["audios"]])
    assert not view["gallery"].visible


def test_a_shared_video_comparison_shows_every_cell_labelled(tmp_path: Path) -> None:
    """Three video cells, then two music cells: each file its own player, captioned by its cell."""
    clips = []
    for n in range(3):
        clip = tmp_path / f"clip-{n}.mp4"
        clip.write_bytes(MP4 + bytes([n]))
        clips.append(clip)
    labels = tuple(f"Model {'ABC'[n]} · owner/video-{n}" for n in range(3))
    start = png(tmp_path / "start.png", "blue")
    store = ResultStore(tmp_path / "data")
    me = new_history_id()
    kept = store.add(
        me,
        NewResult(
            kind="compare",
            model="owner/video-0, owner/video-1, owner/video-2",
            files=tuple(clips),
            file_labels=labels,
            input_files=(("image", start),),
        ),
    )
    view = open_shared(store, kept.id, me)
    players = view["videos"]
    assert len(players) == MAX_PLAYERS
    for n in range(3):
        assert players[n].visible and players[n].label == labels[n]
        assert Path(players[n].value["path"]).read_bytes() == clips[n].read_bytes()
    assert not players[3].visible
    assert view["inputs"].visible  # the start frame every cell was made from

    tracks = [wav(tmp_path / f"track-{n}.wav") for n in range(2)]
    music = store.add(
        me,
        NewResult(
            kind="compare",
            model="meta/musicgen, o/other",
            files=tuple(tracks),
            file_labels=("Model A · meta/musicgen", "Model B · o/other"),
        ),
    )
    view = open_shared(store, music.id, me)
    shown = [player for player in view["audios"] if player.visible]
    assert [player.label for player in shown] == ["Model A · meta/musicgen", "Model B · o/other"]
    assert not view["inputs"].visible and not view["input_audio"].visible


def test_remix_puts_kept_files_back_only_into_inputs_of_their_kind(tmp_path: Path) -> None:
    portrait, voice = png(tmp_path / "face.png"), wav(tmp_path / "voice.wav")
    still_video = tmp_path / "still.mp4"  # what a lip-sync model was given for the portrait
    still_video.write_bytes(MP4)
    with gr.Blocks():
        model, preset = gr.Dropdown(), gr.State(None)
        image_in, audio_in = gr.Image(type="filepath"), gr.Audio(type="filepath")
        target = RemixTarget(
            "avatar",
            model,
            preset=preset,
            files={("source_image", "video_input"): image_in, ("driven_audio",): audio_in},
        )
    store = ResultStore(tmp_path / "data")
    me = new_history_id()
    image_model = store.add(
        me,
        NewResult(
            kind="avatar",
            model="cjwbw/sadtalker",
            input_files=(("source_image", portrait), ("driven_audio", voice)),
        ),
    )
    values = dict(zip(target.components, target.values(image_model), strict=True))
    assert Path(values[image_in]).read_bytes() == portrait.read_bytes()
    assert Path(values[audio_in]).read_bytes() == voice.read_bytes()
    assert Path(values[image_in]).is_relative_to(store.files_root)  # the kept copy

    video_model = store.add(
        me,
        NewResult(
            kind="avatar",
            model="o/lipsync",
            input_files=(("video_input", still_video), ("driven_audio", voice)),
        ),
    )
    values = dict(zip(target.components, target.values(video_model), strict=True))
    assert values[image_in] == gr.skip()  # a video is not put into an image input
    assert Path(values[audio_in]).read_bytes() == voice.read_bytes()

    nothing_kept = store.add(me, NewResult(kind="avatar", model="cjwbw/sadtalker"))
    values = dict(zip(target.components, target.values(nothing_kept), strict=True))
    assert values[image_in] == gr.skip() and values[audio_in] == gr.skip()


@pytest.mark.slow
def test_an_image_to_image_run_keeps_its_input_image(launched: LaunchedApp, tmp_path: Path) -> None:
    """Through the app's API, as a visitor runs it: the input image is kept with the result
    (not only its `<file …>` placeholder), byte for byte, and its share view shows it."""
    start = png(tmp_path / "my start.png", "green")
    client = launched.client()
    gallery, status = client.predict(
        "make it autumn",
        model="black-forest-labs/flux-kontext-pro",
        input_image=handle_file(str(start)),
        api_name="/image",
    )
    client.close()
    assert len(gallery) == 1, status
    store = launched.ctx.results
    with sqlite3.connect(store.root / "results.db") as db:
        [(result_id, sent, kept_files)] = db.execute(
            "SELECT id, input, input_files FROM results WHERE prompt = 'make it autumn'"
        ).fetchall()
    [(field_name, [name])] = json.loads(kept_files).items()
    assert json.loads(sent)[field_name].startswith("<file ")  # what History shows and the
    kept = store.files_root / result_id / "inputs" / name  # snippets use: a placeholder
    assert kept.read_bytes() == start.read_bytes()


def test_remix_leaves_a_dropdown_alone_for_a_value_it_does_not_offer(tmp_path: Path) -> None:
    """An edit model ran with its own `match_input_image`: the panel's ratio list has no such
    entry (its "Auto" sends it), so Remix keeps the control's value rather than blank it."""
    with gr.Blocks():
        model = gr.Dropdown()
        ratio = gr.Dropdown([("Auto (as input image)", "auto"), ("1:1", "1:1")], value="auto")
        target = RemixTarget("image", model, controls={("aspect_ratio",): ratio})
    store = ResultStore(tmp_path / "data")
    me = new_history_id()
    for sent, shown in (("match_input_image", gr.skip()), ("1:1", "1:1")):
        kept = store.add(me, NewResult(kind="image", model="o/m", input={"aspect_ratio": sent}))
        assert target.values(kept) == ["o/m", shown]
