"""A corpus of hostile and awkward inputs, built on demand into a folder (nothing is checked in).

Three kinds, each a list of cases that say what a correct program does with them:

- :data:`IMAGES`: single files a person may give as "an image" (broken, disguised, exotic, huge);
- :data:`ARCHIVES`: zip uploads (path traversal, links, bombs, nesting, floods of entries, odd names);
- :data:`DATASETS`: folders of class folders that are wrong as datasets (an empty or a single class,
  a class name full of markup).

``expect`` is ``None`` for an input that must be accepted, else a substring of the one sentence the
user must get. Archive cases list the entry names that must be refused and why (skip codes from
:mod:`core.data.files`). Every writer is deterministic and takes well under a second.
"""

from __future__ import annotations

import functools
import io
import json
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# Entries of the traversal archives aim here; a test asserts that nothing ever appears at these names.
EVIL_NAME = "glasswing-hostile-evil"
EVIL_ABSOLUTE = f"/tmp/{EVIL_NAME}-abs.png"
MARKUP_CLASS = '<script>alert("x")</script> <img src=x onerror=alert(1)> & **bold** [link](javascript:x)'


# -- small builders ------------------------------------------------------------------------------------
def noise(h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    shape = (h, w, channels) if channels > 1 else (h, w)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png(h: int = 24, w: int = 24, seed: int = 0) -> bytes:
    return encode(Image.fromarray(noise(h, w, seed)), "PNG")


def jpeg(h: int = 64, w: int = 64, seed: int = 1) -> bytes:
    return encode(Image.fromarray(noise(h, w, seed)), "JPEG", quality=90)


def png_with_claimed_size(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose header claims another size (CRC fixed so PIL trusts the header)."""
    data = bytearray(png(8, 8, 3))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    return bytes(data)


def real_bomb_png(width: int = 8000, height: int = 6000) -> bytes:
    """A genuine 48-megapixel bilevel PNG of a few kB: decoding it as RGB would take 144 MB."""
    return encode(Image.new("1", (width, height), 0), "PNG")


@functools.cache  # about a second to build; the corpus writes it into several datasets
def png_with_chunk_bomb(chunk_type: bytes, megabytes: int = 200) -> bytes:
    """A small PNG carrying a text (zTXt) or colour-profile (iCCP) chunk that inflates to ``megabytes``
    (about 200 kB on disk for 200 MB)."""
    packer = zlib.compressobj(9)
    zeros = bytes(2**20)
    payload = b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()
    body = b"Comment\0\0" + payload if chunk_type == b"zTXt" else b"icc\0\0" + payload
    chunk = struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))
    data = png(8, 8, 3)
    at = data.index(b"IDAT") - 4  # before the pixel data, where Pillow reads it on opening
    return data[:at] + chunk + data[at:]


def corrupt_idat_png() -> bytes:
    """A PNG whose compressed pixel data is damaged (headers intact, so it opens but cannot decode)."""
    data = bytearray(png(32, 32, 4))
    start = data.index(b"IDAT") + 4
    for i in range(start + 2, start + 40):
        data[i] ^= 0x5A
    return bytes(data)


def rgba_png() -> bytes:
    """Left half opaque red, right half fully transparent (must come out white)."""
    arr = np.zeros((20, 20, 4), np.uint8)
    arr[:, :10] = (255, 0, 0, 255)
    arr[:, 10:] = (0, 0, 255, 0)
    return encode(Image.fromarray(arr, "RGBA"), "PNG")


def animated_gif() -> bytes:
    """Three frames of flat colour: red, green, blue (the first frame is the image)."""
    frames = [Image.new("RGB", (16, 16), c).convert("P") for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def exif_rotated_jpeg() -> bytes:
    """Stored 40 wide x 20 high with EXIF orientation 6 (rotate 90): shown 20 wide x 40 high."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(noise(20, 40, 5)), "JPEG", exif=exif.tobytes())


def over_limit_png(limit_bytes: int) -> bytes:
    """A valid PNG just over ``limit_bytes`` (noise does not compress)."""
    side = int((limit_bytes * 1.15 / 3) ** 0.5) + 1
    data = encode(Image.fromarray(noise(side, side, 9)), "PNG", compress_level=0)
    assert len(data) > limit_bytes
    return data


# -- images ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageCase:
    """One file offered as an image. ``shape`` is the (height, width) it must load as when accepted."""

    name: str
    data: Callable[[], bytes]
    expect: str | None = None
    shape: tuple[int, int] | None = None


IMAGES: list[ImageCase] = [
    ImageCase("zero_byte.jpg", lambda: b"", "the file is empty (0 bytes)"),
    ImageCase("zero_byte.png", lambda: b"", "the file is empty (0 bytes)"),
    ImageCase("truncated.jpg", lambda: jpeg()[: len(jpeg()) * 2 // 3], "corrupt or truncated"),
    ImageCase("truncated.png", lambda: png(48, 48, 2)[: len(png(48, 48, 2)) // 2], "corrupt or truncated"),
    ImageCase("header_only.png", lambda: png(48, 48, 2)[:40], "corrupt or truncated"),
    ImageCase("corrupt_data.png", corrupt_idat_png, "corrupt or truncated"),
    ImageCase("text.jpg", lambda: b"just some text, not a JPEG\n" * 20, "not an image Glasswing can read"),
    ImageCase("page.jpg", lambda: b"<!doctype html><html><body><h1>Not found</h1></body></html>\n",
              "not an image Glasswing can read"),
    ImageCase("drawing.png", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
              "not an image Glasswing can read"),
    ImageCase("tiff_named.png", lambda: encode(Image.fromarray(noise(20, 20, 8)), "TIFF"),
              "TIFF images are not supported"),
    ImageCase("icon_named.jpg", lambda: encode(Image.fromarray(noise(32, 32, 8)), "ICO"),
              "ICO images are not supported"),
    ImageCase("bomb_claimed.png", lambda: png_with_claimed_size(100_000, 100_000), "decompression bomb"),
    ImageCase("bomb_real.png", real_bomb_png, "decompression bomb"),
    ImageCase("text_bomb.png", lambda: png_with_chunk_bomb(b"zTXt"), "decompression bomb"),
    ImageCase("icc_bomb.png", lambda: png_with_chunk_bomb(b"iCCP"), "decompression bomb"),
    ImageCase("zero_width.png", lambda: png_with_claimed_size(0, 10), "image"),
    # Accepted, converted to 8-bit RGB.
    ImageCase("sixteen_bit.png",
              lambda: encode(Image.fromarray(noise(20, 30, 3, 1).astype(np.uint16) * 257), "PNG"),
              shape=(20, 30)),
    ImageCase("cmyk.jpg", lambda: encode(Image.fromarray(noise(20, 20, 4)).convert("CMYK"), "JPEG"),
              shape=(20, 20)),
    ImageCase("rgba.png", rgba_png, shape=(20, 20)),
    ImageCase("grey_alpha.png", lambda: encode(Image.fromarray(noise(12, 14, 6, 1)).convert("LA"), "PNG"),
              shape=(12, 14)),
    ImageCase("palette.png", lambda: encode(Image.fromarray(noise(20, 20, 7)).convert("P"), "PNG"),
              shape=(20, 20)),
    ImageCase("palette_transparent.png",
              lambda: encode(Image.fromarray(noise(20, 20, 7)).convert("P"), "PNG", transparency=0),
              shape=(20, 20)),
    ImageCase("animated.gif", animated_gif, shape=(16, 16)),
    ImageCase("one_pixel.png", lambda: encode(Image.new("RGB", (1, 1), (255, 0, 0)), "PNG"), shape=(1, 1)),
    ImageCase("exif_rotated.jpg", exif_rotated_jpeg, shape=(40, 20)),
    ImageCase("grey.bmp", lambda: encode(Image.fromarray(noise(10, 12, 2, 1)), "BMP"), shape=(10, 12)),
    ImageCase("lossless.webp", lambda: encode(Image.fromarray(noise(10, 12, 2)), "WEBP", lossless=True),
              shape=(10, 12)),
    ImageCase("trailing_garbage.jpg", lambda: jpeg() + b"\0garbage after the end marker" * 50,
              shape=(64, 64)),
    ImageCase("wrong_suffix.gif", lambda: png(18, 22, 5), shape=(18, 22)),  # content decides, not the name
]


def image_case(name: str) -> ImageCase:
    return next(case for case in IMAGES if case.name == name)


def write_images(folder: Path, cases: list[ImageCase] | None = None) -> dict[str, Path]:
    """Write every image case into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for case in cases or IMAGES:
        path = folder / case.name
        path.write_bytes(case.data())
        out[case.name] = path
    return out


# -- archives -------------------------------------------------------------------------------------------
def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]],
             compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def good_entries(prefix: str = "") -> list[tuple[str, bytes]]:
    """Two usable classes of three images each."""
    return [(f"{prefix}{cls}/{i}.png", png(16, 16, k * 10 + i)) for k, cls in enumerate(("cats", "dogs"))
            for i in range(3)]


def _unix_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _traversal() -> bytes:
    evil = png(8, 8, 99)
    return make_zip(good_entries() + [
        (f"../{EVIL_NAME}-1.png", evil), (f"cats/../../{EVIL_NAME}-2.png", evil),
        (f"..\\{EVIL_NAME}-3.png", evil), (f"cats/./../../../{EVIL_NAME}-4.png", evil),
    ])


def _absolute() -> bytes:
    evil = png(8, 8, 98)
    return make_zip(good_entries() + [(zipfile.ZipInfo(EVIL_ABSOLUTE), evil),
                                      (f"C:\\{EVIL_NAME}-5.png", evil), (f"C:/{EVIL_NAME}-6.png", evil)])


def _links() -> bytes:
    return make_zip(good_entries() + [
        (_unix_entry("cats/passwd.png", stat.S_IFLNK | 0o777), b"/etc/passwd"),
        (_unix_entry("dogs/up.png", stat.S_IFLNK | 0o777), b"../../../../tmp"),
        (_unix_entry("cats/fifo.png", stat.S_IFIFO | 0o644), b""),
        (_unix_entry("dogs/disk.png", stat.S_IFBLK | 0o644), b""),
    ])


def _bomb() -> bytes:
    return make_zip(good_entries() + [("cats/bomb.png", b"\0" * (12 * 1024 * 1024))])  # ~1000:1


def _bomb_lying_header() -> bytes:
    """An entry whose headers declare 1 kB but which inflates to 4 MB (reading must stop at 1 kB)."""
    data = bytearray(make_zip(good_entries() + [("dogs/liar.png", b"\0" * (4 * 1024 * 1024))]))
    name = b"dogs/liar.png"
    for signature, name_offset, size_offset in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        pos = 0
        while (pos := data.find(name, pos + 1)) != -1:
            start = pos - name_offset
            if data[start:start + 4] == signature:
                data[start + size_offset:start + size_offset + 4] = struct.pack("<I", 1024)
    return bytes(data)


def _nested() -> bytes:
    inner = make_zip(good_entries())
    return make_zip(good_entries() + [
        ("cats/inner.zip", inner), ("dogs/more.tar.gz", b"\x1f\x8b" + bytes(30)),
        ("dogs/x.7z", b"7z\xbc\xaf\x27\x1c"), ("inner.zip", inner)])


def _many_tiny(count: int = 2000) -> bytes:
    """Thousands of 1-byte 'images' beside a usable dataset: each is skipped, the rest still works."""
    return make_zip(good_entries() + [(f"cats/tiny{i:05d}.png", b"x") for i in range(count)],
                    compression=zipfile.ZIP_STORED)


def _too_many_entries(count: int = 20_001) -> bytes:
    return make_zip([(f"cats/{i}.png", b"") for i in range(count)], compression=zipfile.ZIP_STORED)


def _non_utf8_names() -> bytes:
    placeholders = {b"LATIN1X": b"caf\xe9\xff\xfe\x80", b"UTF8NOFLAGXY": "été_日本".encode(),
                    b"CTRLXXYZZ": b"bell\x07esc\x1b"}
    assert all(len(k) == len(v) for k, v in placeholders.items())  # the headers store the name's length
    data = make_zip(good_entries() + [(f"cats/{k.decode()}.png", png(16, 16, 40 + i))
                                      for i, k in enumerate(placeholders)], compression=zipfile.ZIP_STORED)
    # Raw name bytes as old tools write them, without the UTF-8 flag: Latin-1, UTF-8, control characters.
    for placeholder, raw in placeholders.items():
        data = data.replace(placeholder, raw)
    return data


def _markup_names() -> bytes:
    return make_zip(good_entries() + [(f"{MARKUP_CLASS.replace('/', '_')}/{i}.png", png(16, 16, 60 + i))
                                      for i in range(3)])


def _over_limit(limit_bytes: int) -> bytes:
    return make_zip(good_entries() + [("cats/big.png", over_limit_png(limit_bytes))],
                    compression=zipfile.ZIP_STORED)


@dataclass(frozen=True)
class ArchiveCase:
    """One zip upload. ``expect``: the archive is refused as a whole with this sentence. Otherwise it is
    imported: ``skipped`` maps refused entry names to skip codes and ``classes`` are the usable classes."""

    name: str
    data: Callable[[], bytes]
    expect: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=lambda: {"cats": 3, "dogs": 3})  # usable images
    present: tuple[str, ...] = ()  # files that must exist after extraction (names made safe)
    needs_small_upload_limit: bool = False  # build with over_limit(limit) instead of data()


ARCHIVES: list[ArchiveCase] = [
    ArchiveCase("traversal.zip", _traversal, skipped={
        f"../{EVIL_NAME}-1.png": "unsafe-path", f"cats/../../{EVIL_NAME}-2.png": "unsafe-path",
        f"..\\{EVIL_NAME}-3.png": "unsafe-path", f"cats/./../../../{EVIL_NAME}-4.png": "unsafe-path"}),
    ArchiveCase("absolute.zip", _absolute, skipped={
        EVIL_ABSOLUTE: "unsafe-path", f"C:\\{EVIL_NAME}-5.png": "unsafe-path",
        f"C:/{EVIL_NAME}-6.png": "unsafe-path"}),
    ArchiveCase("links.zip", _links, skipped={
        "cats/passwd.png": "link", "dogs/up.png": "link", "cats/fifo.png": "special-file",
        "dogs/disk.png": "special-file"}),
    ArchiveCase("bomb.zip", _bomb, skipped={"cats/bomb.png": "zip-bomb"}),
    # zipfile stops at the declared size, so the entry fails its CRC check: nothing big is ever written.
    ArchiveCase("bomb_lying_header.zip", _bomb_lying_header, skipped={"dogs/liar.png": "bad-entry"}),
    ArchiveCase("nested.zip", _nested, skipped={
        "cats/inner.zip": "nested-archive", "inner.zip": "nested-archive",
        "dogs/more.tar.gz": "nested-archive", "dogs/x.7z": "nested-archive"}),
    ArchiveCase("many_tiny.zip", _many_tiny, skipped={"cats/tiny00000.png": "not-image",
                                                      "cats/tiny01999.png": "not-image"}),
    ArchiveCase("too_many_entries.zip", _too_many_entries, expect="20,001 entries, more than the limit"),
    ArchiveCase("non_utf8_names.zip", _non_utf8_names,  # UTF-8 bytes win, else CP437 as the zip spec says
                classes={"cats": 6, "dogs": 3},
                present=("cats/été_日本.png", "cats/caf\u0398\xa0\u25a0\xc7.png", "cats/bell_esc_.png")),
    ArchiveCase("markup_names.zip", _markup_names,
                classes={"cats": 3, "dogs": 3, MARKUP_CLASS.replace("/", "_"): 3}),
    ArchiveCase("not_a_zip.zip", lambda: b"this is a text file, not a zip\n" * 10,
                expect="not a readable zip"),
    ArchiveCase("truncated.zip", lambda: make_zip(good_entries())[:700], expect="not a readable zip"),
    ArchiveCase("empty.zip", lambda: make_zip([]), expect="No usable images"),
    ArchiveCase("only_junk.zip", lambda: make_zip([("__MACOSX/._a.png", b"x"), ("notes.txt", b"hi")]),
                expect="No usable images"),
    ArchiveCase("over_limit.zip", lambda: b"", expect="more than the", needs_small_upload_limit=True),
]


def archive_case(name: str) -> ArchiveCase:
    return next(case for case in ARCHIVES if case.name == name)


def archive_bytes(case: ArchiveCase, upload_limit_bytes: int | None = None) -> bytes:
    if case.needs_small_upload_limit:
        if upload_limit_bytes is None:
            raise ValueError(f"{case.name} needs the upload limit it must exceed")
        return _over_limit(upload_limit_bytes)
    return case.data()


def write_archives(folder: Path, upload_limit_bytes: int,
                   cases: list[ArchiveCase] | None = None) -> dict[str, Path]:
    """Write every archive case into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for case in cases or ARCHIVES:
        path = folder / case.name
        path.write_bytes(archive_bytes(case, upload_limit_bytes))
        out[case.name] = path
    return out


# -- datasets -------------------------------------------------------------------------------------------
def _write_class(root: Path, name: str, count: int, seed: int) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i}.png").write_bytes(png(20, 20, seed + i))


def _empty_class(root: Path) -> None:
    _write_class(root, "cats", 3, 0)
    _write_class(root, "dogs", 3, 10)
    (root / "empty").mkdir()


def _single_class(root: Path) -> None:
    _write_class(root, "cats", 4, 0)


def _markup_class(root: Path) -> None:
    _write_class(root, MARKUP_CLASS.replace("/", "_"), 3, 0)
    _write_class(root, "plain", 3, 10)


def _only_broken(root: Path) -> None:
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
        write_images(root / cls, [c for c in IMAGES if c.expect is not None and "bomb_real" not in c.name])


def _hostile_files_beside_good_ones(root: Path) -> None:
    _write_class(root, "cats", 3, 0)
    _write_class(root, "dogs", 3, 10)
    write_images(root / "cats", [c for c in IMAGES if "bomb_real" not in c.name])
    os.symlink("/etc/passwd", root / "dogs" / "passwd.png")
    os.symlink("/", root / "dogs" / "everything")


@dataclass(frozen=True)
class DatasetCase:
    """A folder offered as a dataset. ``expect``: a substring of the report's first error (None: usable)."""

    name: str
    build: Callable[[Path], None]
    expect: str | None
    classes: dict[str, int] = field(default_factory=dict)  # usable images per class


_GOOD_IN_CATS = 3 + sum(1 for c in IMAGES if c.expect is None and min(c.shape or (0, 0)) >= 4)

DATASETS: list[DatasetCase] = [
    DatasetCase("empty_class", _empty_class, "'empty' has 0 usable images",
                {"cats": 3, "dogs": 3, "empty": 0}),
    DatasetCase("single_class", _single_class, "Only one class", {"cats": 4}),
    DatasetCase("markup_class", _markup_class, None, {MARKUP_CLASS.replace("/", "_"): 3, "plain": 3}),
    DatasetCase("only_broken", _only_broken, "No usable images", {"cats": 0, "dogs": 0}),
    DatasetCase("hostile_beside_good", _hostile_files_beside_good_ones, None,
                {"cats": _GOOD_IN_CATS, "dogs": 3}),
]


def dataset_case(name: str) -> DatasetCase:
    return next(case for case in DATASETS if case.name == name)


def write_dataset(folder: Path, case: DatasetCase) -> Path:
    """Build one dataset case at ``folder/<case.name>``; returns that folder."""
    root = folder / case.name
    root.mkdir(parents=True, exist_ok=True)
    case.build(root)
    return root


# -- model files (for --model PATH) --------------------------------------------------------------------
def _keras_model(input_shape: tuple, lam: bool = False):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Lambda(lambda t: t * 2)(inputs) if lam else inputs
    if len(input_shape) == 3:
        x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probabilities")(x))


def _two_inputs():
    import keras

    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    return keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(x))


def _two_outputs():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, [keras.layers.Dense(3, activation="softmax")(x),
                                keras.layers.Dense(2, activation="softmax")(x)])


def _spatial_output():
    import keras

    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax", name="probabilities")(inputs))


def _save(model, path: Path) -> None:
    model.save(path)


def _zip_with(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def _custom_layer(path: Path) -> None:
    _save(_keras_model((8, 8, 3)), path)
    with zipfile.ZipFile(path) as src:
        entries = {info.filename: src.read(info) for info in src.infolist()}
    config = json.loads(entries["config.json"])
    config["config"]["layers"][-1]["module"] = "evil.module"
    entries["config.json"] = json.dumps(config).encode()
    _zip_with(path, entries)


def _weights_missing(path: Path) -> None:
    _save(_keras_model((8, 8, 3)), path)
    with zipfile.ZipFile(path) as src:
        config = src.read("config.json")
    _zip_with(path, {"config.json": config})


@dataclass(frozen=True)
class ModelCase:
    """A file given as ``--model``; every one must be refused with ``expect`` in the sentence."""

    name: str
    write: Callable[[Path], None]
    expect: str


MODELS: list[ModelCase] = [
    ModelCase("zero.keras", lambda p: p.write_bytes(b""), "not a .keras model file"),
    ModelCase("text.keras", lambda p: p.write_text("hello, not a model"), "not a .keras model file"),
    ModelCase("hdf5.keras", lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200)),
              "not a .keras model file"),
    ModelCase("no_config.keras", lambda p: _zip_with(p, {"model.weights.h5": b"x"}),
              "no readable config.json"),
    ModelCase("bad_json.keras", lambda p: _zip_with(p, {"config.json": b"{nope"}), "no readable config.json"),
    ModelCase("config_bomb.keras", lambda p: _zip_with(p, {"config.json": b" " * (40 * 2**20) + b"{}"}),
              "config.json unpacks to more than"),
    ModelCase("lambda.keras", lambda p: _save(_keras_model((8, 8, 3), lam=True), p), "Lambda layer"),
    ModelCase("custom_code.keras", _custom_layer, "custom code"),
    ModelCase("weights_missing.keras", _weights_missing, "Keras could not load this model"),
    ModelCase("config_list.keras", lambda p: _zip_with(p, {"config.json": b"[1, 2]"}), "does not describe"),
    ModelCase("config_bad_layers.keras", lambda p: _zip_with(p, {"config.json": json.dumps(
        {"class_name": "Functional", "config": {"layers": [5, "x"]}}).encode()}), "does not describe"),
    ModelCase("config_deep.keras", lambda p: _zip_with(p, {"config.json": b"[" * 100_000 + b"]" * 100_000}),
              "no readable config.json"),
    ModelCase("config_huge_number.keras", lambda p: _zip_with(p, {"config.json": b"9" * 5000}),
              "no readable config.json"),
    ModelCase("config_keras_chokes.keras", lambda p: _zip_with(p, {"config.json": json.dumps(
        {"class_name": "Functional", "config": {"name": "m", "layers": [{"class_name": "Dense", "config": 5,
                                                                         "module": "keras.layers"}]}}).encode()}),
              "Keras could not load this model"),
    ModelCase("two_inputs.keras", lambda p: _save(_two_inputs(), p), "takes 2 inputs"),
    ModelCase("two_outputs.keras", lambda p: _save(_two_outputs(), p), "has 2 outputs"),
    ModelCase("spatial_output.keras", lambda p: _save(_spatial_output(), p), "(batch, classes)"),
    ModelCase("huge_input.keras", lambda p: _save(_keras_model((20_000, 20_000, 3)), p),
              "input sides are 1 to 1024 pixels"),
    ModelCase("vector_input.keras", lambda p: _save(_keras_model((10,)), p),
              "does not take fixed-size RGB images"),
    ModelCase("grey_input.keras", lambda p: _save(_keras_model((8, 8, 1)), p),
              "does not take fixed-size RGB images"),
    ModelCase("any_size.keras", lambda p: _save(_keras_model((None, None, 3)), p),
              "does not take fixed-size RGB images"),
]


def write_models(folder: Path) -> dict[str, Path]:
    """Write every hostile model file into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for case in MODELS:
        case.write(folder / case.name)
        out[case.name] = folder / case.name
    return out


# -- checking that nothing escaped ----------------------------------------------------------------------
def tree(folder: Path) -> dict[str, int]:
    """Every path below ``folder`` (not following links) -> size (-1 for folders); for before/after checks."""
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, folder)] = -1 if stat.S_ISDIR(st.st_mode) else st.st_size
    return out


def escaped_evil_files() -> list[str]:
    """Files the traversal archives aimed at that exist anywhere we can cheaply look."""
    candidates = [Path(EVIL_ABSOLUTE), *(Path("/tmp") / f"{EVIL_NAME}-{i}.png" for i in range(1, 7))]
    return [str(p) for p in candidates if p.exists()]
