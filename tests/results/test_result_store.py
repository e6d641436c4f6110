"""ResultStore on real SQLite files: keeping, sharing, deleting, the TTL sweep, caps, hostile ids."""

from __future__ import annotations

import copy
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
    big = [
        store.add(other, image_result((output(tmp_path / "s", f"{i}.png", b"x" * 100),)), 10.0 + i)
        for i in range(4)
    ]
    assert store.disk_usage() <= 250
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
