"""A model store of random-weight files in the official formats, for speed runs where the real
files cannot be fetched (a lent GPU host has no network; speed does not depend on weight values).

    python benchmarks/random_store.py STORE [--detector PATH]

Writes STORE/models/inswapper_128.onnx (the exact inswapper architecture: inputs `target`
[N,3,128,128] and `source` [N,512], the 512x512 emap as the last initializer, batch dynamic),
STORE/models/w600k_r50.onnx (an IResNet-50 ArcFace: input [N,3,112,112], a 512-d embedding) and,
with --detector (e.g. ../shared/models/scrfd_500m_bnkps.onnx, a real file), a copy under the
catalogue's name for scrfd_500m_bnkps_dynamic. Then `twoface swap|batch --models-dir STORE
--swapper inswapper_128 --detector scrfd_500m_bnkps_dynamic` runs the learned path with them
(--ray workers and --devices processes included).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def build(store: Path, detector: Path | None = None, seed: int = 0) -> list[Path]:
    import numpy as np
    import torch

    from twoface.identity.iresnet_net import IResNet
    from twoface.swap.styletransfer_net import StyleTransferModel
    from twoface.train.export import inswapper_onnx

    models = store / "models"
    models.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    written = []
    net = StyleTransferModel().eval()
    emap = np.random.default_rng(seed).normal(size=(512, 512)).astype(np.float32)
    # twoface's own exporter (what `twoface train` writes), with the batch axis free
    (models / "inswapper_128.onnx").write_bytes(inswapper_onnx(net, 128, emap, any_batch=True))
    written.append(models / "inswapper_128.onnx")
    arc = IResNet(layers=(3, 4, 14, 3)).eval()  # r50, as w600k_r50
    torch.onnx.export(
        arc,
        (torch.rand(1, 3, 112, 112),),
        str(models / "w600k_r50.onnx"),
        input_names=["input.1"],
        output_names=["683"],
        dynamo=False,
        opset_version=11,
        dynamic_axes={"input.1": {0: "N"}, "683": {0: "N"}},
    )
    written.append(models / "w600k_r50.onnx")
    if detector is not None:
        from twoface.zoo.catalogue import CATALOGUE

        dest = models / CATALOGUE["scrfd_500m_bnkps_dynamic"].filename
        shutil.copyfile(detector, dest)
        written.append(dest)
    return written


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path)
    p.add_argument("--detector", type=Path, help="a real SCRFD-500M ONNX file to copy in")
    args = p.parse_args()
    for path in build(args.store, args.detector):
        print(f"{path} ({path.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
