"""Face restorers as ONNX graphs: FaceFusion's exports of GFPGAN 1.2/1.3/1.4, CodeFormer,
GPEN-BFR and RestoreFormer++.

All take `input` (N, 3, S, S) RGB in [-1, 1] and give the restored face in the same range;
CodeFormer's export also takes `weight` (float64, shape [1]): its fidelity weight, 0 for the
most restored face, 1 for the one closest to the input. The crops arrive on the entry's template
(FFHQ at 512 for most, insightface's 128-framing at 256 for GPEN-BFR 256), as FaceFusion cuts them.
"""

from __future__ import annotations

import os

import numpy as np

from twoface.enhance.base import Enhancer, EnhancerSpec
from twoface.errors import UsageError


class OnnxRestorer(Enhancer):
    def __init__(
        self,
        model_path: str | os.PathLike,
        size: int = 512,
        template: str = "ffhq",
        blend: float = 1.0,
        weight: float = 0.5,
        runtime: str = "onnxruntime",
        device: str | None = None,
        name: str = "restorer",
    ) -> None:
        from twoface.runtime import load_graph

        if not 0 <= blend <= 1:
            raise UsageError(f"enhancer blend must be in [0, 1], got {blend:g}", "enhancer_blend")
        if not 0 <= weight <= 1:
            raise UsageError(
                f"enhancer weight must be in [0, 1], got {weight:g}", "enhancer_weight"
            )
        self.graph = load_graph(model_path, runtime, device=device)
        self.spec = EnhancerSpec(size, template)
        self.blend, self.weight, self.name = float(blend), float(weight), name
        self.takes_weight = "weight" in self.graph.input_names

    def enhance(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return crops.copy()
        x = crops.astype(np.float32) / 127.5 - 1.0
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        step = self.graph.max_batch or len(x)
        parts = []
        for i in range(0, len(x), step):
            inputs = [x[i : i + step]]
            if self.takes_weight:
                inputs.insert(
                    self.graph.input_names.index("weight"), np.array([self.weight], np.float64)
                )
            parts.append(self.graph.run_whole(*inputs)[self.graph.output_names[0]])
        y = np.concatenate(parts).transpose(0, 2, 3, 1)
        return np.clip((np.clip(y, -1, 1) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)

    @classmethod
    def from_entry(cls, entry, ctx) -> OnnxRestorer:
        pre = entry.preprocess
        return ctx.construct(
            cls,
            ctx.find(entry),
            size=pre.size or 512,
            template=pre.template or "ffhq",
            name=entry.name,
        )
