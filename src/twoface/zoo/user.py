"""Models users trained or bring under their own names (`twoface models import FILE --name NAME
--like ENTRY`): kept in the store's `user_models.json`, each a copy of a published catalogue
entry with its own name and file. A store reads them into its own catalogue when it opens
(`ModelStore.catalogue`), so `--swapper NAME` builds them like any published model and another
store never sees them.

The store may be shared or planted, so the file is not trusted: it records only a name, the
published entry the model is like, and its file's suffix; architecture, preprocessing and file
name are derived from the published catalogue on reading, and the architecture names a
registered component (twoface.registry), so nothing read from disk names code or a path.
Anything else in it is refused in one line (exit 4)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from twoface.errors import ModelError, UsageError
from twoface.zoo.catalogue import CATALOGUE, ModelEntry

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
FILE = "user_models.json"
FORMATS = {".onnx": "onnx", ".pth": "torch", ".pt": "torch", ".safetensors": "safetensors"}
MAX_BYTES = 1 << 20  # far more than any list of user models needs
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_LEGACY_LIKE = re.compile(r"imported like (\S+)$")


# What an older twoface wrote as an entry's "impl", per architecture: a list it wrote still loads
# when its "impl" is the one its architecture had. Only compared, never imported.
LEGACY_IMPLS = {
    "inswapper": "twoface.swap.inswapper:InswapperGenerator",
    "reswapper": "twoface.swap.inswapper:InswapperGenerator",
    "aei_unet": "twoface.swap.ghost:GhostGenerator",
    "aei_linknet": "twoface.swap.ghost:GhostGenerator",
    "simswap": "twoface.swap.simswap:SimSwapGenerator",
    "hyperswap": "twoface.swap.hyperswap:HyperSwapGenerator",
    "iresnet50": "twoface.identity.arcface:ArcFaceEncoder",
    "iresnet100": "twoface.identity.iresnet:iresnet_from_entry",
    "simswap_arcface": "twoface.swap.simswap:arcface_from_entry",
    "scrfd": "twoface.detect.scrfd:ScrfdDetector",
    "scrfd_mmdet": "twoface.detect.scrfd_mmdet:ScrfdMmdetDetector",
    "yunet": "twoface.detect.yunet:YunetDetector",
    "retinaface_mobilenet": "twoface.detect.retinaface_torch:RetinaFaceTorchDetector",
    "retinaface_resnet50": "twoface.detect.retinaface_torch:RetinaFaceTorchDetector",
    "2d106det": "twoface.landmarks.det106:Landmark106",
    "lbp_cascade": "twoface.anime.cascade:CascadeAnimeDetector",
    "anime_yolov3": "twoface.anime.yolov3:YoloAnimeDetector",
    "anime_faster_rcnn": "twoface.anime.faster_rcnn:FasterRcnnAnimeDetector",
    "anime_hrnetv2": "twoface.anime.hrnet:AnimeLandmarker",
    "bisenet": "twoface.parse.models:FaceParser",
    "bisenet_onnx": "twoface.parse.models:FaceParser",
    "xseg": "twoface.parse.models:Occluder",
    "restorer_onnx": "twoface.enhance.restorers:OnnxRestorer",
    "gfpgan": "twoface.enhance.restorers:GfpganRestorer",
    "ghost_sr": "twoface.enhance.restorers:GhostSRRestorer",
}


def _built_in(like: object) -> ModelEntry | None:
    """The published catalogue entry named `like` whose architecture is a registered component
    (so twoface runs it); None for anything else."""
    from twoface import registry

    base = CATALOGUE.get(like) if isinstance(like, str) else None
    if base is None or base.source == "user":
        return None
    comp = registry.lookup(base.task, base.arch)
    return base if comp is not None and not comp.capability.shipped else None


def _derive(name: str, like: str, suffix: str) -> ModelEntry:
    """`like`'s entry, renamed and pointing at the user's file. Everything that decides what
    runs (architecture, preprocessing) comes from the published catalogue."""
    base = _built_in(like)
    assert base is not None  # callers check it
    return replace(
        base,
        name=name,
        format=FORMATS[suffix],
        filename=f"user-{name}{suffix}",
        urls=(),
        size=None,
        sha256=None,
        member=None,
        source="user",
        notes=f"your model, imported like {like}",
        licence="yours (trained or brought by you)",
        non_commercial=False,
    )


def user_entry(name: str, like: str, source: Path) -> ModelEntry:
    """`like`'s entry, renamed and pointing at the user's file (its format from its suffix)."""
    if not NAME.match(name):
        raise UsageError(
            f"model name {name!r}: use 2-64 lower-case letters, digits, '_', '-' or '.'", "name"
        )
    if name in CATALOGUE and CATALOGUE[name].source != "user":
        raise UsageError(f"{name} is a published model's name; choose another", "name")
    if _built_in(like) is None:
        raise UsageError(f"--like {like}: not a runnable catalogue model", "like")
    suffix = source.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"{source}: a user model is an .onnx, .pth or .safetensors file", "file")
    return _derive(name, like, suffix)


def _read_list(path: Path) -> list | None:
    """The JSON list in the store's user model file, read without following a symlink; None
    when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):  # (the store's own checks say why)
        return None
    except OSError as e:
        why = "; a symlink is refused" if e.errno == errno.ELOOP else ""
        raise ModelError(f"{path}: cannot read the user model list ({e.strerror}){why}") from None
    try:
        with os.fdopen(fd, "rb") as f:
            text = f.read(MAX_BYTES + 1)
    except OSError as e:  # a folder, say
        raise ModelError(f"{path}: cannot read the user model list ({e.strerror})") from None
    if len(text) > MAX_BYTES:
        raise ModelError(f"{path}: larger than any user model list twoface writes")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        raise ModelError(f"{path}: not a user model list twoface wrote (not JSON)") from None
    if not isinstance(raw, list):
        raise ModelError(f"{path}: not a user model list twoface wrote (not a JSON list)")
    return raw


