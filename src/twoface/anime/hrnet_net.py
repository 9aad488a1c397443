"""HRNetV2-W18 28-point anime face landmarks (hysts/anime-face-detector, mmpose 0.x top-down), in
plain PyTorch with the checkpoint's own key names (`backbone.*`, `keypoint_head.final_layer.*`).

Pipeline as the release's config and `LandmarkDetector`: each face box enlarged 1.1x, made square
and padded 1.25x (mmpose `_box2cs`), warped to 256x256, RGB normalised with ImageNet mean/std;
four HRNet branches (18/36/72/144 channels) upsampled and concatenated (270), a 1x1 conv + BN +
ReLU and a 1x1 conv to 28 heatmaps of 64x64. Flip test: the mirrored crop's heatmaps flipped back
with the flip indices, shifted one pixel, averaged. Decoding: argmax refined by DARK ("unbiased":
Gaussian modulation with an 11 px kernel, log, second-order Taylor step), mapped back to the image.
Batched over all faces of all frames.

PyTorch code: `twoface.anime.hrnet` registers the component and imports this module only when a
model is built, so component discovery never imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twoface.anime.layout import FLIP_INDICES, N_POINTS
from twoface.errors import ModelError
from twoface.geometry import square_crop
from twoface.landmarks.base import Landmarker
from twoface.types import Face, flatten, regroup

INPUT = 256
HEATMAP = 64
BOX_SCALE = 1.1  # LandmarkDetector's box_scale_factor
PADDING = 1.25  # mmpose's _box2cs
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c)


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, 1, 1, bias=False)
        self.bn1 = _bn(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = _bn(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + x)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 1, bias=False)
        self.bn1 = _bn(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = _bn(c)
        self.conv3 = nn.Conv2d(c, c * 4, 1, bias=False)
        self.bn3 = _bn(c * 4)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, c * 4, 1, bias=False), _bn(c * 4))
            if cin != c * 4
            else None
        )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class HRModule(nn.Module):
    def __init__(self, channels: Sequence[int], blocks: int = 4) -> None:
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*[Basic(c, c) for _ in range(blocks)]) for c in channels
        )
        fuse = []
        for i in range(n):
            row = []
            for j in range(n):
                if j > i:
                    row.append(
                        nn.Sequential(
                            nn.Conv2d(channels[j], channels[i], 1, bias=False),
                            _bn(channels[i]),
                            nn.Upsample(
                                scale_factor=2 ** (j - i), mode="bilinear", align_corners=False
                            ),
                        )
                    )
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        out = channels[i] if last else channels[j]
                        layers = [nn.Conv2d(channels[j], out, 3, 2, 1, bias=False), _bn(out)]
                        if not last:
                            layers.append(nn.ReLU(inplace=False))
                        steps.append(nn.Sequential(*layers))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse)

    def forward(self, xs):
        xs = [b(x) for b, x in zip(self.branches, xs, strict=True)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            out.append(F.relu(y))
        return out


def _transition(cin: Sequence[int], cout: Sequence[int]) -> nn.ModuleList:
    layers = []
    for i, c in enumerate(cout):
        if i < len(cin):
            layers.append(
                None
                if cin[i] == c
                else nn.Sequential(nn.Conv2d(cin[i], c, 3, 1, 1, bias=False), _bn(c), nn.ReLU())
            )
        else:
            layers.append(
                nn.Sequential(
                    nn.Sequential(nn.Conv2d(cin[-1], c, 3, 2, 1, bias=False), _bn(c), nn.ReLU())
                )
            )
    return nn.ModuleList(layers)


class HRNetBackbone(nn.Module):
    def __init__(self, width: int = 18) -> None:
        super().__init__()
        c = [width, width * 2, width * 4, width * 8]
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = _bn(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = _bn(64)
        self.layer1 = nn.Sequential(Bottleneck(64, 64), *[Bottleneck(256, 64) for _ in range(3)])
        self.transition1 = _transition([256], c[:2])
        self.stage2 = nn.Sequential(HRModule(c[:2]))
        self.transition2 = _transition(c[:2], c[:3])
        self.stage3 = nn.Sequential(*[HRModule(c[:3]) for _ in range(4)])
        self.transition3 = _transition(c[:3], c)
        self.stage4 = nn.Sequential(*[HRModule(c) for _ in range(3)])

    @staticmethod
    def _through(transition, xs):
        out = []
        for i, t in enumerate(transition):
            src = xs[i] if i < len(xs) else xs[-1]
            out.append(src if t is None else t(src))
        return out

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for transition, stage in (
            (self.transition1, self.stage2),
            (self.transition2, self.stage3),
            (self.transition3, self.stage4),
        ):
            xs = self._through(transition, xs)
            for module in stage:
                xs = module(xs)
        return xs


class HeatmapHead(nn.Module):
    """mmpose 0.x TopdownHeatmapSimpleHead: resize_concat, 1x1 conv + BN + ReLU, 1x1 conv."""

    def __init__(self, channels: int = 270, joints: int = N_POINTS) -> None:
        super().__init__()
        self.final_layer = nn.Sequential(
            nn.Conv2d(channels, channels, 1),
            _bn(channels),
            nn.ReLU(),
            nn.Conv2d(channels, joints, 1),
        )

    def forward(self, xs):
        size = xs[0].shape[2:]
        x = torch.cat(
            [xs[0]]
            + [F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in xs[1:]],
            1,
        )
        return self.final_layer(x)


class AnimeHRNet(nn.Module):
    def __init__(self, width: int = 18) -> None:
        super().__init__()
        self.backbone = HRNetBackbone(width)
        self.keypoint_head = HeatmapHead(width * 15)

    def forward(self, x):
        return self.keypoint_head(self.backbone(x))


# -- geometry and decoding ---------------------------------------------------------------------
def box_to_center_scale(box: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and side (pixels) of the square crop mmpose takes for a face box."""
    x1, y1, x2, y2 = box[:4].astype(np.float64)
    w, h = (x2 - x1 + 1) * BOX_SCALE, (y2 - y1 + 1) * BOX_SCALE
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    return center, max(w, h) * PADDING


