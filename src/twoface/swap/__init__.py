"""Face swappers: given target faces and a source identity, generate the swapped pixels.

`classical` ships with the package (no model file). The learned swappers run published files
from the model zoo, each with the identity encoder it was trained with.
"""

from __future__ import annotations

from twoface.swap.base import SourceIdentity, SwapJob, Swapper
from twoface.swap.classical import ClassicalSwapper

LEARNED_ARCHS = ("inswapper", "reswapper", "aei_unet", "aei_linknet", "simswap")


def swapper_names() -> list[str]:
    from twoface.zoo.catalogue import CATALOGUE

    zoo = [e.name for e in CATALOGUE.values() if e.task == "swap" and e.arch in LEARNED_ARCHS]
    return ["classical", *zoo]


def create_swapper(
    name: str = "classical",
    store=None,
    runtime: str = "onnxruntime",
    device: str | None = None,
    half: bool = False,
    compile: bool = False,  # noqa: A002
) -> Swapper:
    """half/compile apply to the PyTorch runtime of the inswapper family (fp16, torch.compile)."""
    if name == "classical":
        return ClassicalSwapper()
    from twoface.errors import ModelError
    from twoface.identity.arcface import ArcFaceEncoder
    from twoface.swap.inswapper import InswapperSwapper
    from twoface.zoo.catalogue import CATALOGUE
    from twoface.zoo.store import ModelStore

    entry = CATALOGUE.get(name)
    if entry is None or entry.task != "swap" or entry.arch not in LEARNED_ARCHS:
        raise ValueError(f"unknown swapper {name!r}; choose from {', '.join(swapper_names())}")
    store = store or ModelStore()
    model = store.find(entry)
    if entry.format == "torch" or runtime == "torch":
        from twoface.runtime import require_torch

        require_torch(f"swapper {name}")
    if entry.arch == "simswap":
        from twoface.swap.simswap import SimSwapSwapper

        return SimSwapSwapper(
            model, store.find(entry.pairs_with), size=entry.preprocess.size or 224, device=device
        )
    if entry.arch.startswith("aei_"):
        from twoface.swap.ghost import GhostSwapper

        return GhostSwapper(model, store.find(entry.pairs_with), device=device)
    encoder = ArcFaceEncoder(store.find(entry.pairs_with), runtime=runtime, device=device)
    emap_from = None
    if entry.arch == "reswapper":
        # ReSwapper keeps inswapper's emap; its own ONNX may carry it, its .pth never does.
        from twoface.swap.inswapper import read_emap

        try:
            if entry.format != "onnx":
                raise ModelError("no emap in a .pth")
            read_emap(model)
        except ModelError:
            emap_from = store.find("inswapper_128")
    return InswapperSwapper(
        model,
        encoder,
        size=entry.preprocess.size or 128,
        runtime=runtime,
        device=device,
        emap_from=emap_from,
        half=half,
        compile=compile,
    )


__all__ = [
    "ClassicalSwapper",
    "SourceIdentity",
    "SwapJob",
    "Swapper",
    "create_swapper",
    "swapper_names",
]
