"""`twoface bench`: how fast a video swap runs here, against what the codec alone allows.

One run on a synthetic clip (the source photo's face tiled `faces` times on a plain frame,
drifting a pixel a frame) or on the user's file:
- codec bound: raw PyAV decode + one x264 encode (ultrafast unless --preset says), the same
  through twoface's own reader and writer, and that writer with several encoders over segments
  (`--encoders`, twoface.io.segments: the bound past one encoder);
- the full pipeline (batches of 8 frames) and the same models driven one frame at a time;
- a per-stage breakdown in ms per frame (detect, landmarks and select: finding and picking faces;
  swap: aligning, generating and masking; paste: pasting back, which overlaps the next batch's
  generation -- for the classical engine, its whole warp), and peak GPU memory on CUDA.
Learned swappers whose files are not installed run with random weights of the exact
architecture (speed does not depend on weight values); the report says so.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from twoface.errors import UsageError

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
PRESET = "ultrafast"


def synthetic_clip(
    path: Path, face: np.ndarray, size: tuple[int, int], faces: int, frames: int, fps: int = 25
):
    """`faces` copies of `face` (RGB) in a row on a grey frame, drifting right 1 px a frame."""
    import av
    import cv2

    w, h = size
    side = int(min(h * 0.45, w / max(faces, 1) * 0.8))
    tile = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    base = np.full((h, w, 3), 96, np.uint8)
    gap = w // max(faces, 1)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": PRESET, "crf": "18"}
        for i in range(frames):
            frame = base.copy()
            for k in range(faces):
                x = k * gap + (gap - side) // 2 + (i % 20)
                y = (h - side) // 2
                frame[y : y + side, x : x + side] = tile[:, : max(0, min(side, w - x))]
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def raw_codec_fps(clip: Path, out: Path, preset: str = PRESET) -> float:
    """Decode (threaded, rgb24) and encode (one x264, `preset`) with PyAV alone."""
    import av

    t = time.perf_counter()
    n = 0
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        v = src.streams.video[0]
        v.thread_type = "AUTO"
        s = dst.add_stream("libx264", rate=v.average_rate or 25)
        s.width, s.height, s.pix_fmt = v.codec_context.width, v.codec_context.height, "yuv420p"
        s.options = {"preset": preset, "crf": "18"}
        s.codec_context.thread_type = "FRAME"  # what x264 is fastest with on many cores
        for frame in src.decode(v):
            rgb = frame.to_ndarray(format="rgb24")
            for p in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                dst.mux(p)
            n += 1
        for p in s.encode(None):
            dst.mux(p)
    return n / (time.perf_counter() - t)


def twoface_codec_fps(clip: Path, out: Path, preset: str = PRESET, encoders: int = 1) -> float:
    """The same through twoface's reader and writer (rotation, colour range, timestamps kept),
    with `encoders` x264 instances over segments."""
    from twoface.io.packets import VideoPacket
    from twoface.io.video import VideoWriter, probe, read_video

    info = probe(clip)
    t = time.perf_counter()
    writer = VideoWriter(out, clip, info, None, crf=18, preset=preset, encoders=encoders)
    n = 0
    for packet in read_video(clip, info):
        if isinstance(packet, VideoPacket):
            writer.write(packet)
            n += 1
    writer.close()
    return n / (time.perf_counter() - t)


def random_engine(
    name: str,
    device: str | None,
    half: bool,
    compile: bool = False,  # noqa: A002
    catalogue=None,
):
    """A learned engine of `name`'s architecture with random weights (inswapper family).
    catalogue: the store's (twoface.zoo.store.ModelStore.catalogue; default: the published)."""
    import torch

    from twoface.registry import lookup
    from twoface.swap.base import GeneratorSpec, PerSource
    from twoface.swap.engine import LearnedEngine
    from twoface.swap.inswapper import InswapperGenerator
    from twoface.swap.styletransfer_net import StyleTransferModel
    from twoface.zoo.catalogue import CATALOGUE

    entry = (CATALOGUE if catalogue is None else catalogue).get(name)
    comp = lookup(entry.task, entry.arch) if entry is not None else None
    if comp is None or comp.factory is not InswapperGenerator:
        raise UsageError(
            f"bench: {name} is not installed, and random weights are built for the inswapper "
            "family only; install the file or bench inswapper_128",
            "swap",
        )
    gen = InswapperGenerator.__new__(InswapperGenerator)
    gen.spec = GeneratorSpec(entry.preprocess.size or 128, entry.preprocess.template or "arcface")
    gen._on_torch(device, half)
    torch.manual_seed(0)
    gen.net = StyleTransferModel().to(gen.device, gen.dtype).eval()
    if compile:
        gen.net = torch.compile(gen.net, mode="max-autotune-no-cudagraphs")
    rng = np.random.default_rng(0)
    gen.emap = rng.normal(size=(512, 512)).astype(np.float32)
    gen.latent = PerSource(lambda source: _unit(rng.normal(size=512)))
    return LearnedEngine(gen)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def run(
    source,
    device: str = "cpu",
    size: str = "1080p",
    faces: int = 1,
    swapper: str = "classical",
    input_path=None,
    frames: int = 120,
    half: bool = False,
    detector: str = "retinaface",
    landmarker: str | None = None,
    models_dir=None,
    compile: bool = False,  # noqa: A002 - the flag's name
    preset: str = PRESET,
    encoders: int = 0,
) -> dict:
    """Measure and return the report (what `twoface bench --json` prints). landmarker: None
    picks dlib68 for the classical engine and none (the detector's keypoints) for learned
    swappers, which align by keypoints alone."""
    from twoface.api import Swapper
    from twoface.config import Config, ModelsConfig, OutputConfig, RuntimeConfig
    from twoface.errors import ModelError
    from twoface.io.image import load_image

    if size not in SIZES:
        raise UsageError(f"size {size}: use one of {', '.join(SIZES)}", "size")
    if faces < 1:
        raise UsageError(f"faces {faces}: at least 1", "faces")
    from twoface.io.segments import auto_encoders

    encoders = encoders or auto_encoders()
    report: dict = {"device": device, "swapper": swapper, "random_weights": False}
    report |= {"preset": preset, "encoders": encoders}
    with tempfile.TemporaryDirectory(prefix="twoface-bench-") as tmp:
        tmpdir = Path(tmp)
        if input_path is None:
            clip = tmpdir / "synthetic.mp4"
            face = load_image(source).rgb
            synthetic_clip(clip, face, SIZES[size], faces, frames)
            report["input"] = f"synthetic {size}, {faces} face(s), {frames} frames"
        else:
            clip = Path(input_path)
            report["input"] = str(clip)
        report["codec_raw_fps"] = raw_codec_fps(clip, tmpdir / "raw.mp4", preset)
        report["codec_twoface_fps"] = twoface_codec_fps(clip, tmpdir / "own.mp4", preset)
        report["codec_multi_fps"] = (
            twoface_codec_fps(clip, tmpdir / "multi.mp4", preset, encoders)
            if encoders > 1
            else report["codec_twoface_fps"]
        )
        runtime = RuntimeConfig(
            "torch" if device.startswith("cuda") else "onnxruntime", device, half, compile
        )
        marks = landmarker or ("dlib68" if swapper == "classical" else "none")
        models = ModelsConfig(
            detector=detector, landmarker=marks, swapper=swapper, models_dir=models_dir
        )
        report["detector"], report["landmarker"] = detector, marks
        report["compiled"] = compile
        try:
            sw = Swapper(Config(models, runtime))
        except ModelError:
            sw = Swapper(Config(replace(models, swapper="classical"), runtime))
            sw.engine = random_engine(swapper, device, half, compile, sw.store.catalogue)
            report["random_weights"] = True
        # Warm up (kernels, caches, the source latent) outside the timed runs.
        sw.swap_image(source, _first_frame(clip), many=faces > 1)
        runs = {}
        # On a GPU the models are captured in CUDA graphs per batch shape, and a compiled
        # generator is compiled again per shape: a first, untimed run of the clip meets the
        # shapes the timed one does.
        for batch in (8, 8, 1) if compile or device.startswith("cuda") else (8, 1):
            _reset_gpu(device)
            if hasattr(sw.engine, "generator_seconds"):
                sw.engine.generator_seconds, sw.engine.generator_faces = 0.0, 0
            t = time.perf_counter()
            result = sw.swap_video(
                source,
                clip,
                tmpdir / f"out{batch}.mp4",
                progress=False,
                many=faces > 1,
                # Identity re-association needs a descriptor the landmarker can feed (dlib's
                # needs 68 points); keypoint-only runs track by box overlap alone.
                track_identity=marks != "none",
                options=OutputConfig(
                    preset=preset, label=False, batch_size=batch, encoders=encoders
                ),
            )
            runs[batch] = (result, result.frames / (time.perf_counter() - t))
            if batch == 8 and hasattr(sw.engine, "generator_seconds"):
                engine = sw.engine
                report["generator_pipeline_faces_s"] = engine.generator_faces / max(
                    engine.generator_seconds, 1e-9
                )
        result, fps = runs[8]
        report["pipeline_fps"] = fps
        report["batch1_fps"] = runs[1][1]
        report["frames"] = result.frames
        report["faces_swapped"] = int(sum(result.faces_per_frame))
        report["stages_ms_per_frame"] = {
            k: 1000 * v / max(result.frames, 1) for k, v in result.timings.items()
        }
        report["pipeline_vs_codec"] = fps / report["codec_raw_fps"]
        report["pipeline_vs_batch1"] = fps / max(runs[1][1], 1e-9)
        report["codec_twoface_vs_raw"] = report["codec_twoface_fps"] / report["codec_raw_fps"]
        report["codec_multi_vs_raw"] = report["codec_multi_fps"] / report["codec_raw_fps"]
        report["peak_gpu_memory_mb"] = _peak_gpu(device)
        report["generator_alone_faces_s"] = _generator_alone(sw, source, 8 * faces, device)
        report.setdefault("generator_pipeline_faces_s", None)
    return report


