"""A throwaway PostgreSQL server on loopback (Debian's package), for the tests and the bench.

PostgreSQL refuses to run as root: when we are root it is initialised and started as the
`postgres` user, in a temporary folder that user owns. For the tests durability is off (fsync, full
pages): the data is thrown away with the folder. Stopped with a fast shutdown through `pg_ctl`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """The server could not be found, initialised or started (the message says why)."""


def server_binaries() -> Path:
    """The newest installed server's binaries (/usr/lib/postgresql/<version>/bin)."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL's server is missing (/usr/lib/postgresql/*/bin/initdb): install Debian's "
            "postgresql package (scripts/test.sh does)"
        )
    return found[-1]


@contextlib.contextmanager
def postgres_server(port: int, *, durable: bool = False) -> Iterator[str]:
    """A server on 127.0.0.1:`port` for as long as the block runs; its `postgres` database's URL.
    `durable`: fsync and full-page writes on, as a production server has them (the bench's
    figures); off for the tests, whose data is thrown away."""
    import psycopg

    bin_dir = server_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="neurolink-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "PostgreSQL cannot run as root and there is no `postgres` user"
            ) from None
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data = workdir / "data"
    process: subprocess.Popen[bytes] | None = None
    try:
        initdb = subprocess.run(
            [*as_owner, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise PostgresUnavailable(f"PostgreSQL's initdb failed: {initdb.stderr[-2000:]}")
        log = workdir / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*as_owner, str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1",
                 "-p", str(port), "-k", str(workdir),
                 *([] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off",
                                       "-c", "full_page_writes=off"])],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise PostgresUnavailable(
                        f"PostgreSQL did not start: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)
        yield url
    finally:
        if process is not None:
            subprocess.run(
                [*as_owner, str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                capture_output=True,
            )  # fmt: skip
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def new_database(server_url: str) -> str:
    """A fresh, empty database on the server; its URL."""
    import psycopg

    name = f"neurolink_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"
