"""Shipping: the Spaces front matter and `app.demo`, the Dockerfile's facts and its exact start
command serving the app, and what .dockerignore keeps out of the image."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO, free_port, stop_process, wait_for_page

SPACES_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


def clean_env(**extra: str) -> dict[str, str]:
    """No token (the app starts its built-in simulator), nothing phoning home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "GRADIO_"))}
    env.update(
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


# ---- Hugging Face Spaces -----------------------------------------------------------------------


def front_matter() -> dict:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "README.md must open with the Spaces front matter between --- lines"
    data = yaml.safe_load(match[1])
    assert isinstance(data, dict)
    return data


def gradio_pin() -> str:
    text = (REPO / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(r"^gradio==([\w.]+)\s*$", text, re.MULTILINE)
    assert match, "requirements.txt must pin gradio exactly"
    return match[1]


def test_spaces_front_matter() -> None:
    meta = front_matter()
    assert isinstance(meta["title"], str) and meta["title"].strip()
    emoji = meta["emoji"]
    assert isinstance(emoji, str) and 1 <= len(emoji) <= 3 and not emoji.isascii()
    assert meta["colorFrom"] in SPACES_COLORS and meta["colorTo"] in SPACES_COLORS
    assert meta["sdk"] == "gradio"
    assert str(meta["sdk_version"]) == gradio_pin()
    assert meta["app_file"] == "app.py" and (REPO / "app.py").is_file()
    assert isinstance(meta["short_description"], str)
    assert 0 < len(meta["short_description"]) <= 60
    assert isinstance(meta["pinned"], bool)


def test_the_pinned_gradio_is_the_one_tested() -> None:
    import gradio

    assert gradio.__version__ == gradio_pin()


@pytest.mark.slow
def test_app_exposes_demo_without_launching() -> None:
    probe = (
        "import app, gradio as gr\n"
        "assert isinstance(app.demo, gr.Blocks), type(app.demo)\n"
        "assert not app.demo.is_running and getattr(app.demo, 'local_url', None) is None\n"
        "print('simulated', app.demo.neurolink_context.simulated_by_default)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=90,  # returns at once: a launched app would block until the timeout
    )
    assert done.returncode == 0, done.stderr
    assert "simulated True" in done.stdout  # no token: the built-in simulator, as documented


# ---- the Dockerfile ----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def env_pairs(arguments: str) -> list[tuple[str, str]]:
    return [tuple(item.split("=", 1)) for item in shlex.split(arguments)]  # type: ignore[misc]


def index_of(instructions: list[tuple[str, str]], keyword: str, contains: str = "") -> int:
    for index, (name, arguments) in enumerate(instructions):
        if name == keyword and contains in arguments:
            return index
    raise AssertionError(f"no {keyword} {contains!r} in the Dockerfile")


def test_dockerfile_facts() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")

    # A uid-1000 user with a HOME, as Spaces' Docker runtime expects, before anything is copied.
    user_add = index_of(steps, "RUN", "useradd")
    assert re.search(r"(--uid|-u)\s+1000\b", steps[user_add][1])
    switch = index_of(steps, "USER")
    assert steps[switch][1] == "user" and switch > user_add
    env: dict[str, str] = {}
    for name, arguments in steps:
        if name == "ENV":
            env.update(dict(env_pairs(arguments)))
    assert env["HOME"] == "/home/user"
    workdir = index_of(steps, "WORKDIR")
    assert steps[workdir][1] == "$HOME/app"
    copies = [i for i, (name, _) in enumerate(steps) if name == "COPY"]
    assert copies and workdir < copies[0] and switch < copies[0]
    assert all(steps[i][1].startswith("--chown=user ") for i in copies)
    assert not any("chown -R" in arguments for _, arguments in steps)

    # Requirements in their own cached layer: copied alone, installed with the lock, then the code.
    assert steps[copies[0]][1].split()[1:] == ["requirements.txt", "constraints.txt", "."]
    install = index_of(steps, "RUN", "pip install")
    assert "--no-cache-dir" in steps[install][1] and "-r requirements.txt" in steps[install][1]
    assert "-c constraints.txt" in steps[install][1]
    assert copies[0] < install < copies[1]
    assert steps[copies[1]][1] == "--chown=user . ."

    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0"
    assert env["GRADIO_SERVER_PORT"] == "7860"
    assert env["GRADIO_TEMP_DIR"].startswith("$HOME/")  # the user's own, writable
    assert index_of(steps, "RUN", "mkdir -p") > switch  # created by the user, so owned by it
    assert "REPLICATE_API_TOKEN" not in env  # secrets are runtime env vars, never baked in
    assert ("EXPOSE", "7860") in steps

    health = steps[index_of(steps, "HEALTHCHECK")][1]
    assert "curl" not in health and "wget" not in health
    check = json.loads(health[health.index("CMD") + 3 :])
    assert check[:2] == ["python", "-c"] and "urllib" in check[2]
    assert "http://127.0.0.1:7860/" in check[2]

    assert steps[-1][0] == "CMD"
    assert json.loads(steps[-1][1]) == ["python", "app.py"]


def image_environment(home: Path, port: int) -> dict[str, str]:
    """The Dockerfile's ENV in order, with HOME at `home`, bound to loopback on `port`."""
    env = clean_env(HOME=str(home))
    for name, arguments in dockerfile():
        if name != "ENV":
            continue
        for key, value in env_pairs(arguments):
            value = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], ""), value)
            env[key] = str(home) if key == "HOME" else value
    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0"
    # Loopback in the test: 0.0.0.0 would listen on every interface of this machine.
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    return env


