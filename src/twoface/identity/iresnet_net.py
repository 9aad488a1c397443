"""insightface's iResNet (arcface_torch) in PyTorch, loading `backbone.pth`-style state dicts by
their key names (`conv1`, `bn1`, `prelu`, `layerN.M.{bn1,conv1,bn2,prelu,conv2,bn3,downsample}`,
`bn2`, `fc`, `features`). iresnet100 is sber-swap's (GHOST's) identity encoder: RGB in [-1, 1] at
112 px, 512-d output. Depths are read from the checkpoint, so iresnet18/34/50/100 load alike.

PyTorch code: `twoface.identity.iresnet` registers the component and imports this module only when
a model is built, so component discovery never imports torch.
"""

from __future__ import annotations

import os

from torch import nn

from twoface.errors import ModelError

DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}


class IBasicBlock(nn.Module):
    def __init__(self, cin: int, c: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c, eps=1e-5)
        self.prelu = nn.PReLU(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c, eps=1e-5)
        self.downsample = None
        if stride != 1 or cin != c:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c, eps=1e-5)
            )

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    def __init__(self, layers=(3, 13, 30, 3), width: float = 1.0, embedding: int = 512) -> None:
        super().__init__()
        c = [max(1, int(v * width)) for v in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, c[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0], eps=1e-5)
        self.prelu = nn.PReLU(c[0])
        cin = c[0]
        for i, (n, ci) in enumerate(zip(layers, c, strict=True)):
            blocks = [IBasicBlock(cin, ci, 2)] + [IBasicBlock(ci, ci, 1) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            cin = ci
        self.bn2 = nn.BatchNorm2d(c[3], eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(c[3] * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-5)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        x = self.bn2(x).flatten(1)
        return self.features(self.fc(self.dropout(x)))


def load_iresnet(path: str | os.PathLike) -> IResNet:
    from twoface.runtime.checkpoints import build_from, load_into, load_torch_state

    sd = load_torch_state(path)
    try:
        layers = tuple(
            len({k.split(".")[1] for k in sd if k.startswith(f"layer{i}.")}) for i in range(1, 5)
        )
        width = sd["conv1.weight"].shape[0] / 64
        embedding = sd["fc.weight"].shape[0]
    except (KeyError, IndexError):
        raise ModelError(f"{path}: not an iResNet checkpoint (no conv1/fc weights)") from None
    if 0 in layers:
        raise ModelError(f"{path}: not an iResNet checkpoint (no layer1..layer4 blocks)")
    net = build_from(path, "an iResNet checkpoint", lambda: IResNet(layers, width, embedding))
    return load_into(net, sd, path, "an iResNet checkpoint")
