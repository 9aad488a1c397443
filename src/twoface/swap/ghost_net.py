"""GHOST (sber-swap) AEI-Net in PyTorch, loading `G_unet_*`/`G_linknet_*` state dicts by their key
names (`encoder.convN.0`, `encoder.deconvN.deconv/bn`, `generator.up1`, `generator.AADBlkN.
add_blocks.K.{conv1,conv2,fc1,fc2,conv_h}`), with the iresnet100 identity it was trained with.

As sber-swap's inference: the target aligned to the ArcFace template at 224 px, resized to 256,
RGB in [-1, 1]; the source aligned the same way, RGB [-1, 1], halved to 112 and embedded by
iresnet100 (raw 512-d, as the generator was trained). The multi-level attribute encoder (7
stride-2 4x4 convs, BN, LeakyReLU 0.1; 6 deconvs with U-Net concatenation or LinkNet addition
skips) feeds 8 AAD residual blocks (identity and attribute denormalisation mixed by a learned
sigmoid mask) that grow a 2x2 map to 256x256; tanh. The result is pasted back inside the target's
landmark face mask (sber-swap also masks by landmarks).

PyTorch code: `twoface.swap.ghost` registers the component and imports this module only when a
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

from twoface.errors import ModelError
from twoface.identity.arcface import align
from twoface.swap.base import Generator, GeneratorSpec, PerSource, SourceIdentity

CROP, SIZE = 224, 256
TEMPLATE = "insightface_pose"  # sber-swap crops with insightface's pose templates


def _conv4x4(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)
    )


class _Deconv(nn.Module):
    def __init__(self, cin: int, cout: int, link: bool) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.link = link

    def forward(self, x, skip):
        x = F.leaky_relu(self.bn(self.deconv(x)), 0.1)
        return x + skip if self.link else torch.cat((x, skip), 1)


class AttributeEncoder(nn.Module):
    def __init__(self, link: bool, w: float) -> None:
        super().__init__()
        c = [max(1, int(v * w)) for v in (32, 64, 128, 256, 512, 1024)]
        chain = [3, *c, c[-1]]
        for i in range(7):
            self.add_module(f"conv{i + 1}", _conv4x4(chain[i], chain[i + 1]))
        up_in = [c[5]] + (
            [c[5], c[4], c[3], c[2], c[1]]
            if link
            else [2 * c[5], 2 * c[4], 2 * c[3], 2 * c[2], 2 * c[1]]
        )
        up_out = [c[5], c[4], c[3], c[2], c[1], c[0]]
        for i in range(6):
            self.add_module(f"deconv{i + 1}", _Deconv(up_in[i], up_out[i], link))

    def forward(self, x):
        feats = []
        for i in range(6):
            x = getattr(self, f"conv{i + 1}")(x)
            feats.append(x)
        z = [self.conv7(x)]
        for i in range(6):
            z.append(getattr(self, f"deconv{i + 1}")(z[-1], feats[5 - i]))
        z.append(F.interpolate(z[-1], scale_factor=2, mode="bilinear", align_corners=True))
        return z


class AADLayer(nn.Module):
    def __init__(self, cx: int, c_attr: int, c_id: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_attr, cx, 1)
        self.conv2 = nn.Conv2d(c_attr, cx, 1)
        self.fc1 = nn.Linear(c_id, cx)
        self.fc2 = nn.Linear(c_id, cx)
        self.conv_h = nn.Conv2d(cx, 1, 1)

    def forward(self, h, z_attr, z_id):
        h = F.instance_norm(h)
        a = self.conv1(z_attr) * h + self.conv2(z_attr)
        i = self.fc1(z_id)[:, :, None, None] * h + self.fc2(z_id)[:, :, None, None]
        m = torch.sigmoid(self.conv_h(h))
        return (1 - m) * a + m * i


class _AddBlocks(nn.Sequential):  # [AAD, ReLU, conv] x n, keys add_blocks.{3k}.*, .{3k+2}
    def forward(self, h, z_attr, z_id):
        mods = list(self)
        for k in range(0, len(mods), 3):
            h = mods[k + 2](F.relu(mods[k](h, z_attr, z_id)))
        return h


class AADResBlk(nn.Module):
    def __init__(self, cin: int, cout: int, c_attr: int, c_id: int, blocks: int) -> None:
        super().__init__()
        layers = []
        for i in range(blocks):
            out = cin if i < blocks - 1 else cout
            layers += [
                AADLayer(cin, c_attr, c_id),
                nn.ReLU(),
                nn.Conv2d(cin, out, 3, 1, 1, bias=False),
            ]
        self.add_blocks = _AddBlocks(*layers)
        self.cin, self.cout = cin, cout
        if cin != cout:
            self.last_add_block = _AddBlocks(
                AADLayer(cin, c_attr, c_id), nn.ReLU(), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
            )

    def forward(self, h, z_attr, z_id):
        x = self.add_blocks(h, z_attr, z_id)
        if self.cin != self.cout:
            h = self.last_add_block(h, z_attr, z_id)
        return x + h


class AADGenerator(nn.Module):
    def __init__(self, link: bool, blocks: int, w: float, c_id: int = 512) -> None:
        super().__init__()
        c = [max(1, int(v * w)) for v in (32, 64, 128, 256, 512, 1024)]
        self.up1 = nn.ConvTranspose2d(c_id, c[5], 2, 1, 0)
        chans = [c[5], c[5], c[5], c[5], c[4], c[3], c[2], c[1]]
        outs = [c[5], c[5], c[5], c[4], c[3], c[2], c[1], 3]
        attr = (
            [c[5], c[5], c[4], c[3], c[2], c[1], c[0], c[0]]
            if link
            else [c[5], 2 * c[5], 2 * c[4], 2 * c[3], 2 * c[2], 2 * c[1], 2 * c[0], 2 * c[0]]
        )
        for i in range(8):
            self.add_module(f"AADBlk{i + 1}", AADResBlk(chans[i], outs[i], attr[i], c_id, blocks))

    def forward(self, z_attr, z_id):
        m = self.up1(z_id[:, :, None, None])
        for i in range(7):
            m = getattr(self, f"AADBlk{i + 1}")(m, z_attr[i], z_id)
            m = F.interpolate(m, scale_factor=2, mode="bilinear", align_corners=True)
        return torch.tanh(self.AADBlk8(m, z_attr[7], z_id))


class AEINet(nn.Module):
    def __init__(self, backbone: str = "unet", blocks: int = 2, width: float = 1.0) -> None:
        super().__init__()
        link = backbone == "linknet"
        self.encoder = AttributeEncoder(link, width)
        self.generator = AADGenerator(link, blocks, width)

    def forward(self, target, z_id):
        return self.generator(self.encoder(target), z_id)

    @classmethod
    def from_state_dict(cls, sd) -> AEINet:
        try:
            width = sd["encoder.conv1.0.weight"].shape[0] / 32
            c5 = sd["encoder.deconv2.deconv.weight"].shape[0]
            link = c5 == sd["encoder.conv6.0.weight"].shape[0]  # unet doubles deconv2's input
            blocks = (
                len({k.split(".")[3] for k in sd if k.startswith("generator.AADBlk1.add_blocks.")})
                // 2
            )
        except KeyError:
            raise ModelError("not an AEI-Net checkpoint (no encoder/generator keys)") from None
        return cls("linknet" if link else "unet", max(blocks, 1), width)


def load_aei_net(path: str | os.PathLike) -> AEINet:
    from twoface.runtime.checkpoints import build_from, load_into, load_torch_state

    sd = load_torch_state(path)
    net = build_from(path, "a GHOST AEI-Net checkpoint", lambda: AEINet.from_state_dict(sd))
    return load_into(net, sd, path, "a GHOST AEI-Net checkpoint")


class GhostGenerator(Generator):
    """AEI-Net on the 224 crop (resized to 256 for the network and back), with iresnet100."""

    name = "ghost"
    default_masks = ("area",)  # sber-swap pastes inside a landmark mask

    def __init__(
        self,
        model_path,
        arcface,
        device: str | None = None,
        half: bool = False,
        size: int = CROP,
        template: str = TEMPLATE,
    ) -> None:
        from twoface.runtime import torch_device

        self.spec = GeneratorSpec(size, template)
        self.device = torch_device(device)
        self.dtype = torch.float16 if half else torch.float32
        self.net = load_aei_net(model_path).to(self.device, self.dtype)
        self.arcface = arcface.to(self.device, self.dtype)
        self.identity = PerSource(self._identity)

    @classmethod
    def from_entry(cls, entry, ctx) -> GhostGenerator:
        arcface = ctx.pool.get("identity", entry.pairs_with, ctx.runtime)
        spec = entry.preprocess
        return cls(
            ctx.find(entry),
            arcface,
            device=ctx.runtime.device,
            half=ctx.runtime.half,
            size=spec.size or CROP,
            template=spec.template or TEMPLATE,
        )

    def _tensor(self, crops: Sequence[np.ndarray], size: int) -> torch.Tensor:
        x = np.stack(
            [
                cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR)
                if c.shape[0] != size
                else c
                for c in crops
            ]
        )
        t = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self.device, self.dtype)
        return t / 127.5 - 1

    @torch.inference_mode()
    def _identity(self, source: SourceIdentity) -> torch.Tensor:
        """Mean raw iresnet100 embedding of the source photos (224 crops halved to 112)."""
        size = self.spec.size
        crops = [align(f.image, f.face.kps, size, self.spec.template)[0] for f in source.faces]
        x = F.interpolate(
            self._tensor(crops, size), scale_factor=112 / size, mode="bilinear", align_corners=True
        )
        return self.arcface(x).mean(0)

    def latents(self, sources: Sequence[SourceIdentity]) -> torch.Tensor:
        return torch.stack([self.identity(s) for s in sources])

    @torch.inference_mode()
    def generate_256(self, crops: np.ndarray, latents: torch.Tensor) -> np.ndarray:
        """The network's own output: (N, 256, 256, 3) uint8."""
        y = self.net(self._tensor(crops, SIZE), latents)
        return (
            ((y.float() * 0.5 + 0.5).clamp(0, 1) * 255)
            .round()
            .byte()
            .permute(0, 2, 3, 1)
            .cpu()
            .numpy()
        )

    def to_crop(self, faces: np.ndarray) -> np.ndarray:
        size = self.spec.size
        return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces])

    def generate(self, crops: np.ndarray, latents: torch.Tensor) -> np.ndarray:
        return self.to_crop(self.generate_256(crops, latents))


class GhostWithSR(Generator):
    """A GHOST generator whose 256-px output goes through sber-swap's super-resolution model
    before it is resized to the crop and pasted (sber-swap's `--use_sr True`)."""

    def __init__(self, ghost: GhostGenerator, sr) -> None:
        self.ghost, self.sr = ghost, sr
        self.name = f"{ghost.name}+sr"
        self.spec = ghost.spec
        self.default_masks = ghost.default_masks

    def latents(self, sources: Sequence[SourceIdentity]):
        return self.ghost.latents(sources)

    def generate(self, crops: np.ndarray, latents) -> np.ndarray:
        return self.ghost.to_crop(self.sr.enhance(self.ghost.generate_256(crops, latents)))
