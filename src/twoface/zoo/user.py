"""Models users trained or bring under their own names (`twoface models import FILE --name NAME
--like ENTRY`): kept in the store's `user_models.json`, each a copy of a catalogue entry of the
same architecture with its own name and file. A store registers them in the catalogue when it
opens, so `--swapper NAME` builds them like any published model."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from pathlib import Path

from twoface.errors import ModelError, UsageError
from twoface.zoo.catalogue import CATALOGUE, ModelEntry, Preprocess

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
FILE = "user_models.json"


def user_entry(name: str, like: str, source: Path) -> ModelEntry:
    """`like`'s entry, renamed and pointing at the user's file (its format from its suffix)."""
    if not NAME.match(name):
        raise UsageError(
            f"model name {name!r}: use 2-64 lower-case letters, digits, '_', '-' or '.'", "name"
        )
    if name in CATALOGUE and CATALOGUE[name].source != "user":
        raise UsageError(f"{name} is a published model's name; choose another", "name")
    base = CATALOGUE.get(like)
    if base is None or base.impl is None:
        raise UsageError(f"--like {like}: not a runnable catalogue model", "like")
    suffix = source.suffix.lower()
    formats = {".onnx": "onnx", ".pth": "torch", ".pt": "torch", ".safetensors": "safetensors"}
    if suffix not in formats:
        raise UsageError(f"{source}: a user model is an .onnx, .pth or .safetensors file", "file")
    return replace(
        base,
        name=name,
        format=formats[suffix],
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


def load_user_entries(home: Path) -> list[ModelEntry]:
    path = home / FILE
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text())
        entries = []
        for item in raw:
            item = dict(item)
            item["preprocess"] = Preprocess(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in item["preprocess"].items()}
            )
            item["urls"] = tuple(item.get("urls") or ())
            entries.append(ModelEntry(**item))
        return entries
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ModelError(f"{path}: not a user model list twoface wrote ({e})") from None


def save_user_entry(home: Path, entry: ModelEntry) -> None:
    entries = [e for e in load_user_entries(home) if e.name != entry.name] + [entry]
    path = home / FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(e) for e in entries], indent=2))
    tmp.replace(path)


def register(home: Path) -> None:
    """Put the store's user models into the catalogue (published names are never replaced)."""
    for entry in load_user_entries(home):
        if entry.name not in CATALOGUE or CATALOGUE[entry.name].source == "user":
            CATALOGUE[entry.name] = entry
