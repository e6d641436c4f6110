"""ResultStore on real SQLite files: keeping, sharing, deleting, the TTL sweep, caps, hostile ids."""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from neurolink_ui.results import NewResult, ResultStore, new_history_id, valid_share_id
from neurolink_ui.results.store import PROMPT_FILE, PROMPT_FILE_CHARS


def output(folder: Path, name: str, data: bytes = b"\x89PNG fake image bytes") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def image_result(files: tuple[Path, ...], prompt: str = "a red fox") -> NewResult:
    return NewResult(
        kind="image",
        model="black-forest-labs/flux-schnell",
        version="hidden",
        prompt=prompt,
        input={"prompt": prompt, "num_outputs": 1},
        files=files,
        predict_time=1.25,
        wall_time=2.5,
        cold_boot=True,
        notes=("a note",),
    )


def test_a_result_outlives_its_session_folder_and_the_process(tmp_path: Path) -> None:
    session = tmp_path / "outputs" / "session"
    source = output(session, "out-0.png")
    me = new_history_id()
    store = ResultStore(tmp_path / "data")
    kept = store.add(me, image_result((source,)))
    source.unlink()  # the session's output expires sooner
    store.close()

    reopened = ResultStore(tmp_path / "data")
    [again] = reopened.list(me)
    assert again.id == kept.id and again.prompt == "a red fox"
    assert again.input == {"prompt": "a red fox", "num_outputs": 1}
    assert again.files[0].read_bytes() == b"\x89PNG fake image bytes"
    assert again.files[0].is_relative_to(reopened.files_root)
    assert (again.predict_time, again.wall_time, again.cold_boot) == (1.25, 2.5, True)
    assert again.notes == ("a note",)
    reopened.close()


def test_the_full_prompt_and_input_are_kept(tmp_path: Path) -> None:
    long_prompt = "word " * 2000  # 10,000 characters
    store = ResultStore(tmp_path)
    kept = store.add(new_history_id(), image_result((), prompt=long_prompt))
    assert kept.prompt == long_prompt and kept.input["prompt"] == long_prompt
    assert len(long_prompt) > PROMPT_FILE_CHARS
    assert kept.prompt_file is not None and kept.prompt_file.name == PROMPT_FILE
    assert kept.prompt_file.read_text() == long_prompt


