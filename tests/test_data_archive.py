"""Hostile zip archives: every attack is built here and must be refused without writing outside."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from hostile import good_entries, make_zip, png

from core.data import files as F
from core.data.archive import ArchiveLimits, extract_zip
from core.data.inspect import inspect_dataset
from core.errors import DataError

# Some tests write two entries with one name on purpose; zipfile warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")


def png_bytes(seed: int = 0) -> bytes:
    return png(16, 16, seed)


def set_encrypted_flag(data: bytes, name: bytes) -> bytes:
    """Set the 'encrypted' bit of one entry in its local and central headers (zipfile will not write it)."""
    out = bytearray(data)
    for signature, name_offset, flag_offset in ((b"PK\x03\x04", 30, 6), (b"PK\x01\x02", 46, 8)):
        pos = 0
        while (pos := out.find(name, pos + 1)) != -1:
            start = pos - name_offset
            if out[start:start + 4] == signature:
                out[start + flag_offset] |= 0x1
    return bytes(out)


def all_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def skipped_codes(result) -> dict[str, str]:
    return {s.path: s.code for s in result.skipped}


def test_clean_zip_extracts_images_and_records_metadata(tmp_path):
    dest = tmp_path / "out" / "ds"
    result = extract_zip(make_zip(good_entries()), dest, ArchiveLimits())
    assert sorted(result.extracted) == sorted(name for name, _ in good_entries())
    assert (dest / "cats" / "0.png").read_bytes() == png_bytes(0)
    assert (dest / "dataset.json").is_file()
    assert not [p for p in dest.parent.iterdir() if p.name != "ds"]  # temp folder renamed away


def test_traversal_absolute_drive_and_nul_names_are_rejected(tmp_path):
    evil = png_bytes(99)
    nul = zipfile.ZipInfo("cats/aXb.png")
    data = make_zip(good_entries() + [
        ("../evil.png", evil), ("cats/../../evil2.png", evil), ("..\\evil3.png", evil),
        (zipfile.ZipInfo("/tmp/evil4.png"), evil), ("C:\\evil5.png", evil), ("C:/evil6.png", evil),
        (nul, evil),
    ])
    data = data.replace(b"cats/aXb.png", b"cats/a\x00b.png")  # zipfile refuses to write a NUL itself
    target = tmp_path / "box" / "ds"
    result = extract_zip(data, target, ArchiveLimits())
    codes = skipped_codes(result)
    for name in ("../evil.png", "cats/../../evil2.png", "..\\evil3.png", "/tmp/evil4.png", "C:\\evil5.png",
                 "C:/evil6.png", "cats/a\\x00b.png"):
        assert codes.get(name) == F.UNSAFE_PATH, (name, codes)
    assert len(result.extracted) == 6
    # Nothing was written anywhere but inside the dataset folder.
    assert all(p.resolve().is_relative_to(target.resolve()) for p in all_files(tmp_path))
    assert not any("evil" in p.name for p in all_files(tmp_path))
    assert not Path("/tmp/evil4.png").exists()


def test_symlink_and_special_entries_are_not_extracted(tmp_path):
    link = zipfile.ZipInfo("cats/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    fifo = zipfile.ZipInfo("cats/fifo.png")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    result = extract_zip(make_zip(good_entries() + [(link, b"/etc/passwd"), (fifo, b"")]),
                         tmp_path / "ds", ArchiveLimits())
    codes = skipped_codes(result)
    assert codes["cats/link.png"] == F.LINK and codes["cats/fifo.png"] == F.SPECIAL_FILE
    assert not any(p.is_symlink() for p in all_files(tmp_path))
    assert not (tmp_path / "ds" / "cats" / "link.png").exists()


def test_zip_bomb_entry_is_skipped_and_the_rest_extracted(tmp_path):
    bomb = b"\0" * (12 * 1024 * 1024)  # deflates about 1000:1
    result = extract_zip(make_zip(good_entries() + [("cats/bomb.png", bomb)]), tmp_path / "ds", ArchiveLimits())
    assert skipped_codes(result)["cats/bomb.png"] == F.ZIP_BOMB
    assert "compression ratio" in next(s.reason for s in result.skipped if s.path == "cats/bomb.png")
    assert len(result.extracted) == 6
    assert not (tmp_path / "ds" / "cats" / "bomb.png").exists()


def test_many_small_compressible_entries_trip_the_global_ratio(tmp_path):
    entries = [(f"cats/z{i}.png", b"\0" * 900_000) for i in range(6)]  # each under the per-entry threshold
    with pytest.raises(DataError, match="zip bomb"):
        extract_zip(make_zip(entries + good_entries()), tmp_path / "ds", ArchiveLimits())
    assert not (tmp_path / "ds").exists()
    assert not list(tmp_path.iterdir())  # temp folder cleaned


def test_total_size_and_entry_size_caps(tmp_path):
    data = make_zip(good_entries(), compression=zipfile.ZIP_STORED)
    result = extract_zip(data, tmp_path / "a", ArchiveLimits(max_entry_bytes=600))
    assert {s.code for s in result.skipped} == {F.TOO_LARGE}  # every 16x16 noise PNG is bigger than 600 B
    with pytest.raises(DataError, match="would unpack to"):
        extract_zip(data, tmp_path / "b", ArchiveLimits(max_total_bytes=2000))


def test_thousands_of_tiny_entries_are_refused_before_extraction(tmp_path):
    entries = [(f"cats/{i}.png", b"x") for i in range(3000)]
    with pytest.raises(DataError, match="3,000 entries"):
        extract_zip(make_zip(entries, compression=zipfile.ZIP_STORED), tmp_path / "ds",
                    ArchiveLimits(max_entries=2000))
    assert not list(tmp_path.iterdir())


def test_nested_archives_hidden_junk_and_non_images_are_skipped(tmp_path):
    extra = [("cats/inner.zip", make_zip(good_entries())), ("dogs/x.tar.gz", b"tar"), ("dogs/y.7z", b"7z"),
             ("dogs/z.rar", b"rar"), ("__MACOSX/cats/._0.png", b"junk"), ("cats/.DS_Store", b"junk"),
             ("dogs/Thumbs.db", b"junk"), ("notes.txt", b"hello"), ("cats/noext", b"x"), ("cats/empty/", b"")]
    result = extract_zip(make_zip(good_entries() + extra), tmp_path / "ds", ArchiveLimits())
    codes = skipped_codes(result)
    assert codes["cats/inner.zip"] == codes["dogs/x.tar.gz"] == codes["dogs/y.7z"] == F.NESTED_ARCHIVE
    assert codes["dogs/z.rar"] == F.NESTED_ARCHIVE
    assert codes["__MACOSX/cats/._0.png"] == codes["cats/.DS_Store"] == codes["dogs/Thumbs.db"] == F.HIDDEN
    assert codes["notes.txt"] == codes["cats/noext"] == F.NOT_IMAGE
    assert "cats/empty/" not in codes and len(result.extracted) == 6


def test_non_utf8_names_duplicates_encryption_and_corrupt_entries(tmp_path):
    corrupt_payload = png_bytes(7)
    data = make_zip(good_entries() + [
        ("cats/LATIN1X.png", png_bytes(1)), ("cats/UTF8X.png", png_bytes(2)), ("cats/0.png", png_bytes(3)),
        ("dogs/locked.png", png_bytes(4)), ("dogs/corrupt.png", corrupt_payload),
    ], compression=zipfile.ZIP_STORED)
    # Names as old tools write them: raw bytes with no UTF-8 flag (Latin-1, and UTF-8 without the flag).
    data = set_encrypted_flag(data, b"dogs/locked.png")
    data = data.replace(b"LATIN1X", b"caf\xe9\xff\xfe\x80").replace(b"UTF8X", "été".encode())
    # Flip a byte inside the stored PNG so its CRC no longer matches.
    start = data.index(corrupt_payload)
    data = data[:start + 40] + bytes([data[start + 40] ^ 0xFF]) + data[start + 41:]
    result = extract_zip(data, tmp_path / "ds", ArchiveLimits())
    codes = skipped_codes(result)
    assert codes["cats/0.png"] == F.DUPLICATE_ENTRY
    assert codes["dogs/locked.png"] == F.ENCRYPTED
    assert codes["dogs/corrupt.png"] == F.BAD_ENTRY
    names = {p.name for p in (tmp_path / "ds" / "cats").iterdir()}
    assert "été.png" in names  # valid UTF-8 wins
    assert "cafΘ\xa0■Ç.png" in names  # otherwise CP437, as the zip spec says
    assert (tmp_path / "ds" / "cats" / "0.png").read_bytes() == png_bytes(0)  # the first copy wins


def test_not_a_zip_and_oversized_uploads_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not a readable zip"):
        extract_zip(b"this is not a zip", tmp_path / "a", ArchiveLimits())
    with pytest.raises(DataError, match="upload limit"):
        extract_zip(make_zip(good_entries()), tmp_path / "b", ArchiveLimits(max_archive_bytes=100))
    with pytest.raises(DataError, match="already exists"):
        (tmp_path / "c").mkdir()
        extract_zip(make_zip(good_entries()), tmp_path / "c", ArchiveLimits())


def test_inspect_zip_lists_rejected_entries_and_descends_a_wrapper_folder(tmp_path):
    archive = tmp_path / "upload.zip"
    archive.write_bytes(make_zip(good_entries("mydata/") + [("../evil.png", png_bytes(5)),
                                                            ("mydata/cats/bad.jpg", b"<html>not a jpeg</html>")]))
    report = inspect_dataset(archive)
    assert report.classes == {"cats": 3, "dogs": 3}
    reasons = {s.path: s.code for s in report.skipped}
    assert reasons["../evil.png"] == F.UNSAFE_PATH and reasons["mydata/cats/bad.jpg"] == F.NOT_IMAGE
    assert report.root == str(archive.resolve()) and report.dataset_id.startswith("upload-")
    assert not report.errors
    assert os.listdir(tmp_path) == ["upload.zip"]  # the temporary extraction is gone


def test_open_dataset_imports_a_zip_once_into_the_data_folder(tmp_path, monkeypatch):
    from core.data.dataset import open_dataset

    monkeypatch.setenv("GLASSWING_DATA", str(tmp_path / "gwdata"))
    archive = tmp_path / "pets.zip"
    archive.write_bytes(make_zip(good_entries() + [("/abs.png", png_bytes(1))]))
    ds = open_dataset(archive)
    assert ds.root.parent == tmp_path / "gwdata" / "imports" and ds.id == ds.root.name
    assert ds.class_names == ["cats", "dogs"] and [s.code for s in ds.report.skipped] == [F.UNSAFE_PATH]
    again = open_dataset(archive)
    assert again.root == ds.root and again.id == ds.id
