"""Face restorers: FaceFusion's ONNX exports of GFPGAN 1.2/1.3/1.4, CodeFormer, GPEN-BFR and
RestoreFormer++, and GFPGAN's own .pth checkpoints on PyTorch (twoface.enhance.gfpgan).

All take `input` (N, 3, S, S) RGB in [-1, 1] and give the restored face in the same range;
CodeFormer's export also takes `weight` (float64, shape [1]): its fidelity weight, 0 for the
most restored face, 1 for the one closest to the input. The crops arrive on the entry's template
(FFHQ at 512 for most, insightface's 128-framing at 256 for GPEN-BFR 256), as FaceFusion cuts them.
"""

from __future__ import annotations

import os

import numpy as np

from twoface.enhance.base import Enhancer, EnhancerSpec
from twoface.errors import ModelError, UsageError


def _check(blend: float, weight: float = 0.5) -> None:
    if not 0 <= blend <= 1:
        raise UsageError(f"enhancer blend must be in [0, 1], got {blend:g}", "enhancer_blend")
    if not 0 <= weight <= 1:
        raise UsageError(f"enhancer weight must be in [0, 1], got {weight:g}", "enhancer_weight")


def to_signed(crops: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32 in [-1, 1]."""
    return np.ascontiguousarray((crops.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2))


def from_signed(y: np.ndarray) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] -> (N, S, S, 3) uint8 (clipped, rounded)."""
    y = np.clip(y.transpose(0, 2, 3, 1), -1, 1)
    return np.clip((y + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)


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

        _check(blend, weight)
        self.graph = load_graph(model_path, runtime, device=device)
        self.spec = EnhancerSpec(size, template)
        self.blend, self.weight, self.name = float(blend), float(weight), name
        self.takes_weight = "weight" in self.graph.input_names

    def enhance(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return crops.copy()
        x = to_signed(crops)
        step = self.graph.max_batch or len(x)
        parts = []
        for i in range(0, len(x), step):
            inputs = [x[i : i + step]]
            if self.takes_weight:
                inputs.insert(
                    self.graph.input_names.index("weight"), np.array([self.weight], np.float64)
                )
            parts.append(self.graph.run_whole(*inputs)[self.graph.output_names[0]])
        return from_signed(np.concatenate(parts))

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


class GfpganRestorer(Enhancer):
    """GFPGANv1.3.pth / GFPGANv1.4.pth on PyTorch, batched (`batch` faces per call)."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        blend: float = 1.0,
        device: str | None = None,
        half: bool = False,
        batch: int = 8,
        name: str = "gfpgan",
    ) -> None:
        import torch

        from twoface.enhance.gfpgan import GFPGANv1Clean
        from twoface.runtime import torch_device
        from twoface.runtime.checkpoints import load_into, load_torch_state

        _check(blend)
        state = load_torch_state(model_path)
        first = state.get("conv_body_first.weight")
        if first is None:
            raise ModelError(f"{model_path}: not a GFPGAN v1.3/v1.4 file (no conv_body_first)")
        net = GFPGANv1Clean(512, narrow=first.shape[0] / 32)
        for key, buffer in net.state_dict().items():  # files saved without the noise maps
            if ".noises.noise" in key:
                state.setdefault(key, torch.zeros_like(buffer))
        net = load_into(net, state, model_path, "a GFPGAN v1.3/v1.4 file")
        self.device = torch_device(device)
        self.dtype = torch.float16 if half and self.device != "cpu" else torch.float32
        self.net = net.to(self.device, self.dtype)
        self.spec = EnhancerSpec(512, "ffhq")
        self.blend, self.batch, self.name = float(blend), batch, name

    def enhance(self, crops: np.ndarray) -> np.ndarray:
        import torch

        if len(crops) == 0:
            return crops.copy()
        x = to_signed(crops)
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), self.batch):
                t = torch.from_numpy(x[i : i + self.batch]).to(self.device, self.dtype)
                out.append(self.net(t).float().cpu().numpy())
        return from_signed(np.concatenate(out))

    @classmethod
    def from_entry(cls, entry, ctx) -> GfpganRestorer:
        return ctx.construct(cls, ctx.find(entry), name=entry.name)


class GhostSRRestorer(Enhancer):
    """sber-swap's face super-resolution (`10_net_G.pth`, twoface.enhance.ghost_sr) on 256-px
    crops, batched. As sber-swap feeds it: RGB in 0..1; of the tanh output it keeps 0..1, x 255,
    truncated. On GHOST's own crop (insightface's pose templates) by default; with `--ghost-sr`
    the GHOST swappers run it on their generated face before pasting, as sber-swap does."""

    def __init__(
        self,
        model_path: str | os.PathLike,
        blend: float = 1.0,
        device: str | None = None,
        half: bool = False,
        batch: int = 8,
        name: str = "ghost_sr",
    ) -> None:
        import torch

        from twoface.enhance.ghost_sr import GhostSR
        from twoface.runtime import torch_device
        from twoface.runtime.checkpoints import load_into, load_torch_state

        _check(blend)
        state = load_torch_state(model_path)
        first = state.get("lip_encoder.model.0.weight")
        if first is None:
            raise ModelError(f"{model_path}: not GHOST's super-resolution file (no lip_encoder)")
        net = load_into(GhostSR(first.shape[0]), state, model_path, "GHOST's 10_net_G.pth")
        self.device = torch_device(device)
        self.dtype = torch.float16 if half and self.device != "cpu" else torch.float32
        self.net = net.to(self.device, self.dtype)
        self.spec = EnhancerSpec(256, "insightface_pose")
        self.blend, self.batch, self.name = float(blend), batch, name

    def enhance(self, crops: np.ndarray) -> np.ndarray:
        import torch

        if len(crops) == 0:
            return crops.copy()
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch):
                x = torch.from_numpy(np.ascontiguousarray(crops[i : i + self.batch]))
                x = x.to(self.device).permute(0, 3, 1, 2).to(self.dtype) / 255
                y = (self.net(x).float().clamp(0, 1) * 255).to(torch.uint8)
                out.append(y.permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(out)

    @classmethod
    def from_entry(cls, entry, ctx) -> GhostSRRestorer:
        return ctx.construct(cls, ctx.find(entry), name=entry.name)
