"""Face swaps. Engines swap whole frames: `classical` ships with the package (no model file); the
learned swappers of the zoo are generators (twoface.swap.base.Generator) run by the learned
engine (twoface.swap.engine: align, generate, mask, enhance, paste back). twoface.build makes
either from a name.
"""

from __future__ import annotations

from twoface.swap.base import Engine, Generator, SourceIdentity, SwapJob
from twoface.swap.classical import ClassicalEngine


def swapper_names() -> list[str]:
    """Swappers twoface can build: classical, then the zoo's learned ones."""
    from twoface.build import runnable

    return runnable("swap")


def engine_for(built, maskers=None, enhancer=None) -> Engine:
    """The engine for what twoface.build made for a swapper name: an engine as it is, a
    generator inside the learned engine."""
    if isinstance(built, Engine):
        return built
    from twoface.swap.engine import LearnedEngine

    return LearnedEngine(built, maskers=maskers, enhancer=enhancer)


__all__ = [
    "ClassicalEngine",
    "Engine",
    "Generator",
    "SourceIdentity",
    "SwapJob",
    "engine_for",
    "swapper_names",
]