def run_healthcheck(port: int, env: dict[str, str]) -> int:
    health = next(arguments for name, arguments in dockerfile() if name == "HEALTHCHECK")
    command = json.loads(health[health.index("CMD") + 3 :])
    command = [sys.executable if part == "python" else part for part in command]
    command[2] = command[2].replace(":7860/", f":{port}/")
    return subprocess.run(command, env=env, capture_output=True, timeout=20).returncode


@pytest.mark.slow
def test_the_images_start_command_serves_the_app(tmp_path: Path) -> None:
    port = free_port()
    env = image_environment(tmp_path / "home", port)
    Path(env["GRADIO_TEMP_DIR"]).mkdir(parents=True)  # the image's RUN mkdir -p
    command = json.loads(dockerfile()[-1][1])
    command = [sys.executable if part == "python" else part for part in command]
    process = subprocess.Popen(
        command,
        cwd=REPO,  # WORKDIR $HOME/app holds the repository's files
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        page = wait_for_page(url, process, lambda: process.communicate()[1])
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert "gradio" in page.text.lower() and "NeuroLink UI" in page.text
        assert run_healthcheck(port, env) == 0
    finally:
        stop_process(process)
    assert run_healthcheck(port, env) != 0  # and it notices when the app is gone


# ---- .dockerignore -----------------------------------------------------------------------------


def ignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip().strip("/") for line in lines if line.strip()]
    return [p for p in patterns if not p.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for patterns without `!`: a path is out when it or a parent matches."""
    parts = path.split("/")
    for pattern in patterns:
        assert not pattern.startswith("!"), "negations are not modelled here"
        if pattern.startswith("**/"):
            rest = pattern[3:].split("/")
            for start in range(len(parts)):
                if _match(parts[start:], rest):
                    return True
        elif _match(parts, pattern.split("/")):
            return True
    return False


def _match(parts: list[str], pattern: list[str]) -> bool:
    """`pattern` matches `parts` or one of its parent directories, one component per segment."""
    return len(parts) >= len(pattern) and all(
        fnmatch.fnmatchcase(part, segment) for part, segment in zip(parts, pattern, strict=False)
    )


def build_context() -> set[str]:
    """The files `docker build .` would send, pruning ignored directories as Docker does."""
    patterns = ignore_patterns()
    sent: set[str] = set()
    for root, dirs, files in os.walk(REPO):
        relative_root = Path(root).relative_to(REPO).as_posix()
        prefix = "" if relative_root == "." else relative_root + "/"
        dirs[:] = [d for d in dirs if not ignored(prefix + d, patterns)]
        sent.update(prefix + f for f in files if not ignored(prefix + f, patterns))
    return sent


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        "tests/cli/test_cli.py",
        "neurolink_ui/__pycache__/cli.cpython-311.pyc",
        "neurolink_ui/replicate/__pycache__/x.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        "bench/results/run.json",
        ".env",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert ignored(path, ignore_patterns())


def test_build_context_has_the_app_and_nothing_else() -> None:
    sent = build_context()
    for needed in (
        "app.py",
        "requirements.txt",
        "constraints.txt",
        "neurolink_ui/__init__.py",
        "neurolink_ui/cli/__init__.py",
        "neurolink_ui/ui/app.py",
        "neurolink_ui/simulator/catalog.py",
        "neurolink_ui/catalog/models/meta__musicgen.json",  # the catalogue is data the app reads
        "neurolink_ui/catalog/retired.json",
    ):
        assert needed in sent
    assert not [p for p in sent if p.startswith(("tests/", ".git/", "bench/results/"))]
    assert not [p for p in sent if "__pycache__" in p or p.endswith(".pyc")]
