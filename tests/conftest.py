import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
PHOTOS = SHARED / "data" / "photos"

# Faces per photo, from ../shared/README.md.
EXPECTED_FACES = {
    "beckham.jpg": 1,
    "mark.jpg": 1,
    "elon_musk.jpg": 1,
    "tgt1.png": 1,
    "obama.jpg": 1,
    "obama2.jpg": 1,
    "biden.jpg": 1,
    "obama_partial_face.jpg": 1,
    "32bit.png": 1,
    "two_people.jpg": 2,
    "multi_people.jpg": 3,
    "group_t1.jpg": 6,
}


@pytest.fixture(scope="session")
def photos() -> Path:
    if not PHOTOS.is_dir():
        pytest.skip(f"shared photos not found at {PHOTOS} (set TWOFACE_SHARED)")
    return PHOTOS


@pytest.fixture(scope="session")
def swapper():
    from twoface import Swapper

    return Swapper()


@pytest.fixture(scope="session")
def encoder():
    from twoface.identity import Dlib128Encoder

    return Dlib128Encoder()


def rgb(path: Path) -> np.ndarray:
    from twoface.io.image import read_image

    return read_image(path).rgb


def shared_model(name: str) -> Path:
    """A real model file of ../shared/models; the test skips when it is absent."""
    path = SHARED / "models" / name
    if not path.is_file():
        pytest.skip(f"{path} not found (set TWOFACE_SHARED)")
    return path


def import_model(home, file, name: str | None = None) -> int:
    """`twoface models --models-dir HOME import FILE [--name NAME]`; returns its exit code."""
    from twoface.cli import main

    argv = ["models", "--models-dir", str(home), "import", str(file)]
    return main(argv + (["--name", name] if name else []))


def swap_argv(photos: Path, output: Path) -> list[str]:
    """`twoface swap` of biden.jpg onto obama.jpg, written to `output`."""
    return [
        "swap",
        "-s",
        str(photos / "biden.jpg"),
        "-t",
        str(photos / "obama.jpg"),
        "-o",
        str(output),
    ]
