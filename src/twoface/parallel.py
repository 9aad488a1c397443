"""One video on several workers (one per GPU): split at keyframes, swap the segments in parallel
processes, join them by stream copy and mux the audio once.

The video is cut at the keyframes nearest to equal shares of its duration (so every segment
decodes from its own keyframe and nothing is decoded twice); each worker swaps its segment with
the API (`Swapper.swap_video(trim=...)`) into a temporary file of the output's folder; the join
copies the segments' packets, shifted back to their place on the timeline, and the source's audio
packets, unchanged, into the output, which gets the synthetic-media label and appears atomically.
The workers come from a pool: `LocalPool` (one process per device, `--devices`) or
`twoface.cluster.RayPool` (actors on a Ray cluster, `--ray`); both run the same segment jobs.
People are tracked and chosen per segment: at a cut a worker starts afresh (a `--reference`
choice is the same everywhere; the default "most prominent person" is decided again).
"""

from __future__ import annotations

import heapq
import os
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

from twoface.errors import InputError, TwofaceError, UsageError


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


_RUNNER = None  # one per worker process or actor: models load once, then serve every job


def run_job(data: dict, device: str | None = None) -> dict:
    """In a worker (a process of ours or a Ray actor): run one job given as its JSON; the small
    result travels back, never pixels. A twoface error comes back as data (message, exit code),
    so the driver reports it as the job's one line."""
    from dataclasses import replace

    from twoface.errors import TwofaceError
    from twoface.jobs import Runner, job_from_json

    global _RUNNER
    if _RUNNER is None:
        _RUNNER = Runner()
    try:
        job = job_from_json(data)
        if device is not None:
            job = replace(job, runtime=replace(job.runtime, device=device))
        result = _RUNNER.run(job)
    except TwofaceError as e:
        return {"error": str(e), "exit_code": e.exit_code}
    if hasattr(result, "frames"):
        return {
            "frames": result.frames,
            "frames_swapped": result.frames_swapped,
            "tracks": result.tracks,
            "tracks_swapped": result.tracks_swapped,
        }
    return {"faces_swapped": len(result.faces_swapped), "faces_found": len(result.faces_found)}


def error_from(result: dict) -> TwofaceError:
    """The TwofaceError (of the right exit code) a worker's error result stands for."""
    from twoface import errors

    for cls in (errors.UsageError, InputError, errors.ModelError, errors.OutputError):
        if cls.exit_code == result.get("exit_code"):
            return cls(result["error"])
    return errors.TwofaceError(result["error"])


class LocalPool:
    """The local pool: one worker process per device (spawned: CUDA cannot be forked), each
    keeping its models loaded between jobs. Jobs go round the workers in turn; `run` yields
    (index, result) as they finish, as the Ray pool (twoface.cluster) does."""

    def __init__(self, devices: list[str | None]) -> None:
        import multiprocessing

        if len(devices) < 1:
            raise UsageError("give at least one worker", "workers")
        ctx = multiprocessing.get_context("spawn")
        self.devices = list(devices)
        self._workers = [ProcessPoolExecutor(1, mp_context=ctx) for _ in devices]

    @property
    def size(self) -> int:
        return len(self._workers)

    def run(self, jobs: list[dict]):
        from concurrent.futures import as_completed

        futures = {
            self._workers[i % self.size].submit(run_job, job, self.devices[i % self.size]): i
            for i, job in enumerate(jobs)
        }
        for f in as_completed(futures):
            yield futures[f], f.result()

    def close(self) -> None:
        for w in self._workers:
            w.shutdown(cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def swap_video_segments(job, pool, pieces: int | None = None) -> dict:
    """Swap a VideoJob cut at keyframes into `pieces` segments (default: one per worker of
    `pool`), each a job of its own on the pool; join them by stream copy with the target's audio
    muxed once, label and seal, and rename into place. Frames never leave the workers: they
    read the target and write their part beside the output."""
    from dataclasses import replace

    from twoface.build import AUTO, choose_swapper
    from twoface.config import Config
    from twoface.io.atomic import atomic_path
    from twoface.io.credentials import seal
    from twoface.io.video import WRITE_CONTAINERS, check_video_output, probe
    from twoface.jobs import job_to_json

    options = job.write
    if options.trim is not None:
        raise UsageError("several workers swap whole videos; drop --trim", "trim")
    if job.models.swapper == AUTO:  # resolved once: the label and every worker agree
        from twoface.zoo.store import ModelStore

        store = ModelStore(job.models.models_dir, job.models.offline)
        job = replace(job, models=replace(job.models, swapper=choose_swapper(store)[0]))
    target, output = job.target, job.output
    check_video_output(output)
    info = probe(target)
    if info.animation:
        raise UsageError(f"{target}: animated images take one worker", "workers")
    keyframes, duration = keyframe_times(target)
    segments = plan_segments(keyframes, duration, pieces or pool.size)
    out = Path(output)
    parts = [out.with_name(f".{out.name}.part{i}{out.suffix}") for i in range(len(segments))]
    jobs = [
        job_to_json(
            replace(
                job,
                output=str(part),
                write=replace(options, trim=(float(start), float(end)), label=False),
            )
        )
        for (start, end), part in zip(segments, parts, strict=True)
    ]
    config = Config(job.models, job.runtime, job.finish)
    label = _label(config, options, target, out)  # its signing key checked before the work
    results: list[dict] = [{}] * len(jobs)
    try:
        for i, result in pool.run(jobs):
            if "error" in result:
                raise error_from(result)
            results[i] = result
        with atomic_path(out) as tmp:
            _join(target, parts, [s for s, _ in segments], tmp, label)
            seal(tmp, label, WRITE_CONTAINERS[out.suffix.lower()][0])  # before the rename
    finally:
        for p in parts:
            p.unlink(missing_ok=True)
    total = {k: sum(r[k] for r in results) for k in results[0]}
    total["segments"] = [[float(a), float(b)] for a, b in segments]
    return total


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
    ["cuda:0", "cuda:1"], or [None, None] for two CPU workers): the local case of the segment
    runner (`swap_video_segments`). Returns the summed figures."""
    from twoface.config import OutputConfig, SelectionConfig
    from twoface.jobs import VideoJob

    if len(devices) < 1:
        raise UsageError("give at least one worker", "workers")
    sources = tuple(str(s) for s in ([source] if isinstance(source, str | os.PathLike) else source))
    job = VideoJob(
        sources,
        str(target),
        str(output),
        selection=selection or SelectionConfig(),
        models=config.models,
        runtime=config.runtime,
        finish=config.finish,
        write=options or OutputConfig(),
    )
    if job.write.trim is not None:
        raise UsageError("several workers swap whole videos; drop --trim", "trim")
    with LocalPool(devices) as pool:
        return swap_video_segments(job, pool)


def _label(config, options, target, output):
    """The joined video's label and content credentials (the models named from `config`)."""
    from twoface.io.credentials import credentials_for
    from twoface.io.provenance import make_label
    from twoface.zoo.store import ModelStore

    if not options.label:
        return None
    from twoface.build import component_for

    m = config.models
    models = (m.detector, m.landmarker, m.swapper, m.encoder, config.finish.enhancer)
    store = ModelStore(m.models_dir, m.offline)
    creds = credentials_for(
        options, store.home, output=output, models=tuple(n for n in models if n), parent=target
    )
    # The label type the swapper's registered capability implies (as a Swapper's engine).
    comp, _ = component_for("swap", m.swapper, store.catalogue)
    return make_label(comp.capability.label or "compositeSynthetic", credentials=creds)


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