def test_entries_are_per_history_newest_first(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    me, other = new_history_id(), new_history_id()
    first = store.add(me, image_result((), "first"), now=100.0)
    second = store.add(me, image_result((), "second"), now=200.0)
    store.add(other, image_result((), "someone else's"), now=300.0)
    assert [r.id for r in store.list(me)] == [second.id, first.id]
    assert store.get(other, first.id) is None  # another History cannot read it
    assert not store.delete(other, first.id)  # nor delete it
    assert store.share(other, first.id) is None  # nor share it
    assert store.count(me) == 2


def test_delete_and_clear_remove_the_files_from_disk(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "data")
    me = new_history_id()
    one = store.add(me, image_result((output(tmp_path / "s", "a.png"),)))
    two = store.add(me, image_result((output(tmp_path / "s", "b.png"),)))
    folder_one, folder_two = one.files[0].parent, two.files[0].parent
    assert folder_one.is_dir() and folder_two.is_dir()

    assert store.delete(me, one.id)
    assert not folder_one.exists() and store.get(me, one.id) is None
    assert folder_two.is_dir()

    assert store.clear(me) == 1
    assert not folder_two.exists() and store.list(me) == []
    assert list(store.files_root.iterdir()) == []


def test_share_ids_are_long_random_and_stable(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    me = new_history_id()
    kept = store.add(me, image_result(()))
    share_id = store.share(me, kept.id)
    assert share_id is not None and len(share_id) >= 32  # 24 random bytes, URL-safe
    assert share_id != kept.id
    assert store.share(me, kept.id) == share_id  # sharing again gives the same link
    shared = store.shared(share_id)
    assert shared is not None and shared.id == kept.id
    assert store.add(me, image_result(())).share_id is None  # nothing shared until asked
    store.delete(me, kept.id)
    assert store.shared(share_id) is None


def test_ttl_sweep_removes_old_results_and_their_files(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, ttl=3600.0)
    me = new_history_id()
    old = store.add(me, image_result((output(tmp_path / "s", "old.png"),)), now=1000.0)
    new = store.add(me, image_result((output(tmp_path / "s", "new.png"),)), now=4000.0)
    assert store.sweep(now=4700.0) == 1
    assert [r.id for r in store.list(me)] == [new.id]
    assert not old.files[0].parent.exists() and new.files[0].exists()


def test_ttl_zero_keeps_results(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, ttl=0)
    me = new_history_id()
    store.add(me, image_result(()), now=1.0)
    assert store.sweep(now=10**12) == 0 and store.count(me) == 1


def test_caps_per_history_and_on_disk(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "data", max_per_history=3, disk_cap=250)
    me = new_history_id()
    kept = [store.add(me, image_result(()), now=float(i)) for i in range(5)]
    assert [r.id for r in store.list(me)] == [r.id for r in reversed(kept[2:])]
    assert not (store.files_root / kept[0].id).exists()

    other = new_history_id()
    # A result's bytes are its files and its row's text: room for two of these, not three.
    store.disk_cap = 10**9  # (set from this one's size below)
    row = store.add(new_history_id(), image_result((output(tmp_path / "p", "p.png", b"x" * 100),)))
    store.disk_cap = store.disk_usage() - row.size + int(row.size * 2.5)
    big = [
        store.add(other, image_result((output(tmp_path / "s", f"{i}.png", b"x" * 100),)), 10.0 + i)
        for i in range(4)
    ]
    assert store.disk_usage() <= store.disk_cap
    left = {r.id for r in store.list(other)}
    assert big[-1].id in left and big[0].id not in left
    assert not big[0].files[0].exists()


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "../../etc/passwd",
        "a" * 10_000,
        "x' OR '1'='1",
        "0" * 21,
        None,
        42,
        {"id": "x"},
        "abc\x00def" * 8,
    ],
)
def test_hostile_ids_are_refused_without_a_query_or_a_path(tmp_path: Path, hostile: object) -> None:
    store = ResultStore(tmp_path)
    me = new_history_id()
    store.add(me, image_result(()))
    assert store.shared(hostile) is None
    assert valid_share_id(hostile) is None
    with pytest.raises(ValueError):
        store.list(hostile)  # type: ignore[arg-type]
    assert store.get(me, hostile) is None  # type: ignore[arg-type]
    assert not store.delete(me, hostile)  # type: ignore[arg-type]
    assert store.count(me) == 1


def test_file_names_from_outputs_never_escape_the_folder(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "data")
    weird = output(tmp_path / "s", "..evil name;rm -rf.png")
    kept = store.add(new_history_id(), image_result((weird,)))
    assert kept.files[0].parent.parent == store.files_root
    assert not kept.files[0].name.startswith(".")


