"""The one image loader every path uses (CLI, dashboard, datasets, training).

It accepts JPEG, PNG, WebP, BMP and GIF (first frame), honours EXIF orientation, converts grey,
RGBA, palette, CMYK and 16-bit images to 8-bit RGB, refuses decompression bombs before decoding,
and turns every failure into an :class:`ImageError` with a specific sentence.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from core import config
from core.errors import ImageError
from core.i18n import N_

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")

# We enforce our own limit (config.max_image_pixels) before decoding; PIL's own check is disabled so
# that it cannot raise a different, less helpful error first.
Image.MAX_IMAGE_PIXELS = None


# Leading bytes of the formats we read: a file that starts like one but does not open is damaged,
# not "not an image".
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
               (b"GIF89a", "GIF"))


def _sniff(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)


def _open(source: str | os.PathLike | bytes, name: str) -> Image.Image:
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise ImageError.say(N_("{name}: the file is empty (0 bytes)."), name=name)
        fp: io.BytesIO | Path = io.BytesIO(source)
        head = bytes(source[:16])
    else:
        fp = Path(source)
        _check_regular_file(fp, name)
        with open(fp, "rb") as fh:
            head = fh.read(16)
    try:
        return Image.open(fp)
    except UnidentifiedImageError:
        fmt = _sniff(head)
        if fmt is not None:
            raise ImageError.say(N_("{name}: starts like a {format} file but the image data is corrupt or "
                                    "truncated."), name=name, format=fmt) from None
        raise ImageError.say(N_("{name}: not an image Glasswing can read (supported: JPEG, PNG, WebP, BMP, GIF)."),
                             name=name) from None
    except ValueError as exc:  # Pillow refuses an oversized text or colour-profile chunk this way
        raise _decode_error(name, exc) from None
    except (OSError, EOFError, SyntaxError) as exc:
        raise ImageError.say(N_("{name}: cannot be opened as an image ({reason})."), name=name, reason=exc) from None


def _check_regular_file(path: Path, name: str) -> None:
    """Refuse, before opening it, anything but a non-empty regular file (a FIFO would block the reader)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError.say(N_("{name}: no such file."), name=name) from None
    except OSError as exc:
        raise ImageError.say(N_("{name}: cannot be read ({reason})."), name=name, reason=exc.strerror or exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError.say(N_("{name}: is a folder, not an image file."), name=name)
    if not stat.S_ISREG(st.st_mode):
        raise ImageError.say(N_("{name}: is a pipe, a device or a socket, not an image file."), name=name)
    if st.st_size == 0:
        raise ImageError.say(N_("{name}: the file is empty (0 bytes)."), name=name)


def _decode_error(name: str, exc: Exception) -> ImageError:
    if "too large" in str(exc):  # "Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK"
        return ImageError.say(N_("{name}: refused, a text or colour-profile chunk in it unpacks to more than "
                                 "{mb} MB (a possible decompression bomb)."),
                              name=name, mb=PngImagePlugin.MAX_TEXT_CHUNK // 2**20)
    return ImageError.say(N_("{name}: the image data is corrupt or truncated ({reason})."), name=name, reason=exc)


def _to_rgb(img: Image.Image, name: str) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit grey: scale the real range down to 8 bits instead of clipping at 255.
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) if arr.size else 0.0
        scale = 255.0 / (65535.0 if hi > 255 else max(hi, 1.0))
        arr8 = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr8 = ((arr - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite transparent pixels on white, as a person sees them in a browser.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("L", "1", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return img.convert("RGB")
    raise ImageError.say(N_("{name}: unsupported colour mode {mode}."), name=name, mode=repr(mode))


def load_image(
    source: str | os.PathLike | bytes,
    name: str | None = None,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Read an image file or bytes into an ``(H, W, 3)`` uint8 RGB array.

    ``name`` is used in error messages (defaults to the path). Raises :class:`ImageError` with a
    specific reason for anything unreadable or too large.
    """
    if name is None:
        name = Path(source).name if not isinstance(source, (bytes, bytearray)) else "image"
    limit = config.max_image_pixels() if max_pixels is None else max_pixels
    img = _open(source, name)
    try:
        if img.format not in SUPPORTED_FORMATS:
            raise ImageError.say(N_("{name}: {format} images are not supported (supported: JPEG, PNG, WebP, BMP, "
                                    "GIF)."), name=name, format=img.format or "unknown")
        width, height = img.size
        if width < 1 or height < 1:
            raise ImageError.say(N_("{name}: the image has no pixels ({width}x{height})."), name=name, width=width,
                                 height=height)
        if width * height > limit:
            raise ImageError.say(N_("{name}: {width}x{height} is {pixels} pixels, more than the limit of {limit} (a "
                                    "possible decompression bomb); resize it first."), name=name, width=width,
                                 height=height, pixels=f"{width * height:,}", limit=f"{limit:,}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                img.seek(0)  # first frame of animated GIF/WebP
                img.load()
                img = ImageOps.exif_transpose(img) or img
                rgb = _to_rgb(img, name)
                arr = np.asarray(rgb, dtype=np.uint8)
            except ImageError:
                raise
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise _decode_error(name, exc) from None
    finally:
        img.close()
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError.say(N_("{name}: could not be converted to RGB (got shape {shape})."), name=name,
                             shape=arr.shape)
    return np.ascontiguousarray(arr)


def resize_for_model(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 image to the model's ``(height, width)`` as float32 pixels 0..255.

    The whole image is resized (bicubic, no crop: the EfficientNet-Lite reference outputs were made
    this way) so that a heatmap at model resolution maps back onto the
    original photo exactly. Prediction, training and explanation all go through this function.
    """
    height, width = size
    if image.shape[0] == height and image.shape[1] == width:
        return image.astype(np.float32)
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    resized = pil.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=None)
    return np.asarray(resized, dtype=np.float32)


def to_png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB uint8 array as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
