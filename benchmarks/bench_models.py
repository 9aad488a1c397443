"""Throughput of the learned models' exact architectures with random weights (speed does not
depend on weight values), on CPU or GPU, at several batch sizes and precisions.

    python benchmarks/bench_models.py --device cuda --batches 1 64 --dtypes fp32 fp16 bf16
    python benchmarks/bench_models.py --device cpu --batches 1 4 --dtypes fp32

Models: the realism stages (bisenet512, gfpgan512, ghost_sr256; not in the default set), the
inswapper/ReSwapper generator at 128 and 256 px (174.6 GMAC = 349 GFLOP per 128 px
face; achieved TFLOP/s printed), SCRFD-2.5G (mmdetection architecture) and the SCRFD-500M /
YuNet ONNX files of ../shared/models run as PyTorch graphs, at 640x640.
Prints one line per (model, dtype, batch): items/s, ms per batch, TFLOP/s where known.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SHARED = Path(os.environ.get("TWOFACE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def timed(fn, sync, warmup: int, min_seconds: float) -> float:
    """Seconds per call: mean over repeated calls after warm-up."""
    for _ in range(warmup):
        fn()
    sync()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and n >= 3:
            return elapsed / n


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "fp16"])
    ap.add_argument(
        "--models",
        nargs="+",
        default=["inswapper128", "reswapper256", "scrfd2.5g", "scrfd500m", "yunet_s", "yunet_n"],
    )
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--models-dir", default=str(SHARED / "models"))
    ap.add_argument("--channels-last", action="store_true", default=True)
    ap.add_argument("--compile", action="store_true", help="torch.compile the generator too")
    args = ap.parse_args()

    from twoface.swap.styletransfer import StyleTransferModel, macs_per_face

    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    name = torch.cuda.get_device_name() if dev.type == "cuda" else f"CPU x{os.cpu_count()}"
    print(f"device: {name}; torch {torch.__version__}")
    print(f"{'model':<16}{'dtype':<6}{'batch':>6}{'items/s':>11}{'ms/batch':>10}{'TFLOP/s':>9}")

    def builders():
        for m in args.models:
            if m in ("inswapper128", "reswapper256"):
                size = 128 if m == "inswapper128" else 256
                net = StyleTransferModel().eval()
                flops = 2 * macs_per_face(size)

                def make(batch, dtype, net=net, size=size):
                    model = net.to(dev, dtype)
                    if args.channels_last:
                        model = model.to(memory_format=torch.channels_last)
                    if args.compile:
                        model = torch.compile(model, mode="max-autotune-no-cudagraphs")
                    x = torch.rand(batch, 3, size, size, device=dev, dtype=dtype)
                    if args.channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                    s = torch.nn.functional.normalize(
                        torch.randn(batch, 512, device=dev), dim=1
                    ).to(dtype)
                    return lambda: model(x, s)

                yield m, make, flops
            elif m == "inswapper_onnx_graph":
                # The path a downloaded inswapper_128.onnx takes with --runtime torch: the ONNX
                # graph run by twoface's interpreter (exported here from the same architecture).
                import io

                from twoface.runtime.onnx_torch import OnnxModule

                buf = io.BytesIO()
                torch.onnx.export(
                    StyleTransferModel().eval(),
                    (torch.rand(1, 3, 128, 128), torch.rand(1, 512)),
                    buf,
                    input_names=["target", "source"],
                    output_names=["output"],
                    dynamo=False,
                    opset_version=11,
                )
                graph = OnnxModule(buf.getvalue()).eval()
                flops = 2 * macs_per_face(128)

                def make(batch, dtype, graph=graph):
                    model = graph.to(dev).to(dtype)
                    if args.compile:
                        model = torch.compile(model, mode="max-autotune-no-cudagraphs")
                    x = torch.rand(batch, 3, 128, 128, device=dev, dtype=dtype)
                    s = torch.nn.functional.normalize(torch.randn(batch, 512, device=dev), dim=1)
                    return lambda: model(x, s.to(dtype))

                yield m, make, flops
            elif m in (
                "simswap224",
                "simswap512",
                "ghost_unet2",
                "arcface_iresnet100",
                "simswap_arcface",
                "retinaface_mnet",
                "retinaface_r50",
                "bisenet512",
                "gfpgan512",
                "ghost_sr256",
            ):
                if m.startswith("simswap") and m != "simswap_arcface":
                    from twoface.swap.simswap import SimSwapNet

                    big = m == "simswap512"
                    net, size, two = (
                        SimSwapNet(size512=big).eval(),
                        (512 if big else 224),
                        True,
                    )
                elif m == "ghost_unet2":
                    from twoface.swap.ghost import AEINet

                    net, size, two = AEINet("unet", 2).eval(), 256, True
                elif m == "arcface_iresnet100":
                    from twoface.identity.iresnet import IResNet

                    net, size, two = IResNet().eval(), 112, False
                elif m == "simswap_arcface":
                    from twoface.swap.simswap import SimSwapArcFace

                    net, size, two = SimSwapArcFace().eval(), 112, False
                elif m == "bisenet512":
                    from twoface.parse.bisenet import BiSeNet

                    net, size, two = BiSeNet().eval(), 512, False
                elif m == "gfpgan512":
                    from twoface.enhance.gfpgan import GFPGANv1Clean

                    net, size, two = GFPGANv1Clean(512).eval(), 512, False
                elif m == "ghost_sr256":
                    from twoface.enhance.ghost_sr import GhostSR

                    net, size, two = GhostSR().eval(), 256, False
                else:
                    from twoface.detect.retinaface_torch import RetinaFaceNet

                    net, size, two = (
                        RetinaFaceNet("mobilenet0.25" if m.endswith("mnet") else "resnet50").eval(),
                        640,
                        False,
                    )

                def make(batch, dtype, net=net, size=size, two=two):
                    model = net.to(dev, dtype)
                    x = torch.rand(batch, 3, size, size, device=dev, dtype=dtype)
                    if two:
                        z = torch.randn(batch, 512, device=dev, dtype=dtype)
                        return lambda: model(x, z)
                    return lambda: model(x)

                yield m, make, None
            elif m in ("anime_yolov3", "anime_hrnetv2", "anime_frcnn_backbone"):
                if m == "anime_yolov3":
                    from twoface.anime.yolov3 import AnimeYOLOv3

                    net, shape = AnimeYOLOv3().eval(), (608, 608)
                elif m == "anime_hrnetv2":
                    from twoface.anime.hrnet import AnimeHRNet

                    net, shape = AnimeHRNet().eval(), (256, 256)
                else:
                    from twoface.anime.faster_rcnn import AnimeFasterRCNN

                    full = AnimeFasterRCNN().eval()

                    class _Dense(torch.nn.Module):  # backbone + FPN + RPN: the dense part
                        def __init__(self, f):
                            super().__init__()
                            self.f = f

                        def forward(self, x):
                            return self.f.rpn_head(self.f.neck(self.f.backbone(x)))

                    net, shape = _Dense(full), (800, 1216)

                def make(batch, dtype, net=net, shape=shape):
                    model = net.to(dev, dtype)
                    x = torch.rand(batch, 3, *shape, device=dev, dtype=dtype)
                    return lambda: model(x)

                yield m, make, None
            elif m == "scrfd2.5g":
                from twoface.detect.scrfd_mmdet import ScrfdNet

                net = ScrfdNet(
                    (12, 12, 24), [24, 48, 48, 80], [3, 5, 3, 2], 24, 64, 2, 2, False, 8
                ).eval()

                def make(batch, dtype, net=net):
                    model = net.to(dev, dtype)
                    x = torch.rand(batch, 3, 640, 640, device=dev, dtype=dtype)
                    return lambda: model(x)

                yield m, make, None
            else:
                from twoface.runtime.onnx_torch import OnnxModule

                files = {
                    "scrfd500m": "scrfd_500m_bnkps.onnx",
                    "yunet_s": "yunet_s_dynamic.onnx",
                    "yunet_n": "yunet_n_dynamic.onnx",
                }
                path = Path(args.models_dir) / files[m]
                if not path.is_file():
                    print(f"{m}: {path} not found, skipped")
                    continue
                graph = OnnxModule(path).eval()

                def make(batch, dtype, graph=graph):
                    model = graph.to(dev).to(dtype)
                    x = torch.rand(batch, 3, 640, 640, device=dev, dtype=dtype)
                    return lambda: model(x)

                yield m, make, None

    for m, make, flops in builders():
        for dname in args.dtypes:
            for batch in args.batches:
                try:
                    with torch.inference_mode():
                        fn = make(batch, dtypes[dname])
                        sec = timed(
                            fn,
                            sync,
                            warmup=2 if dev.type == "cuda" else 1,
                            min_seconds=args.seconds,
                        )
                except (RuntimeError, torch.OutOfMemoryError) as e:
                    print(f"{m:<16}{dname:<6}{batch:>6}  failed: {str(e).splitlines()[0][:80]}")
                    continue
                rate = batch / sec
                tf = f"{rate * flops / 1e12:9.1f}" if flops else f"{'':>9}"
                print(
                    f"{m:<16}{dname:<6}{batch:>6}{rate:>11.1f}{sec * 1000:>10.2f}{tf}", flush=True
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
