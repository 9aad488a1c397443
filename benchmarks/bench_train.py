"""Training throughput of the exact architectures (random weights: speed does not depend on
them): steps/s and images/s per recipe, and whether the losses fall over a short run.

    python benchmarks/bench_train.py --data128 D128 --data256 D256 --data224 D224 --device cuda \\
        --steps 200 --batch 32 --precision bf16

The identity networks are built here with random weights in their published architectures
(insightface's iresnet50 as w600k_r50.onnx, sber-swap's iresnet100 backbone.pth) in a
temporary model store. Datasets come from `twoface dataset build` (--for ARCH).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _stub_cv2_if_missing() -> None:
    """Training needs no OpenCV; a GPU host without it can still import twoface's modules."""
    try:
        import cv2  # noqa: F401
    except ImportError:

        class _Stub(types.ModuleType):
            def __getattr__(self, name):
                return 0

        sys.modules["cv2"] = _Stub("cv2")


def _identity_files(home: Path) -> None:
    import onnx
    import torch

    from twoface.identity.iresnet import IResNet

    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    r50 = IResNet((3, 4, 14, 3)).eval()
    buf = io.BytesIO()
    torch.onnx.export(
        r50,
        (torch.rand(1, 3, 112, 112),),
        buf,
        input_names=["input.1"],
        output_names=["embedding"],
        dynamo=False,
        opset_version=11,
        dynamic_axes={"input.1": {0: "n"}, "embedding": {0: "n"}},
    )
    onnx.save(onnx.load_from_string(buf.getvalue()), str(models / "w600k_r50.onnx"))
    torch.save(IResNet().state_dict(), models / "backbone.pth")


def main() -> int:
    _stub_cv2_if_missing()
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data128")
    ap.add_argument("--data256")
    ap.add_argument("--data224")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--width", type=float, default=1.0)
    args = ap.parse_args()

    from twoface.train.recipes import recipe
    from twoface.train.trainer import Trainer
    from twoface.zoo.store import ModelStore

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    home = Path(tempfile.mkdtemp(prefix="twoface-bench-train-"))
    _identity_files(home)
    store = ModelStore(home)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch}; {args.precision}")
    runs = [
        ("inswapper128", args.data128),
        ("reswapper256", args.data256),
        ("ghost_unet_2", args.data224),
    ]
    for arch, data in runs:
        if not data:
            continue
        r = recipe(
            arch,
            steps=args.steps,
            batch=args.batch,
            precision=args.precision,
            width=args.width,
            log_every=max(1, args.steps // 10),
            sample_every=10**9,
            checkpoint_every=10**9,
        )
        trainer = Trainer(r, data, home / f"run-{arch}", store, args.device)
        trainer.fit(steps=3)  # warm-up: cuDNN picks its kernels
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        rows = trainer.fit(steps=3 + args.steps)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        first, last = rows[0], rows[-1]
        mem = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else 0
        print(
            f"{arch:<14} {r.size}px  {args.steps / seconds:6.2f} steps/s  "
            f"{args.steps * args.batch / seconds:7.1f} images/s  peak {mem:.1f} GiB  "
            f"loss_g {first['loss_g']:.3f} -> {last['loss_g']:.3f}  "
            f"id {first['id']:.3f} -> {last['id']:.3f}  rec {first['rec']:.4f} -> {last['rec']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
