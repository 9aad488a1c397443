"""Image files in and out: decoding safely, normalising to RGB uint8, writing labelled outputs."""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twoface.errors import InputError, UsageError
from twoface.io.atomic import atomic_path
from twoface.io.provenance import SIDECAR_SUFFIX, Label, xmp_packet

# 100 megapixels: four 5K frames. Larger images are refused before their pixels are decoded.
MAX_PIXELS = 100_000_000
# No face fits in fewer pixels than this on the shorter side (a 100000x1 strip is refused).
MIN_SIDE = 16

# Output extension -> Pillow format.
WRITE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
# Formats whose content may sit behind each extension when reading (MPO is a multi-picture JPEG).
READ_EXTENSIONS = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "MPO": {".jpg", ".jpeg"},
    "PNG": {".png"},
    "WEBP": {".webp"},
    "BMP": {".bmp", ".dib"},
    "TIFF": {".tif", ".tiff"},
    "GIF": {".gif"},
}
IMAGE_EXTENSIONS = set(WRITE_FORMATS) | {e for s in READ_EXTENSIONS.values() for e in s}


ImageLike = str | os.PathLike | np.ndarray


@dataclass(slots=True)
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8, EXIF orientation applied
    alpha: np.ndarray | None  # (H, W) uint8 or None
    path: str
    format: str
    turned: int = 0  # quarter turns (np.rot90) applied to stand sideways faces upright
    note: str | None = None  # e.g. content whose format differs from the extension


def check_input_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes)")
    return p


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode an image file into RGB uint8 (+ alpha), or raise InputError naming the problem."""
    from PIL import Image, UnidentifiedImageError

    p = check_input_file(path)
    with warnings.catch_warnings():
        # Pillow warns, then raises, on huge images; we apply our own limit first.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        old_limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(p) as im:
                fmt = im.format or "unknown"
                w, h = im.size
                if w * h > max_pixels:
                    raise InputError(
                        f"{p}: image too large to decode safely ({w}x{h} = {w * h / 1e6:.0f} "
                        f"megapixels, limit {max_pixels / 1e6:.0f})"
                    )
                ext = p.suffix.lower()
                allowed = READ_EXTENSIONS.get(fmt)
                if allowed is None:
                    raise InputError(f"{p}: unsupported image format {fmt}")
                note = None
                if ext in IMAGE_EXTENSIONS and ext not in allowed:
                    # Pillow identified the content by its signature: read what it really is.
                    note = (
                        f"content is {fmt} but the extension says {ext[1:].upper()}; read as {fmt}"
                    )
                im.load()
                im, exif_note = _upright(im)
                note = "; ".join(n for n in (note, exif_note) if n) or None
                rgb, alpha = _to_rgb8(im)
        except InputError:
            raise
        except UnidentifiedImageError:
            raise InputError(f"{p}: not an image, or the image data is corrupt") from None
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as e:
            detail = str(e).split("\n")[0] or type(e).__name__
            raise InputError(f"{p}: corrupt or truncated image ({detail})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = old_limit
    return LoadedImage(rgb=rgb, alpha=alpha, path=str(p), format=fmt, note=note)


def load_image(image: ImageLike) -> LoadedImage:
    """An input image of a swap; one no face could fit in (a 100000x1 strip) is refused."""
    loaded = load_any_image(image)
    h, w = loaded.rgb.shape[:2]
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{loaded.path}: {w}x{h} pixels is too small to hold a face")
    return loaded


def load_any_image(image: ImageLike) -> LoadedImage:
    """A path (decoded by read_image) or an RGB/RGBA uint8 array, as a LoadedImage."""
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            raise InputError("<array>: images must be uint8 RGB arrays")
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise InputError(f"<array>: expected (H, W, 3) RGB or (H, W, 4) RGBA, got {arr.shape}")
        alpha = arr[..., 3].copy() if arr.shape[2] == 4 else None
        return LoadedImage(np.ascontiguousarray(arr[..., :3]), alpha, "<array>", "array")
    return read_image(image)


def _upright(im):
    """Apply the EXIF orientation; a malformed EXIF block leaves the picture as stored."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im), None
    except (struct.error, ValueError, TypeError, KeyError, OSError, SyntaxError, EOFError):
        return im, "its EXIF block is malformed; orientation not applied"


