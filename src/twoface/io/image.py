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
from twoface.io.credentials import seal
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
    100-megapixel image never needs a float64 copy (2.9 GB) of itself.

    Integers keep their scale (0..255, or 0..65535 when larger values occur). Floats (a 32-bit
    float TIFF) carry no scale of their own: values within 0..1 are read as 0..1 (the usual
    convention), any other range is stretched from its lowest to its highest finite value;
    NaN becomes black."""
    a = np.asarray(im)
    if a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype.kind == "f":
        low, top = _float_range(a, rows)
    else:
        low = 0.0
        top = 65535.0 if im.mode.startswith("I;16") or float(a.max()) > 255 else 255.0
    out = np.empty(a.shape, np.uint8)
    scale = np.float32(255.0 / (top - low)) if top > low else np.float32(0.0)
    for y in range(0, a.shape[0], rows):
        band = (a[y : y + rows].astype(np.float32) - np.float32(low)) * scale + np.float32(0.5)
        np.nan_to_num(band, copy=False, nan=0.0)
        np.clip(band, 0, 255, out=band)
        out[y : y + rows] = band.astype(np.uint8)
    return out


def _float_range(a: np.ndarray, rows: int) -> tuple[float, float]:
    """(0, 1) for float pixels all within 0..1, else their lowest and highest finite values."""
    low, top = np.inf, -np.inf
    for y in range(0, a.shape[0], rows):
        band = a[y : y + rows]
        finite = band[np.isfinite(band)]
        if finite.size:
            low, top = min(low, float(finite.min())), max(top, float(finite.max()))
    if not np.isfinite(low):  # no finite pixel at all
        return 0.0, 1.0
    if low >= 0.0 and top <= 1.0:
        return 0.0, 1.0
    return low, top


def output_format(path: str | os.PathLike) -> str:
    check_not_folder(path)
    ext = Path(path).suffix.lower()
    try:
        return WRITE_FORMATS[ext]
    except KeyError:
        if ext == ".gif":  # GIF output is for animations (swapped as videos)
            raise UsageError(
                f"{path}: a still image is not written as GIF (a .gif output is for an "
                f"animated target); use one of {', '.join(sorted(WRITE_FORMATS))}"
            ) from None
        raise UsageError(
            f"{path}: unsupported output extension {ext or '(none)'!r}; "
            f"use one of {', '.join(sorted(WRITE_FORMATS))}"
        ) from None


def check_not_folder(path: str | os.PathLike) -> None:
    """A folder given as the output is said to be one (not "unsupported extension")."""
    if _is_dir(Path(path)):
        raise UsageError(f"{path}: is a folder; give a file name")


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:  # a name too long to look up, a loop of links: not a folder we can use
        return False


def _check_name_length(out: Path, parent: Path) -> None:
    """A file name over the file system's limit (255 bytes on most) is one line, exit 2."""
    try:
        limit = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    size = len(os.fsencode(out.name))
    if size > limit:
        raise UsageError(
            f"{out}: file name too long ({size} bytes; the file system takes at most {limit})"
        )


def _same_file(a: str | os.PathLike, b: Path) -> bool:
    """Whether writing `b` would overwrite `a`: the same path after links, or a hard link."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return b.exists() and Path(a).exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(path: str | os.PathLike, inputs: list[str | os.PathLike]) -> Path:
    """Refuse output paths that cannot be written or would overwrite an input. A BMP output's
    label sidecar (OUT.bmp.xmp) is checked the same way: never an input, never a folder. (Both
    are written by renaming a new file onto the name, so a symbolic link there is replaced,
    never followed.)"""
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if not _is_dir(parent):
        raise UsageError(f"{out}: output folder {parent} does not exist")
    _check_name_length(out, parent)
    if _is_dir(out):
        raise UsageError(f"{out}: is a folder; give a file name")
    for i in inputs:
        if _same_file(i, out):
            raise UsageError(f"{out}: output path is also an input; inputs are never overwritten")
    if WRITE_FORMATS.get(out.suffix.lower()) == "BMP":
        side = out.with_name(out.name + SIDECAR_SUFFIX)
        _check_name_length(side, parent)
        if _is_dir(side):
            raise UsageError(f"{side}: is a folder; the label sidecar of {out.name} goes there")
        for i in inputs:
            if _same_file(i, side):
                raise UsageError(
                    f"{side}: the label sidecar of {out.name} would overwrite an input; "
                    "inputs are never overwritten"
                )
    return out


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    label: Label | None = None,
    quality: int = 95,
) -> None:
    """Write atomically in the format the extension names, with the label in its metadata
    and, where the label carries credentials, a signed C2PA manifest."""
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
        seal(tmp, label, fmt)  # the signed C2PA manifest, before the rename
        if label is not None and fmt == "BMP":
            # BMP has no metadata block: the label goes to an XMP sidecar next to it.
            with atomic_path(str(path) + SIDECAR_SUFFIX) as side:
                side.write_bytes(xmp_packet(label))
