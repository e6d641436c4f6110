"""Replicas (issue 25): what keeping results in PostgreSQL costs against SQLite, and a share link
opened on another replica.

    python -m bench.replicas_bench [--rounds 40] [--opens 30] [--database-url URL]

Without `--database-url` it starts its own PostgreSQL on loopback (bench/postgres.py; Debian's
package, as the `postgres` user when run as root). Everything stays on 127.0.0.1.

1. Recording: `ResultStore.add` of one image result (a 110 KB file, a prompt, its input) — what
   the run core hands every finished run to, in a worker thread — on SQLite and on PostgreSQL,
   round by round alternately (the machine's load hits both alike); then `list` (History's
   read) and `shared` (a link's read). Each store has its own History, so both hold the same
   number of rows throughout.
2. A share link opened on the other replica: two `python app.py` processes on one database and
   one data folder; this process's store (a third replica) keeps and shares a result, and each
   app answers `GET /?result=<share id>` (its middleware reads the result from the database for
   the link card's meta tags) — B first, the other replica, its first open of that result —
   against `GET /` (the same page without a result) on the same app, alternately. Then the same
   on one SQLite app.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .common import Spread, free_port
from .postgres import new_database, postgres_server
from .subprocess_bench import app_processes, simulator_process


def _image(folder: Path, index: int) -> Path:
    """A 110 KB file standing for one output image (the simulator's PNGs are 100–145 KB)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"out-{index}.png"
    path.write_bytes(index.to_bytes(4, "big") * (110_000 // 4))
    return path


def _record(index: int, folder: Path) -> Any:
    from neurolink_ui.results import NewResult

    prompt = f"A lighthouse on a cliff at dawn, watercolor, take {index}"
    return NewResult(
        kind="image",
        model="black-forest-labs/flux-1.1-pro",
        prompt=prompt,
        input={"prompt": prompt, "aspect_ratio": "1:1", "output_format": "png"},
        files=(_image(folder, index),),
        wall_time=2.0,
        predict_time=1.5,
    )


def _ms(seconds: list[float]) -> Spread:
    return Spread.of([s * 1000 for s in seconds])


def recording(database_url: str, rounds: int, work: Path) -> dict[str, Any]:
    from neurolink_ui.results import ResultStore, new_history_id

    stores = {
        "sqlite": ResultStore(work / "sqlite"),
        "postgres": ResultStore(work / "postgres", database_url=database_url),
    }
    histories = {name: new_history_id() for name in stores}
    times: dict[str, dict[str, list[float]]] = {
        n: {"add": [], "list": [], "shared": []} for n in stores
    }
    try:
        for index in range(rounds):
            order = list(stores) if index % 2 == 0 else list(reversed(stores))
            for name in order:
                store, me = stores[name], histories[name]
                record = _record(index, work / "outputs" / name)
                started = time.perf_counter()
                kept = store.add(me, record)
                times[name]["add"].append(time.perf_counter() - started)
                share_id = store.share(me, kept.id)
                started = time.perf_counter()
                store.list(me, 50)
                times[name]["list"].append(time.perf_counter() - started)
                started = time.perf_counter()
                store.shared(share_id)
                times[name]["shared"].append(time.perf_counter() - started)
    finally:
        for store in stores.values():
            store.close()
    return {name: {op: _ms(v) for op, v in ops.items()} for name, ops in times.items()}


def _alternate(client: httpx.Client, urls: dict[str, str], opens: int) -> dict[str, Spread]:
    times: dict[str, list[float]] = {name: [] for name in urls}
    for index in range(opens):
        order = list(urls) if index % 2 == 0 else list(reversed(urls))
        for name in order:
            started = time.perf_counter()
            answer = client.get(urls[name])
            times[name].append(time.perf_counter() - started)
            answer.raise_for_status()
    return {name: _ms(v) for name, v in times.items()}


def _share_in(root: Path, database_url: str | None, work: Path) -> str:
    from neurolink_ui.results import ResultStore, new_history_id

    store = ResultStore(root, database_url=database_url)
    try:
        me = new_history_id()
        kept = store.add(me, _record(0, work / "share-outputs"))
        share_id = store.share(me, kept.id)
        assert share_id
        return share_id
    finally:
        store.close()


def share_opens(database_url: str, opens: int, work: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with simulator_process() as sim, httpx.Client(timeout=60, trust_env=False) as client:
        shared = work / "shared"
        env = {"NEUROLINK_DATA_DIR": str(shared), "NEUROLINK_DATABASE_URL": database_url}
        launches = [(work / "a", "app.py"), (work / "b", "app.py")]
        with app_processes(sim.base, launches, env) as (_a, b):
            share_id = _share_in(shared / "results", database_url, work)
            started = time.perf_counter()
            first = client.get(f"{b.url}?result={share_id}")
            figures["postgres_first_open_ms"] = (time.perf_counter() - started) * 1000
            assert "og:title" in first.text, "the other replica did not find the shared result"
            figures["postgres"] = _alternate(
                client, {"link": f"{b.url}?result={share_id}", "page": b.url}, opens
            )
        alone = work / "alone"
        env = {"NEUROLINK_DATA_DIR": str(alone)}
        with app_processes(sim.base, [(work / "c", "app.py")], env) as (one,):
            share_id = _share_in(alone / "results", None, work)
            figures["sqlite"] = _alternate(
                client, {"link": f"{one.url}?result={share_id}", "page": one.url}, opens
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--opens", type=int, default=30)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="neurolink-replicas-bench-"))
    try:
        if args.database_url:
            server = args.database_url
            results = _run(server, args, work)
        else:
            # Durable, as a production server: commits wait for the disk, as SQLite's do.
            with postgres_server(free_port(), durable=True) as server:
                results = _run(server, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2, default=lambda s: s.__dict__))


def _run(server: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    load = Path("/proc/loadavg").read_text().split()[:3]
    recorded = recording(new_database(server), args.rounds, work)
    opened = share_opens(new_database(server), args.opens, work)
    print(
        "load average before:",
        " ".join(load),
        "after:",
        *Path("/proc/loadavg").read_text().split()[:3],
    )
    print(f"recording, {args.rounds} rounds alternating (ms):")
    for op in ("add", "list", "shared"):
        sqlite, postgres = recorded["sqlite"][op], recorded["postgres"][op]
        print(
            f"  {op:7} SQLite {sqlite.text(' ms', 1):28} PostgreSQL {postgres.text(' ms', 1):28} "
            f"difference {postgres.median - sqlite.median:+.1f} ms"
        )
    for name in ("postgres", "sqlite"):
        link, page = opened[name]["link"], opened[name]["page"]
        where = "B, the other replica" if name == "postgres" else "one SQLite app"
        print(
            f"share link on {where}: GET /?result= {link.text(' ms', 1)} vs GET / "
            f"{page.text(' ms', 1)}: +{link.median - page.median:.1f} ms"
        )
    print(f"  B's first open of the link: {opened['postgres_first_open_ms']:.1f} ms")
    return {"recording": recorded, "share_opens": opened, "load": load}


if __name__ == "__main__":
    main()
