"""`python app.py` for the tests, started from a warm interpreter by fork.

A fresh `python app.py` spends ~5 CPU-s importing Gradio and the UI before it reads a setting;
a test run starts a dozen or more, mostly while Chromium keeps both cores busy, so each start
took 10–23 s of a browser module's setup. This zygote is one interpreter per test worker that
has done those imports once; each start forks it and runs the real `app.py` in the child, with
the test's environment, working folder and log file: what app.py does is unchanged, only the
imports are already made. Tests about the process itself (the Dockerfile's command, the CLI,
what shutdown leaves behind) still start a fresh interpreter.

`start(argv, env, cwd, log)` returns an `AppProcess` with the `subprocess.Popen` methods the
tests use. Gradio reads a few settings from the environment when it is imported (its server
name and port defaults, OAuth, hot reload…): a start whose environment differs from the
zygote's in one of those gets a fresh interpreter instead, so it is never served stale ones.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# Read by Gradio at import time (module constants), so a forked app would keep the zygote's; each
# with Gradio's default for when it is unset. GRADIO_TEMP_DIR is the exception handled below: the
# child refreshes the constants made of it.
READ_AT_IMPORT: dict[str, str | None] = {
    "GRADIO_SERVER_NAME": "127.0.0.1",
    "GRADIO_NUM_PORTS": "100",
    "GRADIO_NODE_NUM_PORTS": "100",
    "GRADIO_HOT_RELOAD": "false",
    "GRADIO_WATCH_DIRS": "",
    "GRADIO_WATCH_MODULE_NAME": "app",
    "GRADIO_WATCH_DEMO_NAME": "",
    "GRADIO_WATCH_DEMO_PATH": "",
    "GRADIO_SHARE_SERVER_ADDRESS": None,
    "GRADIO_PROFILING": "",
    "GRADIO_LOCAL_DEV_MODE": None,
    "OAUTH_CLIENT_ID": None,
    "OAUTH_CLIENT_SECRET": None,
    "OAUTH_SCOPES": None,
    "OPENID_PROVIDER_URL": None,
}


def _read_at_import(env: dict[str, str]) -> dict[str, str | None]:
    return {name: env.get(name, default) for name, default in READ_AT_IMPORT.items()}


class AppProcess:
    """An app the zygote forked: its pid, and `poll`/`wait`/`terminate`/`kill`/`returncode` as
    `subprocess.Popen` has them. The zygote reaps it and writes its exit code to `exit_file`."""

    def __init__(self, pid: int, args: list[str], exit_file: Path) -> None:
        self.pid = pid
        self.args = args
        self.exit_file = exit_file
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                self.returncode = int(self.exit_file.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Zygote:
    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.process = subprocess.Popen(
            [sys.executable, __file__],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.folder = Path(tempfile.mkdtemp(prefix="neurolink-zygote-"))
        self.lock = threading.Lock()
        self.count = 0

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> AppProcess:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self.lock:
            self.count += 1
            exit_file = self.folder / f"{self.count}.exit"
            request = {"argv": argv, "env": env, "cwd": str(cwd), "log": str(log)}
            self.process.stdin.write(json.dumps({**request, "exit_file": str(exit_file)}) + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the app zygote exited ({self.process.poll()})")
        return AppProcess(int(json.loads(answer)["pid"]), argv, exit_file)

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # EOF: the zygote stops what it still runs, and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def start(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path
) -> AppProcess | subprocess.Popen[bytes]:
    """`argv` (e.g. `["app.py"]`) run in `cwd` with exactly `env`, its output to `log`: forked
    from the warm zygote, or a fresh interpreter when `env` changes what Gradio reads at import
    (or `cwd` is another copy of the repository)."""
    global _zygote
    with _zygote_lock:
        if _zygote is None:
            _zygote = _Zygote()
            atexit.register(_zygote.close)
        zygote = _zygote
    fresh = Path(cwd).resolve() != REPO  # the zygote has imported this clone's package
    if fresh or _read_at_import(env) != _read_at_import(zygote.env):
        with log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, *argv], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )
    return zygote.start(argv, env, cwd, log)


# ---- the zygote itself (`python tests/app_zygote.py`) ------------------------------------------


def _run_child(request: dict[str, Any]) -> None:
    """In the forked child: become `python <argv>` with the request's environment and log."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout.reconfigure(write_through=True)  # type: ignore[union-attr]
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    temp = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
    for name, module in list(sys.modules.items()):  # Gradio's constants read at import
        if name.startswith("gradio") and hasattr(module, "DEFAULT_TEMP_DIR"):
            module.DEFAULT_TEMP_DIR = temp
    sys.argv = list(request["argv"])
    sys.path[0] = request["cwd"]
    code: int | str | None = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.exit(code)  # as `python app.py` ends: atexit handlers run, a message goes to stderr


def _reap(children: dict[int, Path]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exit_file = children.pop(pid, None)
        if exit_file is not None:
            partial = exit_file.with_suffix(".partial")
            partial.write_text(str(os.waitstatus_to_exitcode(status)))
            partial.replace(exit_file)  # whole or absent, never half-written


def _serve() -> None:
    sys.path.insert(0, str(REPO))
    # What `python app.py` imports before it serves: the expensive part of every start.
    import neurolink_ui.ui.app  # noqa: F401  (and the config module app.py reads first)

    children: dict[int, Path] = {}
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    while True:
        ready = selector.select(timeout=0.05)
        _reap(children)
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:  # the test worker is done: stop what it left running
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            return
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            selector.close()
            _run_child(request)
        children[pid] = Path(request["exit_file"])
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