def _gaussian_modulate(hm: torch.Tensor, kernel: int = 11) -> torch.Tensor:
    """(M, H, W) heatmaps blurred as mmpose does (zero border, OpenCV's Gaussian with its
    reflect-101 edge) and rescaled to their own peaks; one batched convolution for all maps."""
    border = (kernel - 1) // 2
    m = hm.shape[0]
    peaks = hm.reshape(m, -1).amax(1)
    g = torch.from_numpy(cv2.getGaussianKernel(kernel, 0).astype(np.float32).ravel()).to(hm)
    x = F.pad(hm[:, None], (border,) * 4)
    x = F.conv2d(F.pad(x, (border,) * 4, mode="reflect"), (g[:, None] * g[None, :])[None, None])
    out = x[:, 0, border:-border, border:-border]
    return out * (peaks / out.reshape(m, -1).amax(1).clamp(min=1e-12))[:, None, None]


def decode_heatmaps_batch(heatmaps, dark: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, H, W) heatmaps (numpy, or a torch tensor on any device) -> (N, K, 2) sub-pixel
    peaks in heatmap pixels and (N, K) scores, computed where the heatmaps are."""
    hm0 = torch.as_tensor(heatmaps).float()
    n, k, h, w = hm0.shape
    flat = hm0.reshape(n * k, -1)
    scores, idx = flat.max(1)
    px, py = idx % w, torch.div(idx, w, rounding_mode="floor")
    coords = torch.stack([px, py], 1).double()
    if dark:
        hm = torch.log(_gaussian_modulate(hm0.reshape(n * k, h, w)).clamp(1e-3, 50)).double()
        j = torch.nonzero((px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)).squeeze(1)
        x, y = px[j], py[j]

        def at(dy, dx):
            return hm[j, y + dy, x + dx]

        dxv = 0.5 * (at(0, 1) - at(0, -1))
        dyv = 0.5 * (at(1, 0) - at(-1, 0))
        dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
        dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
        dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
        det = dxx * dyy - dxy * dxy
        good = det.abs() > 1e-12
        safe = torch.where(good, det, torch.ones_like(det))
        # offset = -H^-1 g, with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det
        offset = torch.stack([-(dyy * dxv - dxy * dyv) / safe, -(dxx * dyv - dxy * dxv) / safe], 1)
        coords[j] += offset * good[:, None]
    return coords.reshape(n, k, 2).cpu().numpy(), scores.reshape(n, k).cpu().numpy()


def decode_heatmaps(heatmaps: np.ndarray, dark: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(K, H, W) heatmaps -> (K, 2) sub-pixel peak coordinates in heatmap pixels, (K,) scores."""
    coords, scores = decode_heatmaps_batch(heatmaps[None], dark)
    return coords[0], scores[0]


