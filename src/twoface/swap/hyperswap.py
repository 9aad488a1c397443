"""HyperSwap (FaceFusion, 2025): hyperswap_1a_256, hyperswap_1b_256 and hyperswap_1c_256.

The published files are ONNX graphs with two inputs: `source`, the source's L2-normalised
ArcFace embedding (insightface's w600k_r50, [N, 512]), and `target`, the aligned target crop
[N, 3, 256, 256] in BGR, scaled to [-1, 1] ((x / 255 - 0.5) / 0.5). The first output is the
swapped crop in the same layout and scale. The crop is aligned to FaceFusion's `arcface_128`
five-point template (given below in fractions of the crop side), not to insightface's
arcface template that inswapper uses: the points sit higher and closer together, so more chin
and forehead fit in. FaceFusion pastes the crop back through its box/occlusion/region masks;
twoface's learned engine does the same with its maskers (the default here: `box`).

Everything the family needs is in this module: the generator (registered as the `hyperswap`
architecture), its template (put in `geometry.TEMPLATES` on import) and its output spec; the
catalogue holds the three files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from twoface.errors import ModelError
from twoface.geometry import TEMPLATES
from twoface.registry import register
from twoface.runtime.outputs import OutputSpec, image_out
from twoface.swap.base import (
    LEARNED,
    TRAINED,
    Generator,
    GeneratorSpec,
    PerSource,
    SourceIdentity,
    mean_embedding,
)

# FaceFusion's `arcface_128` template (face_helper.py), in fractions of the crop side: left eye,
# right eye, nose tip, left and right mouth corners.
ARCFACE_128_FF = np.array(
    [
        [0.36167656, 0.40387734],
        [0.63696719, 0.40235469],
        [0.50019687, 0.56044219],
        [0.38710391, 0.72160547],
        [0.61507734, 0.72034453],
    ],
    dtype=np.float32,
)
TEMPLATE = "facefusion_arcface_128"
TEMPLATES.setdefault(TEMPLATE, lambda size: ARCFACE_128_FF * float(size))

# One or two outputs (an export may add its mask); the first is the crop at the target's size.
HYPERSWAP = OutputSpec("HyperSwap", counts=(1, 2), shapes=image_out(3, "target"))


@register(
    "swap",
    "hyperswap",
    consumes=(*LEARNED, "runtime", "device", "half", "compile"),
    produces=("swapped crop at 256, BGR -1..1",),
    label=TRAINED,
    shipped=False,
    summary="FaceFusion's HyperSwap 1a/1b/1c (ONNX, 256 px, FaceFusion's arcface_128 template)",
)
class HyperSwapGenerator(Generator):
    name = "hyperswap"
    # FaceFusion's default mask for its swappers is the box; the crop holds hair and background
    # at its corners, which the compositor's feathered edge already leaves to the target.
    default_masks = ("box",)

    def __init__(
        self,
        model_path: str | os.PathLike,
        encoder,
        size: int = 256,
        runtime: str = "onnxruntime",
        device: str | None = None,
        half: bool = False,
        compile: bool = False,  # noqa: A002 - torch.compile, as the flag users know
        template: str = TEMPLATE,
    ) -> None:
        from twoface.runtime import load_graph

        path = Path(model_path)
        self.spec = GeneratorSpec(size, template)
        self.encoder = encoder
        self.latent = PerSource(self._latent)
        self.graph = load_graph(path, runtime, device=device, half=half, compile=compile)
        names = self.graph.input_names
        if sorted(names) != ["source", "target"]:
            raise ModelError(f"{path}: inputs {names}; a HyperSwap file has source and target")
        self.graph.expect(HYPERSWAP)
        self._order = names

    def _latent(self, identity: SourceIdentity) -> np.ndarray:
        """The normed mean of the source photos' normed ArcFace embeddings."""
        return mean_embedding(self.encoder, identity)

    def latents(self, sources: Sequence[SourceIdentity]) -> np.ndarray:
        return np.stack([self.latent(s) for s in sources])

    def generate(self, crops: np.ndarray, latents: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) RGB uint8 crops -> swapped crops, through the BGR [-1, 1] network."""
        x = (crops[..., ::-1].astype(np.float32) / 255.0 - 0.5) / 0.5
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        lat = np.ascontiguousarray(latents, np.float32)
        step = 1 if self.graph.max_batch == 1 else len(x)
        parts = []
        for i in range(0, len(x), step):
            feeds = {"target": x[i : i + step], "source": lat[i : i + step]}
            outs = self.graph(*(feeds[n] for n in self._order))
            parts.append(next(iter(outs.values())))
        y = np.concatenate(parts).transpose(0, 2, 3, 1)[..., ::-1]
        return (np.clip(y * 0.5 + 0.5, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)

    @classmethod
    def from_entry(cls, entry, ctx) -> HyperSwapGenerator:
        rt = ctx.runtime
        return cls(
            ctx.find(entry),
            ctx.pool.get("identity", entry.pairs_with, rt),
            size=entry.preprocess.size or 256,
            runtime=rt.runtime,
            device=rt.device,
            half=rt.half,
            compile=rt.compile,
            template=entry.preprocess.template or TEMPLATE,
        )
