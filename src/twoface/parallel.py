"""One video on several workers (one per GPU): split at keyframes, swap the segments in parallel
processes, join them by stream copy and mux the audio once.

The video is cut at the keyframes nearest to equal shares of its duration (so every segment
decodes from its own keyframe and nothing is decoded twice); each worker swaps its segment with
the API (`Swapper.swap_video(trim=...)`) into a temporary file of the output's folder; the join
copies the segments' packets, shifted back to their place on the timeline, and the source's audio
packets, unchanged, into the output, which gets the synthetic-media label and appears atomically.
People are tracked and chosen per segment: at a cut a worker starts afresh (a `--reference`
choice is the same everywhere; the default "most prominent person" is decided again).
"""

from __future__ import annotations

import heapq
import os
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

from twoface.errors import InputError, UsageError


def keyframe_times(path: str | os.PathLike) -> tuple[list[float], float]:
    """Seconds of every keyframe of the first video stream (demuxed, not decoded), and the
    video's duration."""
    import av

    times, end = [], Fraction(0)
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        for packet in c.demux(v):
            if packet.pts is None:
                continue
            t = Fraction(packet.pts) * packet.time_base  # exact: cuts land on frames
            if packet.is_keyframe:
                times.append(t)
            end = max(end, t + Fraction(packet.duration or 0) * packet.time_base)
    return sorted(times), end


def plan_segments(keyframes: list, duration, workers: int) -> list[tuple]:
    """[start, end) seconds per segment: cut at the keyframe nearest each equal share. The first
    starts at 0 whatever its first keyframe (an edited clip may open mid-GOP)."""
    starts = [Fraction(0)]
    for k in range(1, workers):
        want = duration * k / workers
        cut = min(keyframes, key=lambda t: abs(t - want)) if keyframes else want
        if cut > starts[-1]:
            starts.append(cut)
    ends = [*starts[1:], duration + 1.0]  # the last runs to the end
    return list(zip(starts, ends, strict=True))


def _swap_segment(job: dict) -> dict:
    """In a worker process: one segment through its own Swapper on its own device."""
    from twoface import Swapper
    from twoface.config import OutputConfig

    swapper = Swapper(job["config"])
    options = OutputConfig(**job["options"])
    result = swapper.swap_video(
        job["source"],
        job["target"],
        job["output"],
        selection=job["selection"],
        options=options,
        progress=False,
    )
    return {
        "frames": result.frames,
        "frames_swapped": result.frames_swapped,
        "tracks": result.tracks,
        "tracks_swapped": result.tracks_swapped,
    }


def swap_video_parallel(
    config,
    source,
    target: str | os.PathLike,
    output: str | os.PathLike,
    *,
    devices: list[str | None],
    selection=None,
    options=None,
) -> dict:
    """Swap `target` into `output` with one worker process per entry of `devices` (e.g.
    ["cuda:0", "cuda:1"], or [None, None] for two CPU workers). Returns the summed figures."""
    from dataclasses import asdict, replace

    from twoface.build import AUTO, choose_swapper
    from twoface.config import OutputConfig, SelectionConfig
    from twoface.io.atomic import atomic_path
    from twoface.io.provenance import make_label
    from twoface.io.video import check_video_output, probe

    if len(devices) < 1:
        raise UsageError("give at least one worker", "workers")
    options = options or OutputConfig()
    if options.trim is not None:
        raise UsageError("several workers swap whole videos; drop --trim", "trim")
    selection = selection or SelectionConfig()
    if config.models.swapper == AUTO:  # resolved once: the label and every worker agree
        from twoface.zoo.store import ModelStore

        store = ModelStore(config.models.models_dir, config.models.offline)
        config = replace(config, models=replace(config.models, swapper=choose_swapper(store)[0]))
    check_video_output(output)
    info = probe(target)
    if info.animation:
        raise UsageError(f"{target}: animated images take one worker", "workers")
    keyframes, duration = keyframe_times(target)
    segments = plan_segments(keyframes, duration, len(devices))
    out = Path(output)
    parts = [out.with_name(f".{out.name}.part{i}{out.suffix}") for i in range(len(segments))]
    jobs = [
        {
            "config": replace(config, runtime=replace(config.runtime, device=dev)),
            "source": source,
            "target": str(target),
            "output": str(part),
            "selection": selection,
            "options": {**asdict(options), "trim": (float(start), float(end)), "label": False},
        }
        for (start, end), part, dev in zip(segments, parts, devices, strict=False)
    ]
    try:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked into workers
        with ProcessPoolExecutor(len(jobs), mp_context=ctx) as pool:
            results = list(pool.map(_swap_segment, jobs))
        label = make_label(_engine_source_type(config)) if options.label else None
        with atomic_path(out) as tmp:
            _join(target, [p for p in parts], [s for s, _ in segments], tmp, label)
    finally:
        for p in parts:
            p.unlink(missing_ok=True)
    total = {k: sum(r[k] for r in results) for k in results[0]}
    total["segments"] = [[float(a), float(b)] for a, b in segments]
    return total


def _engine_source_type(config) -> str:
    from twoface.build import BUILTINS

    learned = config.models.swapper not in BUILTINS
    return "compositeWithTrainedAlgorithmicMedia" if learned else "compositeSynthetic"


def _join(target, parts: list[Path], starts: list[float], dest: Path, label) -> None:
    """The segments' video packets, each shifted to its start, and the target's audio packets,
    interleaved by time into `dest`."""
    import av

    from twoface.io.video import WRITE_CONTAINERS, label_metadata

    fmt = WRITE_CONTAINERS[dest.suffix.lower()][0]
    with av.open(str(dest), "w", format=fmt) as out, av.open(str(target)) as src:
        if label is not None:
            out.metadata.update(label_metadata(label))
        first = av.open(str(parts[0]))
        try:
            video = out.add_stream_from_template(first.streams.video[0])
        finally:
            first.close()
        audio = {a.index: out.add_stream_from_template(a) for a in src.streams.audio}

        def video_packets():
            for part, start in zip(parts, starts, strict=True):
                with av.open(str(part)) as c:
                    s = c.streams.video[0]
                    shift = round(Fraction(start) / s.time_base)
                    for p in c.demux(s):
                        if p.dts is None:
                            continue
                        p.pts = None if p.pts is None else p.pts + shift
                        p.dts += shift
                        yield float(p.dts * s.time_base), 0, p, video

        def audio_packets():
            if not audio:
                return
            for p in src.demux(*src.streams.audio):
                if p.dts is None:
                    continue
                yield float(p.dts * p.time_base), 1, p, audio[p.stream.index]

        try:
            for _, _, packet, stream in heapq.merge(
                video_packets(), audio_packets(), key=lambda x: (x[0], x[1])
            ):
                packet.stream = stream
                out.mux(packet)
        except av.FFmpegError as e:
            raise InputError(f"{target}: joining the segments failed ({e})") from None