def _entry(path: Path, item: object) -> ModelEntry:
    """One entry of the list, checked: a name, the built-in entry it is like, a file suffix.
    Files an older twoface wrote (whole entries, `impl` included) are read when their `impl` is
    what that twoface wrote for the entry's architecture; nothing read here is ever imported."""
    again = "; import the model again (`twoface models import FILE --name NAME --like ENTRY`)"
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ModelError(f"{path}: an entry is not a named user model{again}")
    name = item["name"]
    if not NAME.match(name):
        raise ModelError(f"{path}: {name[:40]!r} is not a user model name{again}")
    if name in CATALOGUE and CATALOGUE[name].source != "user":
        raise ModelError(f"{path}: {name} is a published model's name{again}")
    like = item.get("like")
    if like is None:  # written by an older twoface: the whole entry, `impl` included
        notes = item.get("notes")
        m = _LEGACY_LIKE.search(notes) if isinstance(notes, str) else None
        like = m.group(1) if m else None
    base = _built_in(like)
    if base is None:
        raise ModelError(f"{path}: {name} is not like any built-in model{again}")
    if "impl" in item and item["impl"] != LEGACY_IMPLS.get(base.arch):
        raise ModelError(f"{path}: {name} names an implementation of its own; refused{again}")
    if "preprocess" in item and not isinstance(item["preprocess"], dict):
        raise ModelError(f"{path}: {name}'s preprocess is not what twoface writes{again}")
    suffix = item.get("suffix")
    if suffix is None and isinstance(item.get("filename"), str):
        suffix = next((s for s in FORMATS if item["filename"] == f"user-{name}{s}"), None)
    if not isinstance(suffix, str) or suffix not in FORMATS:
        raise ModelError(f"{path}: {name}'s file is not a user model file in the store{again}")
    return _derive(name, like, suffix)


def load_user_entries(home: Path) -> list[ModelEntry]:
    path = home / FILE
    raw = _read_list(path)
    return [] if raw is None else [_entry(path, item) for item in raw]


def save_user_entry(home: Path, entry: ModelEntry) -> None:
    """Add or replace `entry` in the list: only its name, the built-in entry it is like and its
    file's suffix are written (everything else is derived from the catalogue on reading)."""
    entries = [e for e in load_user_entries(home) if e.name != entry.name] + [entry]
    rows = [
        {
            "name": e.name,
            "like": _LEGACY_LIKE.search(e.notes).group(1),  # type: ignore[union-attr]
            "suffix": e.filename[len(f"user-{e.name}") :],
        }
        for e in entries
    ]
    # A new file, created exclusively, then renamed over the list: a symlink planted in the
    # store is never written through.
    fd, tmp = tempfile.mkstemp(prefix=".user_models.", suffix=".tmp", dir=home)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(rows, f, indent=2)
        os.replace(tmp, home / FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