def load_anime_hrnet(path: str | os.PathLike) -> AnimeHRNet:
    from twoface.runtime.checkpoints import load_into, load_torch_state

    sd = load_torch_state(path)
    key = "backbone.transition1.0.0.weight"
    if key not in sd:
        raise ModelError(f"{path}: not an anime HRNetV2 checkpoint (no {key})")
    net = AnimeHRNet(int(sd[key].shape[0]))
    return load_into(net, sd, path, "an anime HRNetV2 checkpoint")


class AnimeLandmarker(Landmarker):
    name = "anime_hrnetv2"
    scheme = scheme_name = "anime28"

    @classmethod
    def from_entry(cls, entry, ctx) -> AnimeLandmarker:
        from twoface.anime import find_weights

        return ctx.construct(cls, find_weights(ctx.store, entry.name))

    def __init__(
        self, model_path: str | os.PathLike, device: str | None = None, flip_test: bool = True
    ) -> None:
        from twoface.runtime import torch_device

        self.device = torch_device(device)
        self.net = load_anime_hrnet(model_path).to(self.device)
        self.flip_test = flip_test

    @torch.inference_mode()
    def heatmaps(self, crops: np.ndarray) -> torch.Tensor:
        """(N, 256, 256, 3) RGB uint8 crops -> (N, 28, 64, 64) heatmaps (flip-tested), on the
        model's device."""
        x = torch.from_numpy(((crops.astype(np.float32) - MEAN) / STD).transpose(0, 3, 1, 2).copy())
        x = x.to(self.device)
        hm = self.net(x)
        if self.flip_test:
            flipped = self.net(torch.flip(x, dims=[3]))
            flipped = torch.flip(flipped, dims=[3])[:, list(FLIP_INDICES)]
            flipped[:, :, :, 1:] = flipped[:, :, :, :-1].clone()  # mmpose's shift_heatmap
            hm = (hm + flipped) / 2
        return hm.float()

    def __call__(
        self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[Face]]
    ) -> list[list[Face]]:
        jobs = flatten(faces)
        if not jobs:
            return [list(fs) for fs in faces]
        crops, geometry = [], []
        for i, f in jobs:
            center, side = box_to_center_scale(f.box)
            m = square_crop(center, side, INPUT)
            crops.append(cv2.warpAffine(frames[i], m, (INPUT, INPUT), flags=cv2.INTER_LINEAR))
            geometry.append((center, side))
        hms = self.heatmaps(np.stack(crops))
        with torch.inference_mode():
            all_coords, _ = decode_heatmaps_batch(hms)
        new = [
            f.with_landmarks(
                (c * (side / HEATMAP) + center - side / 2).astype(np.float32), self.scheme
            )
            for (_, f), c, (center, side) in zip(jobs, all_coords, geometry, strict=True)
        ]
        return regroup(len(faces), jobs, new)
