"""`python -m neurolink_ui generate …` against the simulator over loopback HTTP: the guide's five
CLI examples, streaming and Ctrl-C as real subprocesses; usage and Replicate errors in-process
through `main(argv)`."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import soundfile
from conftest import TOKEN
from helpers import REPO, free_port, interruptible, stop_process, wait_for_page
from PIL import Image, ImageDraw

from neurolink_ui.cli import main
from neurolink_ui.cli.console import Console
from neurolink_ui.cli.files import output_paths, place_output, save_outputs
from neurolink_ui.cli.parser import build_parser
from neurolink_ui.cli.request import request_from_args
from neurolink_ui.config import Settings
from neurolink_ui.replicate.types import Progress


def cli_env(simulator: object, **extra: str) -> dict[str, str]:
    """The subprocess environment: our simulator, a test token, nothing inherited from REPLICATE_*."""
    base_url = simulator.base_url  # type: ignore[attr-defined]
    assert base_url.startswith("http://127.0.0.1:"), base_url  # never anything but loopback
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env.update(
        REPLICATE_BASE_URL=base_url,
        REPLICATE_API_TOKEN=TOKEN,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neurolink_ui", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A portrait, a start frame and 2 s of narration, made on the spot."""
    portrait = Image.new("RGB", (320, 400), (214, 180, 150))
    draw = ImageDraw.Draw(portrait)
    draw.ellipse((80, 70, 240, 290), fill=(236, 200, 170))
    draw.ellipse((120, 150, 140, 170), fill=(40, 40, 40))
    draw.ellipse((180, 150, 200, 170), fill=(40, 40, 40))
    draw.arc((120, 200, 200, 250), 20, 160, fill=(150, 60, 60), width=5)
    portrait.save(tmp_path / "portrait.png")
    portrait.convert("RGB").save(tmp_path / "input.jpg", quality=90)
    rate = 16000
    t = np.arange(2 * rate) / rate
    speech = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    soundfile.write(tmp_path / "narration.wav", speech.astype(np.float32), rate)
    return tmp_path


def model_posts(simulator: object) -> list[str]:
    return [
        r.path
        for r in simulator.requests  # type: ignore[attr-defined]
        if r.method == "POST" and r.path.endswith("/predictions")
    ]


# ---- the guide's five CLI examples -------------------------------------------------------------


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_guide_llm_prints_the_answer(simulator, tmp_path: Path) -> None:
    done = run_cli(["generate", "Hello", "--provider", "replicate"], cli_env(simulator), tmp_path)
    assert_ok(done)
    assert '"Hello"' in done.stdout  # the simulated LLM quotes the question it was asked
    assert done.stdout.endswith("\n")
    assert "done with meta/meta-llama-3-70b-instruct" in done.stderr
    assert model_posts(simulator) == ["/v1/models/meta/meta-llama-3-70b-instruct/predictions"]


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_guide_image_writes_the_png_without_output_mode(simulator, tmp_path: Path) -> None:
    done = run_cli(
        [
            "generate",
            "A red panda",
            "--provider",
            "replicate",
            "--model",
            "black-forest-labs/flux-1.1-pro",
            "--imageOutput",
            "./panda.png",
        ],
        cli_env(simulator),
        tmp_path,
    )
    assert_ok(done)
    assert done.stdout.strip() == "panda.png"
    with Image.open(tmp_path / "panda.png") as image:
        assert image.format == "PNG"  # the file name asked for PNG and the model was told so
        image.load()
        assert image.width >= 256 and image.height >= 256
    assert model_posts(simulator) == ["/v1/models/black-forest-labs/flux-1.1-pro/predictions"]


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_guide_video_writes_a_decodable_video(simulator, inputs: Path) -> None:
    done = run_cli(
        [
            "generate",
            "smooth pan",
            "--image",
            "./input.jpg",
            "--outputMode",
            "video",
            "--videoProvider",
            "replicate",
            "--videoOutput",
            "./out.mp4",
        ],
        cli_env(simulator),
        inputs,
    )
    assert_ok(done)
    # The default model (wan-video/wan-2.2-i2v-fast) takes the start frame.
    assert "start image was not sent" not in done.stderr
    assert model_posts(simulator) == ["/v1/models/wan-video/wan-2.2-i2v-fast/predictions"]
    # The file is named for the container the model returned (out.mp4, or out.webm for WebM).
    written = Path(done.stdout.strip())
    assert written == Path("out.mp4") and (inputs / written).is_file()
    with av.open(str(inputs / written)) as container:
        assert container.streams.video
        assert written.suffix.lstrip(".") in container.format.name.split(",")
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 2


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_video_output_takes_the_extension_of_the_container_returned(
    simulator, tmp_path: Path
) -> None:
    done = run_cli(
        [
            "generate",
            "a glowing jellyfish",
            "--outputMode",
            "video",
            "--model",
            "atonamy/wan-alpha",
            "--videoOutput",
            "clip.mp4",
        ],
        cli_env(simulator),
        tmp_path,
    )
    assert_ok(done)
    # wan-alpha returns VP9-with-alpha WebM: it is written as clip.webm, never as WebM in .mp4.
    assert done.stdout.strip() == "clip.webm"
    assert not (tmp_path / "clip.mp4").exists()
    assert "written to clip.webm (not clip.mp4)" in done.stderr
    with av.open(str(tmp_path / "clip.webm")) as container:
        assert "webm" in container.format.name.split(",")
        assert container.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")