def _generator_alone(sw, source, batch: int, device: str) -> float | None:
    """The engine's generator alone on batches of `batch` crops (random pixels, the source's
    identity): faces per second (None for engines without a generator)."""
    gen = getattr(sw.engine, "generator", None)
    if gen is None:
        return None
    from twoface.swap.base import SourceIdentity

    identity = SourceIdentity.combine(sw.source_faces([source], identity=False))
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (batch, gen.spec.size, gen.spec.size, 3), dtype=np.uint8)
    latents = gen.latents([identity] * batch)
    gen.generate(crops, latents)  # warm-up (and the batch shape's capture)
    runs = 5 if device.startswith("cuda") else 1
    t = time.perf_counter()
    for _ in range(runs):
        gen.generate(crops, latents)
    return runs * batch / (time.perf_counter() - t)


def _first_frame(clip: Path) -> np.ndarray:
    import av

    with av.open(str(clip)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def _reset_gpu(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def _peak_gpu(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def table(report: dict) -> str:
    """The report as the text `twoface bench` prints."""
    lines = [
        f"input: {report['input']}; device {report['device']}; detector {report['detector']}, "
        f"landmarks {report['landmarker']}, swapper {report['swapper']}"
        + (" (random weights of the exact architecture)" if report["random_weights"] else ""),
        f"  codec bound (PyAV decode + one x264 {report['preset']})"
        f"   {report['codec_raw_fps']:8.1f} fps",
        f"  twoface reader + writer alone          {report['codec_twoface_fps']:8.1f} fps"
        f"  ({report['codec_twoface_vs_raw']:.2f}x the bound)",
        f"  the same, {report['encoders']} encoder(s) over segments"
        f"    {report['codec_multi_fps']:8.1f} fps  ({report['codec_multi_vs_raw']:.2f}x the bound)",
        f"  full pipeline, batches of 8 ({report['encoders']} enc.)  {report['pipeline_fps']:8.1f} fps"
        f"  ({report['pipeline_vs_codec']:.2f}x the bound)",
        f"  same models, one frame at a time       {report['batch1_fps']:8.1f} fps"
        f"  (batching: {report['pipeline_vs_batch1']:.2f}x)",
        f"  frames {report['frames']}, faces swapped {report['faces_swapped']}",
        "  per stage (ms/frame): "
        + ", ".join(f"{k} {v:.1f}" for k, v in report["stages_ms_per_frame"].items()),
        "  generator: "
        + (
            f"{report['generator_pipeline_faces_s']:.0f} faces/s in the pipeline, "
            f"{report['generator_alone_faces_s']:.0f} alone on batches of the same size "
            f"({report['generator_pipeline_faces_s'] / report['generator_alone_faces_s']:.0%})"
            if report.get("generator_pipeline_faces_s") and report.get("generator_alone_faces_s")
            else "- (the classical engine has none)"
        ),
        "  peak GPU memory: "
        + (
            f"{report['peak_gpu_memory_mb']:.0f} MB"
            if report["peak_gpu_memory_mb"] is not None
            else "- (CPU)"
        ),
    ]
    return "\n".join(lines)
