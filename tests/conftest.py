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


# --- CI guard: tests that need ../shared must not skip when ../shared is there -------------------
# `.ci/run` sets TWOFACE_REQUIRE_SHARED=1; a skip whose reason names the shared folder then fails
# the run, so a renamed photo or model cannot silently turn a test into a no-op.
_SHARED_SKIPS: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if "TWOFACE_SHARED" in reason or str(SHARED) in reason:
            _SHARED_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("TWOFACE_REQUIRE_SHARED") == "1" and SHARED.is_dir() and _SHARED_SKIPS:
        print(
            f"\nCI: {len(_SHARED_SKIPS)} test(s) needing {SHARED} skipped although it is present:"
        )
        for line in _SHARED_SKIPS:
            print(f"  {line}")
        session.exitstatus = 1


def pytest_collection_modifyitems(config, items):
    """The photo grids over ../shared/data/hard and the browser tests belong to the full tier."""
    for item in items:
        if {"hard", "browser"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def chromium_path() -> str | None:
    """The Chromium the browser tests drive (Debian's package), or None."""
    import shutil

    return next((p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium through Playwright (a module may define its own, with other flags)."""
    sync = pytest.importorskip("playwright.sync_api")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium on this machine (Debian: apt install chromium)")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()
