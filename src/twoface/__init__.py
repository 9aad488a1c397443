"""twoface: swap faces in images and videos, offline first, every output labelled as AI-generated."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("twoface")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Face",
    "InputError",
    "ModelError",
    "OutputError",
    "SwapResult",
    "Swapper",
    "TwofaceError",
    "UsageError",
    "__version__",
]


def __getattr__(name: str):
    # Lazy: `import twoface.detect` should not load the whole swap pipeline.
    if name in ("Swapper", "SwapResult"):
        from twoface import api

        return getattr(api, name)
    if name in ("InputError", "ModelError", "OutputError", "TwofaceError", "UsageError"):
        from twoface import errors

        return getattr(errors, name)
    if name == "Face":
        from twoface.types import Face

        return Face
    raise AttributeError(name)
