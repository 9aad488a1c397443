"""Face restorers: FaceFusion's ONNX exports of GFPGAN 1.2/1.3/1.4, CodeFormer, GPEN-BFR and
RestoreFormer++, and GFPGAN's own .pth checkpoints on PyTorch (twoface.enhance.gfpgan_net).

All take `input` (N, 3, S, S) RGB in [-1, 1] and give the restored face in the same range;
CodeFormer's export also takes `weight` (float64, shape [1]): its fidelity weight, 0 for the
most restored face, 1 for the one closest to the input. The crops arrive on the entry's template
(FFHQ at 512 for most, insightface's 128-framing at 256 for GPEN-BFR 256), as FaceFusion cuts them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from twoface.enhance.base import Enhancer, EnhancerSpec
from twoface.errors import ModelError, UsageError
from twoface.registry import option, register

BLEND = "how much of the restored face is mixed in: 0 none, 1 all of it"


@dataclass(frozen=True)
class OnnxRestorerOptions:
    blend: float = option(1.0, BLEND)
    weight: float = option(0.5, "CodeFormer's fidelity: 0 most restored, 1 closest to the input")


@dataclass(frozen=True)
class TorchRestorerOptions:
    blend: float = option(1.0, BLEND)
    batch: int = option(8, "faces restored per network call")


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


@register(
    "restore",
    "restorer_onnx",
    options=OnnxRestorerOptions,
    consumes=("crops", "runtime", "device"),
    produces=("restored face, RGB -1..1",),
    shipped=False,
    summary="FaceFusion's ONNX restorers: GFPGAN 1.2-1.4, CodeFormer, GPEN-BFR, RestoreFormer++",
)
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
        from twoface.runtime.outputs import RESTORER

        self.graph = load_graph(model_path, runtime, device=device).expect(RESTORER)
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


class TorchRestorer(Enhancer):
    """A restorer network's checkpoint on PyTorch, run `batch` faces at a time. Subclasses name
    the key that identifies their file (`KEY`), what the file is (`WHAT`), their crop (`SPEC`),
    how to build the network from the state (`_build`) and how it takes and gives pictures
    (`_run`)."""

    KEY = ""
    WHAT = ""
    SPEC = EnhancerSpec()

    def __init__(
        self,
        model_path: str | os.PathLike,
        blend: float = 1.0,
        device: str | None = None,
        half: bool = False,
        batch: int = 8,
        name: str = "restorer",
    ) -> None:
        import torch

        from twoface.runtime import torch_device
        from twoface.runtime.checkpoints import build_from, load_into, load_torch_state

        _check(blend)
        state = load_torch_state(model_path)
        if self.KEY not in state:
            raise ModelError(f"{model_path}: not {self.WHAT} (no {self.KEY})")
        net = build_from(model_path, self.WHAT, lambda: self._build(state))
        net = load_into(net, state, model_path, self.WHAT)
        self.device = torch_device(device)
        self.dtype = torch.float16 if half and self.device != "cpu" else torch.float32
        self.net = net.to(self.device, self.dtype)
        self.spec = self.SPEC
        self.blend, self.batch, self.name = float(blend), batch, name

    def _build(self, state: dict):
        raise NotImplementedError

    def _tensor(self, crops: np.ndarray):
        """(n, S, S, 3) uint8 -> (n, 3, S, S) in 0..1 on the device."""
        import torch

        t = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
        return t.permute(0, 3, 1, 2).to(self.dtype) / 255

    def _run(self, crops: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def enhance(self, crops: np.ndarray) -> np.ndarray:
        import torch

        if len(crops) == 0:
            return crops.copy()
        with torch.inference_mode():
            parts = [self._run(crops[i : i + self.batch]) for i in range(0, len(crops), self.batch)]
        return np.concatenate(parts)

    @classmethod
    def from_entry(cls, entry, ctx):
        return ctx.construct(cls, ctx.find(entry), name=entry.name)


@register(
    "restore",
    "gfpgan",
    options=TorchRestorerOptions,
    consumes=("crops", "device", "half"),
    produces=("restored face at 512, RGB -1..1",),
    shipped=False,
)
class GfpganRestorer(TorchRestorer):
    """GFPGANv1.3.pth / GFPGANv1.4.pth on PyTorch (twoface.enhance.gfpgan_net): RGB in -1..1."""

    KEY = "conv_body_first.weight"
    WHAT = "a GFPGAN v1.3/v1.4 file"
    SPEC = EnhancerSpec(512, "ffhq")

    def _build(self, state: dict):
        import torch

        from twoface.enhance.gfpgan_net import GFPGANv1Clean

        net = GFPGANv1Clean(512, narrow=state[self.KEY].shape[0] / 32)
        for key, buffer in net.state_dict().items():  # files saved without the noise maps
            if ".noises.noise" in key:
                state.setdefault(key, torch.zeros_like(buffer))
        return net

    def _run(self, crops: np.ndarray) -> np.ndarray:
        y = self.net(self._tensor(crops) * 2 - 1)
        return from_signed(y.float().cpu().numpy())


@register(
    "restore",
    "ghost_sr",
    options=TorchRestorerOptions,
    consumes=("crops", "device", "half"),
    produces=("sharpened face at 256, tanh",),
    shipped=False,
)
class GhostSRRestorer(TorchRestorer):
    """sber-swap's face super-resolution (`10_net_G.pth`, twoface.enhance.ghost_sr_net) on 256-px
    crops. As sber-swap feeds it: RGB in 0..1; of the tanh output it keeps 0..1, x 255,
    truncated. On GHOST's own crop (insightface's pose templates) by default; with `--ghost-sr`
    the GHOST swappers run it on their generated face before pasting, as sber-swap does."""

    KEY = "lip_encoder.model.0.weight"
    WHAT = "GHOST's 10_net_G.pth"
    SPEC = EnhancerSpec(256, "insightface_pose")

    def _build(self, state: dict):
        from twoface.enhance.ghost_sr_net import GhostSR

        return GhostSR(state[self.KEY].shape[0])

    def _run(self, crops: np.ndarray) -> np.ndarray:
        import torch

        y = (self.net(self._tensor(crops)).float().clamp(0, 1) * 255).to(torch.uint8)
        return y.permute(0, 2, 3, 1).cpu().numpy()
