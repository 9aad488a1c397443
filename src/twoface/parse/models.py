"""Face parsing and occlusion models, batch-first over aligned face crops.

A `FaceParser` labels every pixel of N crops with one of the 19 CelebAMask-HQ classes (BiSeNet:
face-parsing.PyTorch's .pth, or FaceFusion's bisenet_resnet_18/34 ONNX exports); an `Occluder`
says, per pixel, how surely it is face and not something in front of it (XSeg: FaceFusion's
xseg_1/2/3 ONNX exports of DeepFaceLab's network). Both take (N, S, S, 3) uint8 RGB crops and
answer at the crop's own size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from twoface.errors import UsageError
from twoface.registry import register

# CelebAMask-HQ's classes in the order the networks output them.
CLASSES = (
    "background",
    "skin",
    "left-eyebrow",
    "right-eyebrow",
    "left-eye",
    "right-eye",
    "glasses",
    "left-ear",
    "right-ear",
    "earring",
    "nose",
    "mouth",  # the mouth's interior: teeth, tongue
    "upper-lip",
    "lower-lip",
    "neck",
    "necklace",
    "cloth",
    "hair",
    "hat",
)
# Names users give to groups of classes.
REGION_GROUPS = {
    "brows": ("left-eyebrow", "right-eyebrow"),
    "eyes": ("left-eye", "right-eye"),
    "ears": ("left-ear", "right-ear"),
    "lips": ("upper-lip", "lower-lip"),
}
# FaceFusion's default region set: the face itself (skin to glasses, nose to lower lip), without
# ears, jewellery, neck, cloth, hair or hats.
FACE_REGIONS = CLASSES[1:7] + CLASSES[10:14]
PARSE_SIZE = 512
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


def region_classes(names: Sequence[str]) -> list[int]:
    """Class indices for region names (classes or groups); a UsageError lists the names."""
    out: list[int] = []
    for name in names:
        members = REGION_GROUPS.get(name, (name,))
        for m in members:
            if m not in CLASSES:
                choices = ", ".join([*CLASSES[1:], *REGION_GROUPS])
                raise UsageError(f"unknown face region {name!r}; choose from {choices}", "regions")
            out.append(CLASSES.index(m))
    return sorted(set(out))


def _resize_batch(crops: np.ndarray, size: int, interpolation=cv2.INTER_LINEAR) -> np.ndarray:
    if crops.shape[1] == size and crops.shape[2] == size:
        return crops
    return np.stack([cv2.resize(c, (size, size), interpolation=interpolation) for c in crops])


@register(
    "parse",
    "bisenet_onnx",
    consumes=("crops", "runtime", "device"),
    produces=("19 class logits at 512x512",),
    shipped=False,
    summary="FaceFusion's BiSeNet ONNX exports (ResNet-18/34): 19 CelebAMask-HQ classes per pixel",
)
@register(
    "parse",
    "bisenet",
    consumes=("crops", "device"),
    produces=("19 class logits at 512x512",),
    shipped=False,
    summary="face-parsing.PyTorch's BiSeNet .pth on PyTorch: 19 CelebAMask-HQ classes per pixel",
)
class FaceParser:
    """`labels(crops)`: (N, S, S, 3) uint8 RGB -> (N, S, S) uint8 class indices."""

    name = "parser"

    def __init__(self, run, name: str | None = None) -> None:
        self._run = run  # (N, 3, 512, 512) float32 normalised -> (N, 19, 512, 512) logits
        if name:
            self.name = name

    def labels(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros(crops.shape[:3], np.uint8)
        x = _resize_batch(crops, PARSE_SIZE).astype(np.float32)
        x = np.ascontiguousarray(((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2))
        labels = self._run(x).argmax(1).astype(np.uint8)
        return _resize_batch(labels, crops.shape[1], cv2.INTER_NEAREST)

    @classmethod
    def from_entry(cls, entry, ctx) -> FaceParser:
        path = ctx.find(entry)
        if entry.format == "onnx":
            return cls.from_onnx(path, ctx.runtime.runtime, ctx.runtime.device, entry.name)
        return cls.from_checkpoint(path, ctx.runtime.device, entry.name)

    @classmethod
    def from_onnx(
        cls, path: str | os.PathLike, runtime: str = "onnxruntime", device=None, name=None
    ) -> FaceParser:
        from twoface.runtime import load_graph
        from twoface.runtime.outputs import BISENET

        graph = load_graph(path, runtime, device=device).expect(BISENET)
        return cls(lambda x: next(iter(graph(x).values())), name)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device=None, name=None) -> FaceParser:
        import torch

        from twoface.parse.bisenet_net import BiSeNet
        from twoface.runtime import torch_device
        from twoface.runtime.checkpoints import load_into, load_torch_state

        dev = torch_device(device)
        net = load_into(BiSeNet(), load_torch_state(path), path, "a BiSeNet face-parsing file")
        net = net.to(dev)

        @torch.inference_mode()
        def run(x: np.ndarray) -> np.ndarray:
            return net(torch.from_numpy(x).to(dev)).float().cpu().numpy()

        return cls(run, name)


XSEG_SIZE = 256


@register(
    "occlude",
    "xseg",
    consumes=("crops", "runtime", "device"),
    produces=("face probability at 256x256 (NHWC in and out)",),
    shipped=False,
    summary="DeepFaceLab's XSeg (FaceFusion's ONNX exports): how surely each pixel is face",
)
class Occluder:
    """`face_probability(crops)`: (N, S, S, 3) uint8 RGB -> (N, S, S) float32 in [0, 1], 1 where
    the face shows, 0 where a hand, microphone, hair or anything else covers it.

    As FaceFusion feeds XSeg: the crop resized to 256, NHWC, BGR, scaled to 0..1."""

    name = "occluder"

    def __init__(self, run, name: str | None = None) -> None:
        self._run = run
        if name:
            self.name = name

    def face_probability(self, crops: np.ndarray) -> np.ndarray:
        size = crops.shape[1]
        if len(crops) == 0:
            return np.zeros(crops.shape[:3], np.float32)
        x = _resize_batch(crops, XSEG_SIZE)[..., ::-1].astype(np.float32) / 255.0
        out = np.asarray(self._run(np.ascontiguousarray(x)), np.float32)
        out = np.clip(out.reshape(len(crops), XSEG_SIZE, XSEG_SIZE), 0, 1)
        return _resize_batch(out, size)

    @classmethod
    def from_entry(cls, entry, ctx) -> Occluder:
        from twoface.runtime import load_graph
        from twoface.runtime.outputs import XSEG

        graph = load_graph(ctx.find(entry), ctx.runtime.runtime, device=ctx.runtime.device)
        graph.expect(XSEG)
        return cls(lambda x: next(iter(graph(x).values())), entry.name)
