"""`twoface ui`: a local web app over the Python API (Starlette + uvicorn, plain HTML/JS).

Why not Gradio: measured here, `gradio` 6.31 installs 52 packages (pandas, a model-hub client,
telemetry, its own file server with a history of path bugs); this app needs Starlette and uvicorn
(8 packages with their dependencies), and every route is ours to keep safe:

- binds to 127.0.0.1 unless told otherwise; requests must name that host (no DNS rebinding) and
  state-changing requests from another origin are refused;
- uploads arrive as a raw body streamed into a private folder (0700) with a size limit, are kept
  only when they are an image or video twoface reads, and are named by random tokens: nothing from
  the browser becomes a path; the folder is deleted when the UI stops, files unused for an hour
  before that;
- every result is written by the API, so it carries twoface's AI-generated label;
- hostile requests get one JSON line and a 4xx, never a hang: bodies are checked against their
  declared length up front and read with deadlines, uploads, jobs and the work of requests are
  bounded in number, heavy work runs on daemon threads off the event loop (the UI keeps
  answering, and stops within a second on Ctrl-C);
- pages render what comes from files, the store or requests as text, and a Content-Security-
  Policy forbids inline script.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import math
import socket
import struct
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from twoface import registry
from twoface.errors import TwofaceError, UsageError
from twoface.ui.files import FileStore, Refused, display_name
from twoface.ui.jobs import Job, Jobs

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MODES = ("largest", "all", "pick")
MAX_JSON_BYTES = 2**20  # a request's JSON body: ids and options, never this large
MAX_FRAME_BYTES = 8 * 2**20  # one camera frame
MAX_SECONDS = 1e6  # a time in a video (s): finite, and far past any video's length
# Pages load only their own scripts, styles and media; no inline script, no plugins, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 512
    models_dir: str | None = None
    offline: bool = False
    runtime: str = "onnxruntime"
    device: str | None = None
    # The certificate chain and key that sign every result's content credentials (C2PA); None
    # (both): this install's own key in the model store (twoface.io.credentials).
    sign_cert: str | None = None
    sign_key: str | None = None
    # Bounds on what requests may hold (README: "The web UI").
    body_timeout_s: float = 600.0  # the whole body of one request
    idle_timeout_s: float = 30.0  # the longest wait for the next piece of a body
    work_timeout_s: float = 300.0  # one request's own work (faces, a live frame, checking)
    max_uploads: int = 4  # uploads being received at once
    max_work: int = 2  # requests computing at once (on daemon threads)
    max_jobs: int = 8  # swaps and downloads queued or running


def _jpeg(rgb: np.ndarray, size: int | None = None, quality: int = 88) -> bytes:
    from PIL import Image

    im = Image.fromarray(rgb)
    if size:
        im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _face_crop(frame: np.ndarray, box, pad: float) -> np.ndarray:
    """The face's box grown by `pad` of its longer side on every side, clipped to the frame."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    p = pad * max(x2 - x1, y2 - y1)
    crop = frame[
        max(0, int(y1 - p)) : min(h, int(y2 + p)), max(0, int(x1 - p)) : min(w, int(x2 + p))
    ]
    return np.ascontiguousarray(crop)


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def number(req: dict, key: str, default: float, lo: float, hi: float) -> float:
    """A finite number in [lo, hi] from a request (NaN, infinities and 1e300 are refused: they
    would reach the decoders as nonsense)."""
    value = req.get(key)
    if value is None:
        return float(default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{key} must be a number, not {type(value).__name__}", key)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise UsageError(f"{key} must be a number from {lo:g} to {hi:g}, not {value:g}", key)
    return float(value)


def tokens(req: dict, key: str) -> list[str]:
    value = req.get(key) or []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise UsageError(f"{key} must be a list of file ids", key)
    return value


def picks_of(req: dict) -> list[tuple[int, int]]:
    """[(face, source)] from `picks`: a list of {"face": N, "source": M}."""
    value = req.get("picks") or []
    if not isinstance(value, list) or len(value) > 1000:
        raise UsageError("picks must be a list of {face, source}", "picks")
    out = []
    for p in value:
        if not isinstance(p, dict):
            raise UsageError("picks must be a list of {face, source}", "picks")
        pick = {"face": 0, "source": 0}
        for key in pick:
            if p.get(key) is not None:
                pick[key] = int(number(p, key, 0, 0, 9999))
        if p.get("face") is None:
            raise UsageError("each pick names a face", "picks")
        out.append((pick["face"], pick["source"]))
    return out


def decode_frame(data: bytes) -> np.ndarray:
    """A camera frame (JPEG, PNG or WebP) as RGB, within the image size limit of uploads."""
    from PIL import Image, UnidentifiedImageError

    from twoface.io.image import MAX_PIXELS

    too_large = f"the camera frame is too large to decode safely (limit {MAX_PIXELS / 1e6:.0f} "
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise Refused(too_large + f"megapixels; it is {w}x{h})", 413)
            return np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError:
        raise Refused(too_large + "megapixels)", 413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error):
        raise UsageError("the camera frame is not a JPEG image", "frame") from None


class Backend:
    """What the routes call: models, files and jobs, independent of the web framework."""

    def __init__(self, settings: Settings) -> None:
        from twoface.build import ModelPool
        from twoface.config import RuntimeConfig
        from twoface.zoo.store import ModelStore

        self.settings = settings
        self.files = FileStore(settings.max_upload_mb * 2**20)
        self.jobs = Jobs(settings.max_jobs)
        self.store = ModelStore(settings.models_dir, offline=settings.offline)
        self.runtime = RuntimeConfig(settings.runtime, settings.device)
        self.pool = ModelPool(self.store, self.runtime)
        self._swappers: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._live: dict[str, object] = {}

    def close(self) -> None:
        self.jobs.close()
        self.files.close()

    # -- models ---------------------------------------------------------------------------------
    def installed(self, name: str) -> bool:
        from twoface.build import runs_today

        entry = self.store.catalogue.get(name)
        if entry is None and runs_today(name):
            return True  # a shipped component
        if entry is None or not self.store.path(entry).is_file():
            return False
        return entry.pairs_with is None or self.installed(entry.pairs_with)

    def options(self) -> dict:
        from twoface.build import choose_swapper, runnable

        def ready(task: str) -> list[str]:
            return [n for n in runnable(task, self.store.catalogue) if self.installed(n)]

        # The menu's first entry is its default: what `--swapper auto` runs (the best learned
        # swapper installed, else classical), as on the command line.
        best = choose_swapper(self.store)[0]
        swappers = ready("swap")
        return {
            "swappers": [best, *(n for n in swappers if n != best)],
            "enhancers": ready("restore"),
            "parsers": ready("parse"),
            "occluders": ready("occlude"),
            "masks": registry.names("mask"),
            "presets": ["ultrafast", "veryfast", "fast", "medium", "slow"],
            "max_upload_mb": self.settings.max_upload_mb,
        }

    def models(self) -> list[dict]:
        from twoface.build import TASK_WORDS, runs_today

        licences = {  # the built-ins' licences (README: Models and licences)
            "retinaface": "MIT",
            "dlib-hog": "CC0",
            "dlib68": "iBUG 300-W data: non-commercial",
            "dlib128": "CC0",
            "classical": "MIT (twoface)",
        }
        tasks = ("detect", "landmarks", "identity", "swap")
        rows = [
            {
                "name": c.name,
                "task": TASK_WORDS.get(c.task, c.task),
                "what": f"ships with twoface: {', '.join(c.capability.produces)} "
                f"({c.capability.architecture})",
                "licence": licences.get(c.name, "see README"),
                "non_commercial": c.name == "dlib68",
                "installed": True,
                "runs": True,
                "downloadable": False,
            }
            for task in tasks
            for c in registry.components(task)
            if c.capability.shipped and c.capability.produces  # `none` makes no model row
        ]
        catalogue = self.store.catalogue
        for e in catalogue.values():
            comp = registry.lookup(e.task, e.arch)
            rows.append(
                {
                    "name": e.name,
                    "task": TASK_WORDS.get(e.task, e.task),
                    "what": ", ".join(comp.capability.produces) if comp else e.notes or e.arch,
                    "licence": e.licence,
                    "non_commercial": e.non_commercial,
                    "installed": self.store.path(e).is_file(),
                    "runs": runs_today(e.name, catalogue),
                    "downloadable": bool(e.urls) and not self.settings.offline,
                }
            )
        return rows

    def download(self, name: str) -> Job:
        self.store.entry(name)  # a one-line error for an unknown name, before a job starts

        def work(job: Job) -> dict:
            def progress(done: int, total: int | None) -> None:
                job.progress("download", done, total or 0)

            path = self.store.download(name, progress=progress)
            return {"name": name, "bytes": path.stat().st_size}

        return self.jobs.submit("download", work, exclusive=False)

    # -- swapping -------------------------------------------------------------------------------
    def swapper(self, req: dict):
        """A Swapper for the request's models, shared between requests that ask the same."""
        from twoface import Swapper
        from twoface.config import Config, FinishConfig, ModelsConfig
        from twoface.mask import MaskSettings

        name = str(req.get("swapper") or "classical")
        masks = req.get("masks") or []
        if not isinstance(masks, list):
            raise UsageError("masks must be a list of mask names", "masks")
        unknown = [m for m in masks if m not in registry.names("mask")]
        if unknown:
            raise UsageError(
                f"unknown mask {unknown[0]!r}; choose from {', '.join(registry.names('mask'))}",
                "masks",
            )
        masks = tuple(masks) or None
        enhancer = str(req.get("enhancer") or "") or None
        blend = number(req, "enhancer_blend", 0.8, 0.0, 1.0)
        key = (name, masks, enhancer, blend)
        with self._lock:
            if key not in self._swappers:
                finish = FinishConfig(
                    masks=MaskSettings(names=masks), enhancer=enhancer, enhancer_blend=blend
                )
                models = ModelsConfig(
                    swapper=name,
                    models_dir=self.settings.models_dir,
                    offline=self.settings.offline,
                )
                self._swappers[key] = Swapper(Config(models, self.runtime, finish), pool=self.pool)
            return self._swappers[key]

    def faces(self, token: str, seconds: float = 0.0) -> dict:
        """The faces of a target (a video: of the frame at `seconds`), numbered, as thumbnails."""
        target = self.files.get(token, ("image", "video"))
        frame = self._frame(target, seconds)
        faces = self.swapper({}).analyse([frame])[0]
        h, w = frame.shape[:2]
        out = [
            {
                "index": i,
                "box": [round(float(v), 1) for v in f.box],
                "thumb": _data_url(_jpeg(_face_crop(frame, f.box, 0.25), 160)),
            }
            for i, f in enumerate(faces)
        ]
        return {"faces": out, "width": w, "height": h}

    def _frame(self, stored, seconds: float = 0.0) -> np.ndarray:
        """The picture, or a video's frame at `seconds` (upright, as the pipeline reads it)."""
        from twoface.io.image import load_image
        from twoface.io.video import probe, read_video

        if stored.kind == "image":
            return load_image(stored.path).rgb
        trim = (seconds, seconds + 3600.0) if seconds > 0 else None
        items = read_video(stored.path, probe(stored.path), trim, drop_audio=True)
        with contextlib.closing(items):
            for packet in items:  # no audio: drop_audio
                return packet.frame
        raise UsageError(f"{stored.name}: no frame at {seconds:g} s", "time")

    def _output(self, **values):
        """A result's OutputConfig: the request's values and the server's signing key."""
        from twoface.config import OutputConfig

        s = self.settings
        return OutputConfig(sign_cert=s.sign_cert, sign_key=s.sign_key, **values)

    def start_swap(self, req: dict, preview: bool = False) -> Job:
        from twoface.config import SelectionConfig

        sources = [self.files.get(t, ("image",)) for t in tokens(req, "sources")]
        if not sources:
            raise UsageError("add at least one source photo", "sources")
        target = self.files.get(str(req.get("target") or ""), ("image", "video"))
        mode = req.get("mode") or "largest"
        if mode not in MODES:
            raise UsageError(f"mode must be one of {', '.join(MODES)}", "mode")
        picks = picks_of(req)
        seconds = number(req, "time", 0.0, 0.0, MAX_SECONDS)
        quality = int(number(req, "quality", 92, 1, 100))
        crf = int(number(req, "crf", 18, 0, 51))
        req = {**req, "time": seconds, "crf": crf}  # checked: what the job reads
        swapper = self.swapper(req)
        if mode == "pick" and not picks:
            raise UsageError("pick at least one face in the gallery", "picks")
        names = {s.path: s.name for s in [*sources, target]}
        video = target.kind == "video" and not preview

        def work(job: Job) -> dict:
            try:
                if video:
                    return self._swap_video(job, swapper, sources, target, mode, picks, req)
                frame = self._frame(target, seconds) if preview else None
                image = frame if frame is not None else target.path
                selection = SelectionConfig(
                    many=mode == "all", assign=tuple(picks) if mode == "pick" else ()
                )
                out = self.files.new_result(".jpg", f"swapped-{Path(target.name).stem}.jpg")
                result = swapper.swap_image(
                    [s.path for s in sources],
                    image,
                    output=out.path,
                    selection=selection,
                    options=self._output(quality=quality),
                    progress=job.progress,
                )
                return self._result(out, result.summary(), "image")
            except TwofaceError as e:
                raise type(e)(_rename(str(e), names)) from None

        return self.jobs.submit("preview" if preview else "swap", work)

    def _swap_video(self, job, swapper, sources, target, mode, picks, req) -> dict:
        from twoface.config import SelectionConfig

        src_paths = [s.path for s in sources]
        target_faces = None
        if mode == "pick":
            # A person in a video is picked by a photo of their face from the gallery's frame.
            frame = self._frame(target, req["time"])
            faces = swapper.analyse([frame])[0]
            target_faces, src_paths = [], []
            for face, src in picks:
                if face >= len(faces) or src >= len(sources):
                    raise UsageError(f"face {face} or source {src} is not there", "picks")
                target_faces.append(_face_crop(frame, faces[face].box, 0.3))
                src_paths.append(sources[src].path)
        # Always MP4 (H.264; audio the container refuses is re-encoded): it plays in every
        # browser and carries signed content credentials, which MKV and WebM cannot hold.
        out = self.files.new_result(".mp4", f"swapped-{Path(target.name).stem}.mp4")
        options = self._output(crf=req["crf"], preset=str(req.get("preset") or "medium"))
        result = swapper.swap_video(
            src_paths,
            target.path,
            out.path,
            selection=SelectionConfig(many=mode == "all", target_faces=tuple(target_faces or ())),
            options=options,
            progress=job.progress,
        )
        summary = result.summary()
        from twoface.io.video import read_video_label

        label = read_video_label(out.path)
        summary["label"] = label.description if label else None
        summary["digital_source_type"] = label.source_type if label else None
        return self._result(out, summary, "video")

    def _result(self, out, summary: dict, kind: str) -> dict:
        summary = {k: v for k, v in summary.items() if k not in ("output", "swapped")}
        return {"file": out.token, "name": out.name, "kind": kind, "summary": summary}

    # -- live -------------------------------------------------------------------------------------
    def live_start(self, req: dict) -> str:
        import secrets

        from twoface.live import LiveSwapper

        sources = [self.files.get(t, ("image",)).path for t in tokens(req, "sources")]
        if not sources:
            raise UsageError("add at least one source photo", "sources")
        live = LiveSwapper(self.swapper(req), sources, many=bool(req.get("many")))
        sid = secrets.token_urlsafe(12)
        with self._lock:
            self._live = {sid: live}  # one live session at a time
        return sid

    def live_frame(self, sid: str, jpeg: bytes) -> tuple[bytes, int]:
        from twoface.watermark import Watermark

        with self._lock:
            live = self._live.get(sid)
        if live is None:
            raise KeyError(sid)
        out, n = live.swap(decode_frame(jpeg))
        return _jpeg(Watermark("AI-generated")(out), quality=80), n


def _rename(message: str, names: dict) -> str:
    """Messages name the user's files as they called them, not the private store's paths."""
    for path, name in names.items():
        message = message.replace(str(path), name)
    return message


# -- the web app ----------------------------------------------------------------------------------
def create_app(settings: Settings, backend: Backend | None = None):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    backend = backend or Backend(settings)
    static = resources.files("twoface.ui") / "static"
    # Created lazily: semaphores and events belong to the event loop that serves the app.
    gates: dict[tuple[int, str], asyncio.Semaphore] = {}
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def gate(name: str, size: int) -> asyncio.Semaphore:
        key = (id(asyncio.get_running_loop()), name)
        if key not in gates:
            gates[key] = asyncio.Semaphore(size)
        return gates[key]

    def stop_waiter() -> asyncio.Future:
        """Done when the server is told to stop: requests in flight then end at once (503)
        instead of holding the shutdown until they finish or are cancelled."""
        loop = asyncio.get_running_loop()
        event = next((e for lp, e in stopping if lp is loop), None)
        if event is None:  # one per loop serving the app (a test client may bring another)
            event = asyncio.Event()
            stopping.append((loop, event))
        return asyncio.ensure_future(event.wait())

    def stop_requests() -> None:  # called by serve() on Ctrl-C/SIGTERM, from any thread
        for loop, event in stopping:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(event.set)

    def first(piece, waiter, done: set, late: str, status: int = 408) -> None:
        """After asyncio.wait: the UI stopping, or the deadline passed (`late`, `status`),
        raise Refused."""
        if piece in done:
            return
        if waiter in done:
            raise Refused("the UI is stopping", 503)
        raise Refused(late, status)

    def error(status: int, message: str, close: bool = False) -> JSONResponse:
        # A body left unread (refused early) cannot be followed by another request on the
        # connection: say it is closed, so the client reads this answer instead of waiting.
        headers = {"connection": "close"} if close else None
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def receive(request: Request, limit: int, what: str, sink) -> int:
        """Feed the body to `sink` piece by piece: refused at once when its declared length
        passes `limit`, else as soon as what arrived does; and when the whole body takes
        longer than body_timeout_s, or its next piece longer than idle_timeout_s."""
        loop = asyncio.get_running_loop()
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Refused(f"{what}: the Content-Length is not a number", 400)
            if int(declared) > limit:
                raise Refused(f"{what}: larger than the {limit // 2**20} MiB limit", 413)
        deadline = loop.time() + settings.body_timeout_s
        pieces = request.stream().__aiter__()
        late = f"{what}: the request body did not arrive in time"
        size = 0
        waiter = stop_waiter()
        try:
            while True:
                wait = min(settings.idle_timeout_s, deadline - loop.time())
                if wait <= 0:
                    raise Refused(late, 408)
                piece = asyncio.ensure_future(anext(pieces))
                done, _ = await asyncio.wait(
                    {piece, waiter}, timeout=wait, return_when="FIRST_COMPLETED"
                )
                if piece not in done:
                    piece.cancel()
                first(piece, waiter, done, late)
                try:
                    chunk = piece.result()
                except StopAsyncIteration:
                    return size
                size += len(chunk)
                if size > limit:
                    raise Refused(f"{what}: larger than the {limit // 2**20} MiB limit", 413)
                sink(chunk)
        finally:
            waiter.cancel()

    async def body_bytes(request: Request, limit: int, what: str) -> bytes:
        parts: list[bytes] = []
        await receive(request, limit, what, parts.append)
        return b"".join(parts)

    def no_constants(word: str):
        raise ValueError(f"{word} is not a number the UI takes")

    async def body(request: Request) -> dict:
        raw = await body_bytes(request, MAX_JSON_BYTES, "the request")
        try:
            data = json.loads(raw, parse_constant=no_constants)
        except RecursionError:
            raise UsageError("the request body is nested too deeply") from None
        except ValueError as e:  # not JSON, NaN/Infinity, an integer of 5000 digits
            detail = str(e).splitlines()[0][:120] if str(e) else "not JSON"
            raise UsageError(f"the request body is not JSON the UI takes ({detail})") from None
        if not isinstance(data, dict):
            raise UsageError("the request body must be a JSON object")
        return data

    async def off_loop(fn, *args, light: bool = False):
        """`fn(*args)` on a daemon thread, at most max_work at once (`light` work, listing
        options and models, has slots of its own so it is answered while faces are being
        found), for at most work_timeout_s. The event loop goes on answering meanwhile; a
        daemon thread never keeps the process from stopping. Past the deadline the request is
        answered and the thread finishes on its own, still counted, so slow work cannot pile
        up."""
        loop = asyncio.get_running_loop()
        slots = gate("light", 8) if light else gate("work", settings.max_work)
        try:
            await asyncio.wait_for(slots.acquire(), settings.work_timeout_s)
        except TimeoutError:
            raise Refused("the UI is busy with other requests; try again", 503) from None
        future = loop.create_future()

        def settle(ok: bool, value) -> None:
            slots.release()
            if future.done():  # the request gave up waiting
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        def run() -> None:
            try:
                outcome = (True, fn(*args))
            except BaseException as e:  # handed to the request, which says it in one line
                outcome = (False, e)
            with contextlib.suppress(RuntimeError):  # the loop closed: the UI is stopping
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=run, name="twoface-ui-work", daemon=True).start()
        waiter = stop_waiter()
        try:
            timeout = settings.work_timeout_s
            done, _ = await asyncio.wait(
                {future, waiter}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            waiter.cancel()
        if future not in done:
            future.cancel()  # the thread's outcome, when it comes, is dropped (settle)
            slow = f"gave up after {timeout:g} s (the input is too large or the machine too busy)"
            first(future, waiter, done, slow, 503)
        return future.result()

    def guarded(handler):
        """One JSON line for every failure the user can cause; never a traceback."""

        async def run(request: Request):
            try:
                return await handler(request)
            except Refused as e:  # its body may be unread: the connection ends with the answer
                return error(e.status, str(e), close=True)
            except KeyError:
                return error(404, "no such file, job or session (expired? reload the page)")
            except TwofaceError as e:
                return error(400, str(e))
            except (ValueError, TypeError, OverflowError) as e:
                return error(400, f"bad request: {str(e).splitlines()[0][:200] if str(e) else e}")
            except RecursionError:
                return error(400, "bad request: nested too deeply")
            except ClientDisconnect:
                return error(400, "the request was not sent in full", close=True)
            except Exception as e:  # a bug: one line all the same, the server goes on
                detail = (str(e).splitlines() or [""])[0][:200]
                return error(500, f"internal error: {type(e).__name__}: {detail}")

        return run

    async def index(request: Request):
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    async def upload(request: Request):
        uploads = gate("uploads", settings.max_uploads)
        if uploads.locked():
            raise Refused(
                f"{settings.max_uploads} uploads are on their way already; try again when "
                "one has arrived",
                503,
            )
        async with uploads:
            incoming = backend.files.begin(request.query_params.get("name", "upload"))
            try:
                try:
                    await receive(request, backend.files.max_bytes, incoming.name, incoming.write)
                except Refused as e:
                    if e.status == 413:  # one message for the limit, however it was found out
                        raise incoming.too_large() from None
                    raise
                stored = await off_loop(incoming.finish)
            finally:
                incoming.abort()
        backend.files.expire()
        return JSONResponse(
            {"id": stored.token, "kind": stored.kind, "name": stored.name, **stored.info}
        )

    async def delete_file(request: Request):
        return JSONResponse({"removed": backend.files.remove(request.path_params["token"])})

    async def faces(request: Request):
        data = await body(request)
        seconds = number(data, "time", 0.0, 0.0, MAX_SECONDS)
        found = await off_loop(backend.faces, str(data.get("target", "")), seconds)
        return JSONResponse(found)

    async def swap(request: Request):
        job = backend.start_swap(await body(request))
        return JSONResponse(job.status())

    async def preview(request: Request):
        job = backend.start_swap(await body(request), preview=True)
        return JSONResponse(job.status())

    async def job_status(request: Request):
        return JSONResponse(backend.jobs.get(request.path_params["job"]).status())

    async def job_cancel(request: Request):
        job = backend.jobs.get(request.path_params["job"])
        job.request_cancel()
        return JSONResponse(job.status())

    async def result(request: Request):
        f = backend.files.get(request.path_params["token"], ("result",))
        if not f.path.is_file():
            raise KeyError(f.token)
        download = request.query_params.get("download") == "1"
        return FileResponse(
            f.path,
            filename=display_name(f.name),
            content_disposition_type="attachment" if download else "inline",
        )

    async def options(request: Request):
        return JSONResponse(await off_loop(backend.options, light=True))

    async def models(request: Request):
        return JSONResponse({"models": await off_loop(backend.models, light=True)})

    async def model_download(request: Request):
        return JSONResponse(backend.download(request.path_params["name"]).status())

    async def live_start(request: Request):
        sid = await off_loop(backend.live_start, await body(request))
        return JSONResponse({"session": sid})

    async def live_frame(request: Request):
        data = await body_bytes(request, MAX_FRAME_BYTES, "the camera frame")
        jpeg, n = await off_loop(backend.live_frame, request.path_params["sid"], data)
        return Response(jpeg, media_type="image/jpeg", headers={"X-Faces": str(n)})

    routes = [
        Route("/", index),
        Route("/api/upload", guarded(upload), methods=["POST"]),
        Route("/api/files/{token}", guarded(delete_file), methods=["DELETE"]),
        Route("/api/faces", guarded(faces), methods=["POST"]),
        Route("/api/swap", guarded(swap), methods=["POST"]),
        Route("/api/preview", guarded(preview), methods=["POST"]),
        Route("/api/jobs/{job}", guarded(job_status)),
        Route("/api/jobs/{job}/cancel", guarded(job_cancel), methods=["POST"]),
        Route("/api/results/{token}", guarded(result)),
        Route("/api/options", guarded(options)),
        Route("/api/models", guarded(models)),
        Route("/api/models/{name}/download", guarded(model_download), methods=["POST"]),
        Route("/api/live", guarded(live_start), methods=["POST"]),
        Route("/api/live/{sid}/frame", guarded(live_frame), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    hosts = sorted(LOOPBACK | {settings.host})
    origins = {f"http://{h}:{settings.port}" for h in hosts}

    class SameOrigin:
        """Refuses state-changing requests sent by pages of another origin."""

        def __init__(self, app) -> None:
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
                headers = dict(scope.get("headers") or [])
                origin = headers.get(b"origin", b"").decode("latin-1")
                if origin and origin not in origins:
                    response = error(403, "cross-origin request refused")
                    await response(scope, receive, send)
                    return
            await self.app(scope, receive, send)

    class SecurityHeaders:
        """Every answer carries the CSP (no inline script can run, whatever text a page
        shows), and is never sniffed into another type or framed."""

        def __init__(self, app) -> None:
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)

            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"content-security-policy", CSP.encode()),
                        (b"x-content-type-options", b"nosniff"),
                        (b"x-frame-options", b"DENY"),
                        (b"referrer-policy", b"no-referrer"),
                    ]
                await send(message)

            await self.app(scope, receive, send_with_headers)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            backend.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=[h.strip("[]") for h in hosts]),
            Middleware(SameOrigin),
        ],
        lifespan=lifespan,
    )
    app.state.backend = backend
    app.state.stop_requests = stop_requests
    return app


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, opened before anything is printed: a port in use is one line
    (UsageError, exit 2), never a serving banner followed by a server error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"--host {host}: not an address of this machine ({e})", "host") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not a port in LISTEN use
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        import errno

        if e.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} is in use (another program listens on {host}:{port}; "
                "choose another with --port)",
                "port",
            ) from None
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror or e})", "port") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings) -> None:
    """Run the UI until interrupted; the private file folder is removed on the way out.

    Ctrl-C stops it within a second: requests still in flight (a slow upload) are given half
    a second, then cancelled, and work on daemon threads does not hold the process."""
    import sys

    import uvicorn

    sock = listen(settings.host, settings.port)
    try:
        if settings.host not in LOOPBACK:
            print(
                f"twoface: note: the UI listens on {settings.host}: anyone who can reach this "
                "machine can use it (and its models); the default is 127.0.0.1",
                file=sys.stderr,
            )
        app = create_app(settings)

        class Server(uvicorn.Server):
            def handle_exit(self, sig, frame) -> None:
                super().handle_exit(sig, frame)
                app.state.stop_requests()  # bodies and work still awaited end now (503)

        # In-flight answers (a video streaming out) get a second to finish, then are cut.
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
        print(f"twoface ui: http://{settings.host}:{settings.port}/  (Ctrl-C stops it)", flush=True)
        try:
            Server(config).run(sockets=[sock])
        finally:
            app.state.backend.close()
    finally:
        sock.close()
