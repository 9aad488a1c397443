"""SimSwap (neuralchen/SimSwap) in PyTorch: the 224 and 512 generators by their checkpoint key names
(`first_layer`, `down0..4`, `BottleNeck.N.{conv1.1,style1.linear,conv2.1,style2.linear}`,
`up0..4`, `last_layer`), and SimSwap's IR-SE ArcFace read from the pickled `arcface_checkpoint.tar`
through the restricted unpickler (no pickled code runs).

As SimSwap's inference: the target crop (224, or 512 for the 512 model) RGB in [0, 1]; the source
crop RGB with ImageNet mean/std, resized to 112 (nearest), embedded and L2-normalised; nine
AdaIN residual blocks at 512 channels; tanh, (y + 1) / 2. SimSwap pastes back inside a BiSeNet
parsing mask; twoface uses the target's landmark face mask until BiSeNet is ported.

PyTorch code: `twoface.swap.simswap` registers the component and imports this module only when a
model is built, so component discovery never imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from twoface.errors import ModelError
from twoface.identity.arcface import align
from twoface.runtime.checkpoints import load_into
from twoface.swap.base import Generator, GeneratorSpec, PerSource, SourceIdentity
from twoface.swap.simswap import ARCFACE_CLASSES

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _instance_norm(x, eps: float = 1e-8):
    x = x - x.mean((2, 3), keepdim=True)
    return x * torch.rsqrt((x * x).mean((2, 3), keepdim=True) + eps)


class _Style(nn.Module):
    def __init__(self, latent: int, c: int) -> None:
        super().__init__()
        self.linear = nn.Linear(latent, c * 2)

    def forward(self, x, w):
        s = self.linear(w).view(-1, 2, x.shape[1], 1, 1)
        return x * (s[:, 0] + 1) + s[:, 1]


class _AdaINBlock(nn.Module):
    def __init__(self, c: int = 512, latent: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3))
        self.style1 = _Style(latent, c)
        self.conv2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3))
        self.style2 = _Style(latent, c)

    def forward(self, x, w):
        y = F.relu(self.style1(_instance_norm(self.conv1(x)), w))
        return x + self.style2(_instance_norm(self.conv2(y)), w)


def _down(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.ReLU())


def _up(cin, cout):
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(cin, cout, 3, 1, 1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class SimSwapNet(nn.Module):
    """`size512` adds the 32-channel outer stage (down0/up0) of the 512 model."""

    def __init__(self, size512: bool = False, blocks: int = 9, deep: bool = False) -> None:
        super().__init__()
        first = 32 if size512 else 64
        self.size512, self.deep = size512, deep
        self.first_layer = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, first, 7), nn.BatchNorm2d(first), nn.ReLU()
        )
        if size512:
            self.down0 = _down(32, 64)
        self.down1, self.down2, self.down3 = _down(64, 128), _down(128, 256), _down(256, 512)
        if deep:
            self.down4 = _down(512, 512)
        self.BottleNeck = nn.Sequential(*[_AdaINBlock() for _ in range(blocks)])
        if deep:
            self.up4 = _up(512, 512)
        self.up3, self.up2, self.up1 = _up(512, 256), _up(256, 128), _up(128, 64)
        if size512:
            self.up0 = _up(64, 32)
        self.last_layer = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(first, 3, 7), nn.Tanh())

    def forward(self, x, w):
        x = self.first_layer(x)
        if self.size512:
            x = self.down0(x)
        x = self.down3(self.down2(self.down1(x)))
        if self.deep:
            x = self.down4(x)
        for block in self.BottleNeck:
            x = block(x, w)
        if self.deep:
            x = self.up4(x)
        x = self.up1(self.up2(self.up3(x)))
        if self.size512:
            x = self.up0(x)
        return (self.last_layer(x) + 1) / 2

    @classmethod
    def from_state_dict(cls, sd) -> SimSwapNet:
        if "first_layer.1.weight" not in sd:
            raise ModelError("not a SimSwap generator (no first_layer.1.weight)")
        blocks = len({k.split(".")[1] for k in sd if k.startswith("BottleNeck.")})
        return cls("down0.0.weight" in sd, blocks, "down4.0.weight" in sd)


# -- SimSwap's ArcFace (IR-SE ResNet) ---------------------------------------------------------------
class _SE(nn.Module):
    def __init__(self, c: int, r: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(c, c // r), nn.PReLU(), nn.Linear(c // r, c), nn.Sigmoid()
        )

    def forward(self, x):
        return x * self.fc(x.mean((2, 3))).view(x.shape[0], -1, 1, 1)


class _IRBlock(nn.Module):
    def __init__(self, cin: int, c: int, stride: int, se: bool) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.se = _SE(c) if se else None
        self.downsample = None
        if stride != 1 or cin != c:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c)
            )

    def forward(self, x):
        y = self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(self.bn0(x))))))
        if self.se is not None:
            y = self.se(y)
        return self.prelu(y + (x if self.downsample is None else self.downsample(x)))


class SimSwapArcFace(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), se: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU()
        cin = 64
        for i, (n, c) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [_IRBlock(cin, c, stride, se)] + [_IRBlock(c, c, 1, se) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = c
        self.bn2 = nn.BatchNorm2d(512)
        self.fc = nn.Linear(512 * 7 * 7, 512)
        self.bn3 = nn.BatchNorm1d(512)

    def forward(self, x):
        x = F.max_pool2d(self.prelu(self.bn1(self.conv1(x))), 2, 2)
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.bn3(self.fc(self.bn2(x).flatten(1)))


def load_simswap_arcface(path: str | os.PathLike) -> SimSwapArcFace:
    """From SimSwap's pickled model file, through the restricted unpickler."""
    from twoface.runtime.restricted import load_pickled_module

    sd = load_pickled_module(path, ARCFACE_CLASSES)
    layers = tuple(
        len({k.split(".")[1] for k in sd if k.startswith(f"layer{i}.")}) for i in range(1, 5)
    )
    if 0 in layers:
        raise ModelError(f"{path}: not SimSwap's ArcFace (no layer1..layer4 blocks)")
    return load_into(
        SimSwapArcFace(layers, se=any(".se." in k for k in sd)), sd, path, "SimSwap's ArcFace"
    )