def test_place_output_converts_still_images_losslessly_or_keeps_the_real_extension(
    tmp_path: Path,
) -> None:
    jpeg = tmp_path / "out-0.jpg"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(jpeg, quality=95)
    console = Console(io.StringIO(), io.StringIO(), live=False)
    (png,) = save_outputs([jpeg], tmp_path / "want.png", "output", console)
    assert png == tmp_path / "want.png"
    with Image.open(png) as converted, Image.open(jpeg) as original:
        assert converted.format == "PNG"
        assert np.array_equal(np.asarray(converted), np.asarray(original))  # no further loss
    assert "converted losslessly to PNG" in console.err.getvalue()
    webm = tmp_path / "output.webm"
    webm.write_bytes(b"\x1a\x45\xdf\xa3 not decoded here")
    assert place_output(webm, tmp_path / "x.mp4")[0] == tmp_path / "x.webm"
    assert place_output(jpeg, tmp_path / "x.jpeg") == (tmp_path / "x.jpeg", None)
    # A lossy target is never a conversion: the JPEG keeps its own extension.
    assert place_output(png, tmp_path / "y.jpg")[0] == tmp_path / "y.png"


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_guide_avatar_writes_a_talking_video_with_audio(simulator, inputs: Path) -> None:
    done = run_cli(
        [
            "generate",
            "--outputMode",
            "avatar",
            "--avatarProvider",
            "replicate",
            "--avatarImage",
            "./portrait.png",
            "--avatarAudio",
            "./narration.wav",
            "--avatarOutput",
            "./avatar.mp4",
        ],
        cli_env(simulator),
        inputs,
    )
    assert_ok(done)
    with av.open(str(inputs / "avatar.mp4")) as container:
        assert container.streams.video and container.streams.audio
        audio_frames = sum(1 for _ in container.decode(audio=0))
    assert audio_frames > 0


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_guide_music_writes_the_requested_duration(simulator, tmp_path: Path) -> None:
    done = run_cli(
        [
            "generate",
            "Lo-fi beat",
            "--outputMode",
            "music",
            "--musicProvider",
            "replicate",
            "--musicTempo",
            "80",
            "--musicDuration",
            "8",
            "--musicOutput",
            "./track.mp3",
        ],
        cli_env(simulator),
        tmp_path,
    )
    assert_ok(done)
    info = soundfile.info(tmp_path / "track.mp3")
    assert info.format == "MP3"  # .mp3 asked MusicGen for output_format mp3
    assert info.duration == pytest.approx(8.0, abs=0.5)
    data, _ = soundfile.read(tmp_path / "track.mp3")
    assert np.abs(data).max() > 0.01  # real sound, not silence
    assert "80 BPM" in done.stderr  # MusicGen has no tempo input: the CLI said where it went