def _to_rgb8(im) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow mode (grey, palette, CMYK, 16-bit, float, with or without alpha) to RGB uint8."""
    mode = im.mode
    alpha = None
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return np.repeat(_grey8(im)[..., None], 3, axis=2), None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        arr = np.asarray(im)
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    if mode != "RGB":
        im = im.convert("RGB")  # CMYK, YCbCr, L, 1, P ...
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8)), alpha


def _grey8(im, rows: int = 2048) -> np.ndarray:
    """A 16-bit, 32-bit integer or float grey image as uint8, converted in bands of rows so a
    100-megapixel image never needs a float64 copy (2.9 GB) of itself."""
    a = np.asarray(im)
    if a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    top = 65535.0 if im.mode.startswith("I;16") or float(a.max()) > 255 else 255.0
    out = np.empty(a.shape, np.uint8)
    scale = np.float32(255.0 / top)
    for y in range(0, a.shape[0], rows):
        band = a[y : y + rows].astype(np.float32) * scale + np.float32(0.5)
        np.clip(band, 0, 255, out=band)
        out[y : y + rows] = band.astype(np.uint8)
    return out


def output_format(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    try:
        return WRITE_FORMATS[ext]
    except KeyError:
        raise UsageError(
            f"{path}: unsupported output extension {ext or '(none)'!r}; "
            f"use one of {', '.join(sorted(WRITE_FORMATS))}"
        ) from None


def check_output_path(path: str | os.PathLike, inputs: list[str | os.PathLike]) -> Path:
    """Refuse output paths that cannot be written or would overwrite an input."""
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{out}: output folder {parent} does not exist")
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; give a file name")
    for i in inputs:
        same = os.path.realpath(i) == os.path.realpath(out)
        if not same and out.exists() and Path(i).exists():
            same = os.path.samefile(i, out)  # hard links and other aliases
        if same:
            raise UsageError(f"{out}: output path is also an input; inputs are never overwritten")
    return out


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    label: Label | None = None,
    quality: int = 95,
) -> None:
    """Write atomically in the format the extension names, with the label in its metadata."""
    from PIL import Image, PngImagePlugin

    fmt = output_format(path)
    arr = np.ascontiguousarray(rgb)
    if alpha is not None and fmt in ("PNG", "WEBP", "TIFF"):
        im = Image.fromarray(np.dstack([arr, alpha]), "RGBA")
    else:
        im = Image.fromarray(arr, "RGB")
    kwargs: dict = {}
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = int(quality)
    if label is not None:
        xmp = xmp_packet(label)
        exif = Image.Exif()
        exif[0x010E] = label.description  # ImageDescription
        exif[0x0131] = label.tool  # Software
        if fmt in ("JPEG", "WEBP"):
            kwargs.update(exif=exif.tobytes(), xmp=xmp)
        elif fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
            info.add_text("Software", label.tool)
            info.add_itxt("Description", label.description)
            kwargs.update(pnginfo=info, exif=exif.tobytes())
        elif fmt == "TIFF":
            kwargs["tiffinfo"] = {0x010E: label.description, 0x0131: label.tool, 700: xmp}
    with atomic_path(path) as tmp:
        im.save(tmp, fmt, **kwargs)
        if label is not None and fmt == "BMP":
            # BMP has no metadata block: the label goes to an XMP sidecar next to it.
            with atomic_path(str(path) + SIDECAR_SUFFIX) as side:
                side.write_bytes(xmp_packet(label))