def load_simswap_generator(path: str | os.PathLike) -> SimSwapNet:
    from twoface.runtime.checkpoints import load_torch_state

    sd = load_torch_state(path)
    return load_into(SimSwapNet.from_state_dict(sd), sd, path, "a SimSwap generator")


class SimSwapGenerator(Generator):
    """SimSwap 224 (insightface pose templates) or 512 (FFHQ), with SimSwap's ArcFace."""

    name = "simswap"
    default_masks = ("area",)  # SimSwap pastes inside a parsing mask; landmarks until BiSeNet

    def __init__(
        self,
        model_path,
        arcface,
        size: int = 224,
        device: str | None = None,
        template: str | None = None,
    ) -> None:
        from twoface.runtime import torch_device

        self.device = torch_device(device)
        # SimSwap crops 224 px faces with insightface's pose templates, 512 px ones as FFHQ.
        self.spec = GeneratorSpec(size, template or ("ffhq" if size == 512 else "insightface_pose"))
        self.net = load_simswap_generator(model_path).to(self.device)
        self.arcface = arcface.to(self.device)
        self.identity = PerSource(self._identity)

    @classmethod
    def from_entry(cls, entry, ctx) -> SimSwapGenerator:
        arcface = ctx.pool.get("identity", entry.pairs_with, ctx.runtime)
        spec = entry.preprocess
        return cls(
            ctx.find(entry),
            arcface,
            size=spec.size or 224,
            device=ctx.runtime.device,
            template=spec.template,
        )

    def _batch(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        t = torch.from_numpy(np.stack(crops).transpose(0, 3, 1, 2).copy()).to(self.device)
        return t.float() / 255.0

    @torch.inference_mode()
    def _identity(self, source: SourceIdentity) -> torch.Tensor:
        """Normed mean of the source photos' normed SimSwap-ArcFace embeddings."""
        x = self._batch(
            [align(f.image, f.face.kps, 224, "insightface_pose")[0] for f in source.faces]
        )
        x = (x - IMAGENET_MEAN.to(x)) / IMAGENET_STD.to(x)
        emb = F.normalize(self.arcface(F.interpolate(x, size=(112, 112))), dim=1).mean(0)
        return F.normalize(emb, dim=0)

    def latents(self, sources: Sequence[SourceIdentity]) -> torch.Tensor:
        return torch.stack([self.identity(s) for s in sources])

    @torch.inference_mode()
    def generate(self, crops: np.ndarray, latents: torch.Tensor) -> np.ndarray:
        y = self.net(self._batch(crops), latents)
        return (y.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