# ---- other behaviour ---------------------------------------------------------------------------


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_kebab_case_flags_and_start_frame_reach_the_model(simulator, inputs: Path) -> None:
    earlier = set(simulator.predictions)
    done = run_cli(
        [
            "generate",
            "a slow zoom",
            "--output-mode",
            "video",
            "--model",
            "wan-video/wan-2.2-i2v-fast",
            "--image",
            "input.jpg",
            "--video-length",
            "5",
            "--video-aspect-ratio",
            "16:9",
            "--video-output",
            "clips/zoom.mp4",
        ],
        cli_env(simulator),
        inputs,
    )
    assert_ok(done)
    assert (inputs / "clips" / "zoom.mp4").stat().st_size > 0  # parent dirs were created
    (prediction,) = [p for p in simulator.predictions.values() if p.id not in earlier]
    assert str(prediction.input["image"]).startswith(("data:image/", "http://127.0.0.1:"))
    assert prediction.input["num_frames"] == 81  # 5 s at the model's 16 fps, as 4n+1 frames


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_default_output_name_takes_the_files_extension(simulator, tmp_path: Path) -> None:
    # An image model id in --model means image mode; no --imageOutput means ./output.<ext>.
    done = run_cli(
        ["generate", "A fox", "--model", "black-forest-labs/flux-schnell"],
        cli_env(simulator),
        tmp_path,
    )
    assert_ok(done)
    assert done.stdout.strip() == "output.png"
    with Image.open(tmp_path / "output.png") as image:
        assert image.format == "PNG"
    assert (tmp_path / "output.png").stat().st_mode & 0o044  # readable like any new file


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_stream_prints_tokens_while_the_prediction_runs(simulator, tmp_path: Path) -> None:
    simulator.config.token_interval = 0.05
    process = subprocess.Popen(
        [sys.executable, "-m", "neurolink_ui", "generate", "Tell me a story", "--stream"],
        env=cli_env(simulator),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = os.read(process.stdout.fileno(), 64)
        assert first, "no text arrived"
        assert process.poll() is None  # text came while the prediction was still generating
        rest, errors = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, errors
    text = (first + rest).decode()
    assert "story" in text and len(text.split()) > 20
    posts = [r for r in simulator.requests if r.path.startswith("/v1/streams/")]
    assert posts, "the text did not come over the SSE stream"


def run_main(
    argv: list[str],
    simulator: object,
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str = TOKEN,
) -> tuple[int, str, str]:
    """`python -m neurolink_ui ARGV` in this process: (exit code, stdout, stderr)."""
    base_url = simulator.base_url  # type: ignore[attr-defined]
    assert base_url.startswith("http://127.0.0.1:"), base_url  # never anything but loopback
    monkeypatch.setenv("REPLICATE_BASE_URL", base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", token)
    monkeypatch.chdir(cwd)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "x", "--outputMode", "bogus"], "invalid choice: 'bogus'"),
        (
            ["generate", "--outputMode", "avatar", "--avatarAudio", "narration.wav"],
            "avatar mode needs --avatarImage",
        ),
        (["generate", "x", "--musicTempo", "80"], "--musicTempo applies to --outputMode music"),
        (["generate", "--outputMode", "image"], "image mode needs a prompt"),
        (["generate", "x", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_usage_errors_exit_2(
    simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code, _, err = run_main(args, simulator, tmp_path, monkeypatch, capsys)
    assert code == 2
    assert message in err
    assert "usage:" in err and "Traceback" not in err
    assert not model_posts(simulator)


def test_unknown_model_exits_1_with_the_actionable_message(
    simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["generate", "Hi", "--model", "nobody/nothing"]
    code, out, err = run_main(argv, simulator, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "error: Model 'nobody/nothing' was not found" in err
    assert "owner/name" in err  # says how to name a model
    assert "Traceback" not in err and out == ""


def test_missing_token_says_how_to_set_one(
    simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(["generate", "Hi"], simulator, tmp_path, monkeypatch, capsys, token="")
    assert code == 1
    assert "error: REPLICATE_API_TOKEN is not set" in err
    assert "python -m neurolink_ui simulator" in err
    assert not simulator.requests  # nothing was sent


def test_missing_input_file_exits_1_before_any_request(
    simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "generate",
        "--outputMode",
        "avatar",
        "--avatarImage",
        "face.png",
        "--avatarAudio",
        "a.wav",
    ]
    code, _, err = run_main(argv, simulator, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert "error: --avatarImage face.png: no such file" in err
    assert not simulator.requests


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_ctrl_c_cancels_the_prediction_at_replicate(simulator, tmp_path: Path) -> None:
    simulator.config.cold_start = 0.2
    simulator.config.run_time = 30.0
    earlier = set(simulator.predictions)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neurolink_ui",
            "generate",
            "A slow panda",
            "--imageOutput",
            "p.png",
        ],
        env=cli_env(simulator),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        deadline = time.monotonic() + 15
        while not (
            ours := [
                p.id
                for p in simulator.predictions.values()
                if p.id not in earlier and p.status == "processing"
            ]
        ):
            assert time.monotonic() < deadline, "the prediction never started"
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        (prediction_id,) = ours
        interrupted_at = time.time()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    cancels = [
        r
        for r in simulator.requests
        if r.method == "POST" and r.path == f"/v1/predictions/{prediction_id}/cancel"
    ]
    assert cancels, [(r.method, r.path) for r in simulator.requests]
    assert cancels[0].time - interrupted_at < 1.0
    assert simulator.predictions[prediction_id].status == "canceled"
    assert not (tmp_path / "p.png").exists()


@pytest.mark.slow  # a `python -m neurolink_ui` subprocess
def test_simulator_command_serves_the_api(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [sys.executable, "-m", "neurolink_ui", "simulator", "--port", "0", "--run-time", "0.1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        account = httpx.get(
            f"{base_url}/v1/account", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        assert account.status_code == 200 and account.json()["username"].startswith("sim-")
        config = httpx.get(f"{base_url}/_sim/config", timeout=5).json()
        assert config["run_time"] == 0.1  # options beyond --host/--port reach the simulator
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


# ---- pure parts --------------------------------------------------------------------------------


def test_several_images_get_numbered_names() -> None:
    files = [Path("/tmp/a.png"), Path("/tmp/b.png"), Path("/tmp/c.png")]
    assert output_paths(files, Path("out/panda.png"), "output") == [
        Path("out/panda.png"),
        Path("out/panda-2.png"),
        Path("out/panda-3.png"),
    ]
    assert output_paths(files[:1], None, "track") == [Path("track.png")]
    assert output_paths(files[:1], Path("shots/fox"), "output") == [Path("shots/fox.png")]


def test_image_output_or_image_model_implies_image_mode() -> None:
    settings = Settings()
    parser = build_parser()

    def mode(*argv: str) -> str:
        return request_from_args(parser.parse_args(["generate", *argv]), settings).mode

    assert mode("A red panda", "--imageOutput", "p.png") == "image"
    assert mode("A red panda", "--model", "black-forest-labs/flux-1.1-pro") == "image"
    assert mode("Hello", "--model", "meta/meta-llama-3-8b-instruct") == "text"
    assert mode("Hello") == "text"
    assert mode("beat", "--output-mode", "music") == "music"


def test_progress_is_one_live_line_on_a_tty_and_plain_lines_otherwise() -> None:
    events = [
        Progress("p1", "starting", 0.5),
        Progress("p1", "starting", 3.0),  # a start this long is a cold boot (the one rule)
        Progress("p1", "processing", 3.5, percent=20.0),
        Progress("p1", "processing", 4.0, percent=60.0, log_tail=("60%|██",)),
    ]
    tty = Console(io.StringIO(), io.StringIO(), live=True)
    plain = Console(io.StringIO(), io.StringIO(), live=False)
    for event in events:
        tty.progress(event)
        plain.progress(event)
    tty.clear()
    live = tty.err.getvalue()
    assert live.count("\r") >= 3 and live.count("\n") == 1  # only the "prediction p1" line
    assert "running 60% · 4.0s" in live
    lines = plain.err.getvalue().splitlines()
    assert lines[0] == "prediction p1"
    assert lines[1:] == [
        "starting · 0.5s",
        "cold boot · 3.0s",
        "running 20% · 3.5s",
        "running 60% · 4.0s · 60%|██",
    ]
    assert tty.out.getvalue() == plain.out.getvalue() == ""  # progress never touches stdout


@pytest.mark.slow
def test_serve_command_serves_the_web_app(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "GRADIO_"))}
    env.update(PYTHONPATH=str(REPO), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "neurolink_ui", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        page = wait_for_page(f"http://127.0.0.1:{port}/", process, lambda: process.communicate()[1])
        assert page.status_code == 200 and "NeuroLink UI" in page.text
    finally:
        stop_process(process)


# Loaded by the child interpreter (sitecustomize): every connect() to an address that is not
# loopback is refused before it leaves the machine, and written down for the test to see.
_LOOPBACK_ONLY = """
import ipaddress, os, socket
_connect = socket.socket.connect
def _guarded(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            with open(os.environ["NL_CONNECT_LOG"], "a") as log:
                log.write(f"{host}\\n")
            raise ConnectionRefusedError(f"test guard: {host} is not loopback")
    return _connect(self, address)
socket.socket.connect = _guarded
"""


def test_generate_without_token_or_base_url_runs_on_the_builtin_simulator(tmp_path: Path) -> None:
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_LOOPBACK_ONLY)
    attempts = tmp_path / "non-loopback.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(guard), str(REPO), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        NL_CONNECT_LOG=str(attempts),
    )
    loaded = subprocess.run(
        [sys.executable, "-c", "import socket; print(socket.socket.connect.__name__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "_guarded"  # the guard is in force in the child
    out = tmp_path / "panda.png"
    done = run_cli(["generate", "A red panda", "--imageOutput", str(out)], env, tmp_path)
    assert_ok(done)
    assert "built-in simulator at http://127.0.0.1:" in done.stderr
    assert "synthetic output" in done.stderr
    assert done.stdout.strip() == str(out)
    with Image.open(out) as image:
        assert image.width > 0 and image.height > 0
    # It talked only to the simulator it started on loopback.
    assert not attempts.exists(), attempts.read_text()

    text = run_cli(["generate", "Hello"], env, tmp_path)
    assert_ok(text)
    assert "synthetic output" in text.stderr and text.stdout.strip()
    assert not attempts.exists()
