"""Uploads per browser session (zip or images per class) and the cleanup of idle sessions."""

from __future__ import annotations

import io
import os
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.data import sessions
from core.data.archive import ArchiveLimits
from core.data.dataset import open_dataset
from core.data.uploads import import_class_images, import_zip_bytes
from core.errors import DataError, ParameterError


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "gwdata"))
    return tmp_path / "gwdata"


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_upload_lands_in_the_session_and_is_reused(data_dir):
    data = zip_of({f"{c}/{i}.png": png(10 * k + i) for k, c in enumerate(("cats", "dogs")) for i in range(3)}
                  | {"../../escape.png": png(99)})
    folder = import_zip_bytes(data, "sess-1", "pets.zip")
    assert folder.parent == data_dir / "sessions" / "sess-1"
    assert import_zip_bytes(data, "sess-1") == folder  # same bytes, same dataset
    ds = open_dataset(folder)
    assert ds.id == folder.name and ds.class_names == ["cats", "dogs"]
    assert [s.path for s in ds.report.skipped] == ["../../escape.png"]
    assert not list(data_dir.rglob("escape.png"))
    with pytest.raises(DataError, match="upload limit|more than the limit"):
        import_zip_bytes(data, "sess-1", limits=ArchiveLimits(max_archive_bytes=10))


def test_images_per_named_class_keep_user_labels_safely(data_dir):
    evil = "../<b>dogs</b>\n"
    folder = import_class_images({"cats": [("a.png", png(1)), ("b.png", png(2)), ("notes.txt", b"x")],
                                  evil: [("../../x.png", png(3)), ("y.png", png(4)), (".DS_Store", b"")]},
                                 "sess-2")
    assert folder.parent == data_dir / "sessions" / "sess-2"
    written = [p for p in data_dir.rglob("*") if p.is_file() and p.name != ".last-used"]
    assert written and all(p.resolve().is_relative_to(folder.resolve()) for p in written)
    ds = open_dataset(folder)
    assert ds.class_names == [evil, "cats"] and ds.counts() == {evil: 2, "cats": 2}
    assert {s.code for s in ds.report.skipped} == {"not-image", "hidden"}
    with pytest.raises(ParameterError, match="class name"):
        import_class_images({" ": [("a.png", png(1))]}, "sess-2")


def test_session_ids_cannot_escape():
    for bad in ("../x", "a/b", "", "x" * 65, ".hidden"):
        with pytest.raises(ParameterError, match="session_id"):
            sessions.session_dir(bad)


def test_cleanup_of_one_session_and_of_idle_sessions(data_dir):
    for sid in ("old", "recent", "gone"):
        (sessions.session_dir(sid) / "f.bin").write_bytes(b"x")
    stale = time.time() - 3600
    os.utime(data_dir / "sessions" / "old" / ".last-used", (stale, stale))
    assert sessions.cleanup_session("gone") and not (data_dir / "sessions" / "gone").exists()
    assert not sessions.cleanup_session("gone")
    assert sessions.cleanup_idle_sessions(600) == ["old"]
    assert (data_dir / "sessions" / "recent" / "f.bin").exists()
    assert sessions.cleanup_idle_sessions(600, now=time.time() + 7200) == ["recent"]
    assert sessions.cleanup_idle_sessions(600) == []


def test_a_session_folder_that_is_a_link_is_never_written_through_or_deleted(data_dir, tmp_path):
    from core.paths import OutsideRootError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    sessions.sessions_root().mkdir(parents=True)
    (sessions.sessions_root() / "abc").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutsideRootError, match="symbolic link"):
        sessions.session_dir("abc")
    with pytest.raises(OutsideRootError, match="symbolic link"):
        import_zip_bytes(zip_of({"a/1.png": png(1), "b/2.png": png(2)}), "abc")
    assert sessions.cleanup_session("abc") is False
    os.utime(elsewhere, (0, 0))
    assert sessions.cleanup_idle_sessions(0.0) == []
    assert sorted(p.name for p in elsewhere.iterdir()) == ["precious.txt"]