def test_sizes_of_hostile_input_are_bounded(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    huge = NewResult(kind="chat" * 100, model="m" * 10_000, input={"prompt": "p" * 3_000_000})
    kept = store.add(new_history_id(), huge)
    assert len(kept.kind) <= 20 and len(kept.model) <= 300
    assert "prompt" not in kept.input  # an input too large is noted, not kept


def test_the_store_is_shared_not_copied_by_session_state(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert copy.deepcopy({"store": store})["store"] is store


def test_removal_hands_over_the_files_and_their_sources(tmp_path: Path) -> None:
    told: list[Path] = []
    store = ResultStore(tmp_path / "data", on_remove=told.append, ttl=10.0)
    me = new_history_id()
    source = output(tmp_path / "s", "a.png")
    kept = store.add(me, image_result((source,)), now=0.0)
    assert store.delete(me, kept.id)
    assert set(told) == {kept.files[0], source}
    told.clear()
    swept = store.add(me, image_result((output(tmp_path / "s", "b.png"),)), now=0.0)
    store.sweep(now=100.0)
    assert swept.files[0] in told


def test_input_files_are_kept_shown_by_field_and_removed_with_the_result(tmp_path: Path) -> None:
    """An input image and a narration are copied in beside the outputs (the uploads expire
    sooner), read back by field, counted in the result's size and removed by Delete."""
    uploads = tmp_path / "uploads"
    portrait = output(uploads, "my portrait (1).png", b"\x89PNG portrait bytes")
    narration = output(uploads, "voice .wav", b"RIFF narration bytes")
    gone = uploads / "expired.png"  # an upload the web server already removed: skipped
    me = new_history_id()
    store = ResultStore(tmp_path / "data")
    new = NewResult(
        kind="avatar",
        model="cjwbw/sadtalker",
        input={"source_image": "<file portrait.png>", "driven_audio": "<file voice .wav>"},
        input_files=(("source_image", portrait), ("driven_audio", narration), ("x", gone)),
        files=(output(tmp_path / "out", "talk.mp4", b"video"),),
    )
    kept = store.add(me, new)
    portrait.unlink()
    narration.unlink()
    again = store.get(me, kept.id)
    assert again is not None
    assert set(again.input_files) == {"source_image", "driven_audio"}
    [kept_portrait] = again.input_files["source_image"]
    [kept_voice] = again.input_files["driven_audio"]
    assert kept_portrait.read_bytes() == b"\x89PNG portrait bytes"
    assert kept_voice.read_bytes() == b"RIFF narration bytes"
    for path in (kept_portrait, kept_voice):
        assert path.parent.parent == store.files_root / kept.id  # never outside its folder
        assert " " not in path.name and "(" not in path.name
    files = len(b"video") + len(b"\x89PNG portrait bytes") + len(b"RIFF narration bytes")
    assert files + len(json.dumps(again.input)) <= again.size < files + 2000  # row text too

    removed: list[Path] = []
    store.on_remove = removed.append
    assert store.delete(me, kept.id)
    assert not (store.files_root / kept.id).exists()
    assert kept_portrait in removed and kept_voice in removed  # their served copies go too


def test_a_comparison_keeps_a_caption_per_file(tmp_path: Path) -> None:
    files = tuple(output(tmp_path / "out", f"{n}.mp4", b"video") for n in range(3))
    labels = ("Model A · a/x", "Model A · a/x", "Model B · b/y", "one too many")
    store = ResultStore(tmp_path / "data")
    kept = store.add(
        new_history_id(),
        NewResult(kind="compare", model="a/x, b/y", files=files, file_labels=labels),
    )
    assert kept.file_labels == labels[:3]
    assert [kept.file_label(i) for i in range(4)] == [*labels[:3], None]


def test_a_database_from_before_input_files_opens_and_keeps_its_results(tmp_path: Path) -> None:
    """A Space's persistent data folder outlives an upgrade: its old table gets the new columns
    and its rows read as having no input files."""
    (tmp_path / "files").mkdir()
    old_schema = ResultStore.SCHEMA.replace(
        ",\n        input_files TEXT NOT NULL DEFAULT '{}',\n        file_labels TEXT NOT NULL DEFAULT '[]'"
        ",\n        simulated INTEGER NOT NULL DEFAULT 0,\n        db_bytes INTEGER NOT NULL DEFAULT 0"
        ",\n        cost_usd REAL,\n        cost_basis TEXT NOT NULL DEFAULT ''",
        "",
    )
    assert "input_files" not in old_schema
    me = new_history_id()
    with sqlite3.connect(tmp_path / "results.db") as db:
        db.executescript(old_schema)
        db.execute(
            "INSERT INTO results VALUES (?, ?, 'image', 'o/m', NULL, 'a fox', '{}', '[]', '[]', "
            "'[]', '', '[]', NULL, 1.0, NULL, '', 1.0, NULL, 0)",
            ("0" * 32, hashlib.sha256(me.encode()).hexdigest()),
        )
    store = ResultStore(tmp_path)
    [old] = store.list(me)
    assert old.prompt == "a fox" and old.input_files == {} and old.file_labels == ()
    assert old.size == len("a fox{}[][][][]") and not old.simulated  # its row text, measured
    source = output(tmp_path / "up", "in.png")
    new = store.add(me, NewResult(kind="image", model="o/m", input_files=(("image", source),)))
    assert [p.name for p in new.input_files["image"]] == ["00-in.png"]
