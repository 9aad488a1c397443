"""The model store: where model files live, and how they get there safely.

Downloads go to `<home>/partial/<file>.part` (resumed with an HTTP Range request after an
interruption, the server's Content-Range checked), are bounded in size and time, and are checked
for size, sha256 and format, and only then renamed into `<home>/models/`. A file that fails a
check is deleted: nothing unverified is ever cached. Digests the catalogue does not know are
pinned on first download (or import) in `<home>/pins.json` -- only after the file has been
parsed whole and its graph or tensors match what the entry's architecture needs -- and every
later copy must match the pin (`twoface models unpin NAME` forgets one). Two processes
downloading one model take turns on a lock; every file twoface creates in the store is created
exclusively, so a symlink planted in a shared folder is never followed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from twoface.errors import ModelError, UsageError
from twoface.zoo.catalogue import Catalogue, ModelEntry
from twoface.zoo.validate import validate_file

CHUNK = 1 << 20
# When the catalogue does not know a file's size: the largest published face model is ~1.3 GB.
MAX_UNKNOWN_BYTES = 3 << 30
# A download must average at least this rate (plus a fixed allowance) or it is abandoned; the
# partial file stays, so the next attempt resumes.
MIN_RATE = 50_000  # bytes per second
BASE_ALLOWANCE = 120.0  # seconds
# Hosts a published URL may redirect to (release assets and model-hub CDNs).
REDIRECT_HOSTS = ("github.com", "githubusercontent.com", "huggingface.co", "hf.co")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def default_home() -> Path:
    env = os.environ.get("TWOFACE_HOME")
    return Path(env) if env else Path.home() / ".cache" / "twoface"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sniff_format(path: Path) -> str | None:
    """The container format a file's first bytes show: onnx, torch, safetensors, zip, xml."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "zip"  # torch.save's format, and .zip archives
    if head[:2] in (b"\x80\x02", b"\x80\x04", b"\x80\x05"):
        return "torch-legacy"  # pickle protocol 2+: the pre-1.6 torch.save format
    if head.lstrip().startswith(b"<?xml") or head.lstrip().startswith(b"<opencv_storage"):
        return "xml"
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if 2 <= n < 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if head[:1] == b"\x08":  # ModelProto field 1 (ir_version), varint
        return "onnx"
    return None


_EXPECTED = {
    "onnx": {"onnx"},
    "torch": {"zip", "torch-legacy"},
    "safetensors": {"safetensors"},
    "cascade-xml": {"xml"},
}


def check_format(entry: ModelEntry, path: Path, label: str) -> None:
    found = sniff_format(path)
    if found not in _EXPECTED[entry.format]:
        raise ModelError(
            f"{label}: not a {entry.format} file (looks like {found or 'unknown data'}); "
            f"it is not {entry.name}"
        )
    if entry.format == "cascade-xml":
        with open(path, "rb") as f:
            if b"<cascade" not in f.read(4096):
                raise ModelError(
                    f"{label}: an XML file but not an OpenCV cascade; it is not {entry.name}"
                )


def check_redirect(old_url: str, new_url: str) -> None:
    """Follow a redirect only to https (or plain http from plain http), on the same host or a
    release/model-hub host; anything else is refused with a ModelError."""
    old, new = urllib.parse.urlsplit(old_url), urllib.parse.urlsplit(new_url)
    if new.scheme not in ("http", "https") or (old.scheme == "https" and new.scheme != "https"):
        raise ModelError(
            f"{old_url}: redirected to {new.scheme or 'a relative'} URL {new_url}; refused"
        )
    host = (new.hostname or "").lower()
    trusted = any(host == h or host.endswith("." + h) for h in REDIRECT_HOSTS)
    if host != (old.hostname or "").lower() and not trusted:
        raise ModelError(f"{old_url}: redirected to another host ({host}); refused")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_redirect(req.full_url, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Watchdog:
    """The deadline of one request, covering connecting, the headers and the body: a socket
    timeout bounds only the wait for the next byte, so a server sending its headers one byte
    every few seconds would hold a download for ever. When the deadline passes, the timer shuts
    the request's sockets down, which ends whatever read is waiting on them."""

    def __init__(self, ends: float) -> None:
        self.ends = ends
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, ends - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()

    def connection(self, http_class):
        """`http_class` (HTTPConnection or HTTPSConnection) whose sockets this watchdog holds,
        each connect bounded by the time left."""
        watchdog = self

        def make(host, **kwargs):
            conn = http_class(host, **kwargs)
            create = conn._create_connection

            def create_watched(address, timeout, *rest):
                left = watchdog.ends - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no time left to connect")
                limit = min(timeout, left) if isinstance(timeout, int | float) else left
                sock = create(address, limit, *rest)
                watchdog._watch(sock)
                return sock

            conn._create_connection = create_watched
            return conn

        return make


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(self.watchdog.connection(http_class), req, **kwargs)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self.watchdog = watchdog

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(self.watchdog.connection(http_class), req, **kwargs)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock held while the block runs (waits for another process holding it)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; downloads still check everything
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o644)
    except OSError as e:  # ELOOP: a symlink planted where the lock goes is never followed
        why = "; a symlink there is refused" if e.errno == errno.ELOOP else ""
        raise ModelError(f"{path}: cannot take the store's lock ({e.strerror}){why}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_exclusive(path: Path, append: bool):
    """Open a partial file without following a planted symlink: create it new, or append."""
    flags = os.O_WRONLY | NOFOLLOW | (os.O_APPEND if append else os.O_CREAT | os.O_EXCL)
    return os.fdopen(os.open(path, flags, 0o644), "ab" if append else "wb")


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a `Content-Range: bytes a-b/total` header."""
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) != "*" else None)


def _unsatisfiable_total(value: str | None) -> int | None:
    m = re.match(r"bytes \*/(\d+)", value or "")
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Status:
    name: str
    path: Path
    present: bool
    state: str  # "ok", "pinned", "missing", "corrupt", "unpinned"
    detail: str = ""


class ModelStore:
    def __init__(self, home: str | os.PathLike | None = None, offline: bool = False) -> None:
        self.home = Path(home) if home else default_home()
        self.offline = offline
        self.models_dir = self.home / "models"
        self.partial_dir = self.home / "partial"
        self.locks_dir = self.home / "locks"
        self.pins_file = self.home / "pins.json"
        from twoface.zoo.user import load_user_entries

        # This store's catalogue: the published entries and the models its user imported under
        # their own names (user_models.json), seen by this store only.
        self.catalogue = Catalogue(load_user_entries(self.home))

    def _prepare(self, *folders: Path) -> None:
        """Create the store's folders, or say in one line why they cannot be."""
        for folder in (self.home, *folders):
            if folder.exists() and not folder.is_dir():
                raise ModelError(
                    f"{folder}: the model folder (--models-dir, $TWOFACE_HOME or "
                    "~/.cache/twoface) must be a folder, but this is a file"
                )
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ModelError(
                    f"{folder}: cannot create the model folder ({e.strerror})"
                ) from None

    # -- lookup ----------------------------------------------------------------------------------
    def entry(self, name: str) -> ModelEntry:
        try:
            return self.catalogue[name]
        except KeyError:
            raise ModelError(
                f"unknown model {name!r}; `twoface models list` shows the catalogue"
            ) from None

    def path(self, entry: ModelEntry) -> Path:
        return self.models_dir / entry.filename

    def find(self, entry: ModelEntry | str) -> Path:
        """The cached file, or a one-line error saying how to get it."""
        entry = self.entry(entry) if isinstance(entry, str) else entry
        p = self.path(entry)
        if p.is_file():
            return p
        how = f"`twoface models import FILE --name {entry.name}`"
        if entry.urls:
            how = f"`twoface models download {entry.name}` or " + how
        raise ModelError(f"model {entry.name} is not in {self.models_dir}: get it with {how}")

    # -- pins ----------------------------------------------------------------------------------
    def pins(self) -> dict[str, dict]:
        """The pinned digests. A pins file that is not what twoface writes is an error: quietly
        ignoring it would trust any file again."""
        try:
            # Not through a symlink (one planted in a shared store would be trusted as pins).
            with os.fdopen(os.open(self.pins_file, os.O_RDONLY | NOFOLLOW), "rb") as f:
                data = json.loads(f.read())
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except (ValueError, RecursionError, OSError) as e:  # (JSON, UTF-8, nesting, ELOOP)
            raise self._bad_pins(type(e).__name__) from None
        if not isinstance(data, dict):
            raise self._bad_pins(f"holds a JSON {type(data).__name__}, not an object")
        for name, pin in data.items():
            ok = (
                isinstance(pin, dict)
                and isinstance(pin.get("sha256"), str)
                and _SHA256.match(pin["sha256"])
                and isinstance(pin.get("size"), int)
            )
            if not ok:
                raise self._bad_pins(f"entry {name!r} is not a sha256 and a size")
        return data

    def _bad_pins(self, why: str) -> ModelError:
        return ModelError(
            f"{self.pins_file}: not a pins file ({why}); delete it to forget every pin, "
            "then import or download the models again"
        )

    def _write_pins(self, pins: dict) -> None:
        self._prepare()
        fd, tmp = tempfile.mkstemp(prefix=".pins.", suffix=".tmp", dir=self.home)  # exclusive
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(pins, f, indent=2, sort_keys=True)
            os.replace(tmp, self.pins_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _pin(self, entry: ModelEntry, digest: str, size: int, origin: str) -> None:
        with self._locked("pins"):
            pins = self.pins()
            pins[entry.name] = {"sha256": digest, "size": size, "from": origin, "time": time.time()}
            self._write_pins(pins)

    def _drop_pin(self, name: str) -> None:
        with self._locked("pins"):
            pins = self.pins()
            if pins.pop(name, None) is not None:
                self._write_pins(pins)

    def unpin(self, name: str) -> list[str]:
        """Forget the pinned digest of `name` and delete the cached file it vouched for.
        Returns what was removed."""
        entry = self.entry(name)
        if entry.sha256:
            raise UsageError(f"{name}: its sha256 comes from the catalogue, not a pin")
        removed = []
        with self._locked("pins"):
            pins = self.pins()
            if pins.pop(name, None) is not None:
                self._write_pins(pins)
                removed.append("pin")
        if self.path(entry).is_file():
            self.path(entry).unlink()
            removed.append(str(self.path(entry)))
        return removed

    def expected(self, entry: ModelEntry) -> tuple[str | None, int | None, str]:
        """(sha256, size, where that comes from) for a file of this entry."""
        if entry.sha256:
            return entry.sha256, entry.size, "catalogue"
        pin = self.pins().get(entry.name)
        if pin:
            return pin["sha256"], pin["size"], "pinned on first " + str(pin.get("from", "use"))
        return None, entry.size, "not yet pinned"

    def _check(
        self, entry: ModelEntry, path: Path, label: str, digest: str | None = None
    ) -> tuple[str, int]:
        """Size, format and digest of a candidate file; raises ModelError (caller deletes).

        A file with no digest to match (neither catalogued nor pinned) is parsed whole and
        checked against its architecture before it may be pinned.
        """
        digest_ok, size_ok, _ = self.expected(entry)
        size = path.stat().st_size
        if size_ok is not None and size != size_ok:
            raise ModelError(
                f"{label}: {size} bytes, but {entry.name} has {size_ok} (truncated or another file)"
            )
        check_format(entry, path, label)
        digest = digest or sha256_of(path)
        if digest_ok is not None and digest != digest_ok:
            raise ModelError(
                f"{label}: sha256 {digest[:16]}... does not match {entry.name} "
                f"({digest_ok[:16]}...); the file is corrupt or not this model"
            )
        if digest_ok is None:
            validate_file(entry, path, label)
        return digest, size

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        self._prepare(self.locks_dir)
        with _lock(self.locks_dir / f"{name}.lock"):
            yield

    # -- import ------------------------------------------------------------------------------------
    def identify(self, digest: str) -> ModelEntry | None:
        """The catalogue entry (or pinned entry) whose file has this sha256."""
        for e in self.catalogue.values():
            if e.sha256 == digest:
                return e
        for name, pin in self.pins().items():
            if pin["sha256"] == digest and name in self.catalogue:
                return self.catalogue[name]
        return None

    def import_file(
        self, source: str | os.PathLike, name: str | None = None, like: str | None = None
    ) -> tuple[str, Path]:
        """Check a file the user already has and register it (under `name`, or under the entry
        its sha256 identifies). The bytes checked are the bytes installed: the file is copied
        once, hashed while it is copied, and that copy is checked and renamed into place.
        `like`: the file is the user's own model (trained with `twoface train`, say) of the
        same architecture as that catalogue entry, registered under the new `name`.
        Returns (name, installed path)."""
        src = Path(source)
        if not src.is_file():
            raise ModelError(f"{src}: no such file")
        new_user_entry = None
        if like is not None:
            from twoface.zoo.user import user_entry

            if not name:
                raise UsageError("--like needs --name: the name your model is run by", "name")
            entry = new_user_entry = user_entry(name, like, src)
        else:
            entry = self.entry(name) if name else None
        if (
            entry is not None
            and entry.member
            and sniff_format(src) == "zip"
            and entry.format != "torch"
        ):
            raise ModelError(f"{src}: give the file {entry.member} from the archive, not the zip")
        self._prepare(self.models_dir)
        fd, tmp = tempfile.mkstemp(prefix=".import.", dir=self.models_dir)
        tmp_path = Path(tmp)
        try:
            h = hashlib.sha256()
            with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                while chunk := fin.read(CHUNK):
                    h.update(chunk)
                    fout.write(chunk)
            digest = h.hexdigest()
            if entry is None:
                entry = self.identify(digest)
                if entry is None:
                    raise UsageError(
                        f"{src}: its sha256 ({digest[:16]}...) is not in the catalogue; "
                        "say which model it is with --name NAME"
                    )
            with self._locked(entry.name):
                if new_user_entry is not None:
                    self._drop_pin(entry.name)  # your model, retrained: its new bytes are it
                digest, size = self._check(entry, tmp_path, str(src), digest)
                os.chmod(tmp_path, 0o644)
                os.replace(tmp_path, self.path(entry))
                if new_user_entry is not None:
                    from twoface.zoo.user import save_user_entry

                    save_user_entry(self.home, new_user_entry)
                    self.catalogue = self.catalogue.with_user([new_user_entry])
                if entry.sha256 is None and entry.name not in self.pins():
                    self._pin(entry, digest, size, "import")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            raise
        return entry.name, self.path(entry)

    # -- download ---------------------------------------------------------------------------------
    def download(
        self,
        entry: ModelEntry | str,
        progress: Callable[[int, int | None], None] | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
    ) -> Path:
        """Fetch, check and cache one file; resumes a previous partial download.

        timeout: seconds without a byte before a connection is given up; deadline: seconds for
        the whole download (default: 2 minutes plus 50 kB/s of the expected size).
        """
        entry = self.entry(entry) if isinstance(entry, str) else entry
        dest = self.path(entry)
        if dest.is_file():
            return dest
        if self.offline:
            raise ModelError(f"model {entry.name} is not cached and --offline forbids downloading")
        if not entry.urls:
            raise ModelError(
                f"model {entry.name} has no public download address; "
                f"`twoface models import FILE --name {entry.name}`"
            )
        self._prepare(self.partial_dir, self.models_dir)
        with self._locked(entry.name):  # a second process waits here, then finds the file
            if dest.is_file():
                return dest
            return self._download_locked(entry, dest, progress, timeout, deadline)

    def _limit(self, entry: ModelEntry) -> int:
        """The most bytes a download of this entry may bring (before unpacking)."""
        _, size, _ = self.expected(entry)
        return size if size is not None and entry.member is None else MAX_UNKNOWN_BYTES

    def _download_locked(self, entry, dest: Path, progress, timeout, deadline) -> Path:
        part = self.partial_dir / (Path(urllib.parse.urlsplit(entry.urls[0]).path).name + ".part")
        if part.is_symlink():
            part.unlink()  # never write through a link someone planted
        limit = self._limit(entry)
        if deadline is None:
            deadline = BASE_ALLOWANCE + (entry.size or 200_000_000) / MIN_RATE
        ends = time.monotonic() + deadline
        errors = []
        for url in entry.urls:
            try:
                self._fetch(url, part, entry, progress, timeout, ends, limit)
                break
            except ModelError as e:
                errors.append(str(e))
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                # The partial file stays: the next attempt resumes from it.
                reason = getattr(e, "reason", None) or e
                if isinstance(e, http.client.IncompleteRead):
                    reason = "connection closed in the middle of a chunk"
                errors.append(f"{url}: {reason}")
        else:
            raise ModelError(f"could not download {entry.name}: " + "; ".join(errors))
        try:
            payload = self._unpack(entry, part)
            digest, size = self._check(entry, payload, f"download of {entry.name}")
        except BaseException:
            for p in {part, part.with_suffix(".member")}:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            raise
        os.replace(payload, dest)
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        if entry.sha256 is None and entry.name not in self.pins():
            self._pin(entry, digest, size, "download")
        return dest

    def _fetch(self, url, part: Path, entry: ModelEntry, progress, timeout, ends, limit) -> None:
        """One request, within the download's deadline `ends` (connect, headers and body)."""
        watchdog = _Watchdog(ends)
        opener = urllib.request.build_opener(
            _CheckedRedirects, _WatchedHTTP(watchdog), _WatchedHTTPS(watchdog)
        )
        too_slow = "too slow: no complete answer in the time allowed; download again to resume"
        try:
            self._fetch_within(url, part, entry, progress, timeout, ends, limit, opener)
        except (OSError, http.client.HTTPException) as e:
            if watchdog.expired and not isinstance(e, TimeoutError):
                raise TimeoutError(too_slow) from None
            raise
        finally:
            watchdog.cancel()
        if watchdog.expired:  # a shut socket can also look like a short, complete answer
            raise TimeoutError(too_slow)

    def _fetch_within(
        self, url, part: Path, entry: ModelEntry, progress, timeout, ends, limit, opener
    ) -> None:
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "twoface"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:
                # Our range starts at or past the end: complete only if the server says the file
                # has exactly the bytes we hold; otherwise start again from zero.
                if _unsatisfiable_total(e.headers.get("Content-Range")) == have:
                    return
                part.unlink()
                return self._fetch(url, part, entry, progress, timeout, ends, limit)
            raise ModelError(f"{url}: HTTP {e.code} {e.reason}") from None
        with response:
            if have:
                start, _ = _content_range_start(response.headers.get("Content-Range"))
                if response.status != 206 or start != have:
                    have = 0  # the server ignored the range, or answered another one: restart
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None and length.isdigit() else None
            archive = entry.member is not None
            if total is not None and entry.size is not None and not archive and total != entry.size:
                raise ModelError(
                    f"{url}: the server offers {total} bytes but {entry.name} has {entry.size}"
                )
            if total is not None and total > limit:
                raise ModelError(
                    f"{url}: the server offers {total} bytes, more than {entry.name} can have "
                    f"({limit})"
                )
            # read1 returns what has arrived, so a trickling server cannot hold one read
            # for ever and the deadline is checked between reads.
            read = getattr(response, "read1", response.read)
            with _open_exclusive(part, append=True) if have else _fresh(part) as f:
                done = have
                while chunk := read(CHUNK):
                    done += len(chunk)
                    if done > limit:
                        raise ModelError(
                            f"{url}: sent more than the {limit} bytes {entry.name} can have"
                        )
                    f.write(chunk)
                    if progress:
                        progress(done, total)
                    if time.monotonic() > ends:
                        raise TimeoutError(
                            f"too slow ({done} bytes in the time allowed); download again to resume"
                        )
            if total is not None and done < total:
                raise OSError(f"connection closed after {done} of {total} bytes")

    @staticmethod
    def _unpack(entry: ModelEntry, part: Path) -> Path:
        """The downloaded file itself, or the catalogue's member extracted from the archive
        (bounded: a member may not inflate past the entry's size or MAX_UNKNOWN_BYTES)."""
        if entry.member is None:
            return part
        out = part.with_suffix(".member")
        limit = entry.size or MAX_UNKNOWN_BYTES
        try:
            with zipfile.ZipFile(part) as z:
                info = z.getinfo(entry.member)
                if info.file_size > limit:
                    raise ModelError(
                        f"download of {entry.name}: {entry.member} would unpack to "
                        f"{info.file_size} bytes, more than {limit}"
                    )
                with z.open(info) as src, _fresh(out) as dst:
                    copied = 0
                    while chunk := src.read(CHUNK):
                        copied += len(chunk)
                        if copied > limit:
                            raise ModelError(
                                f"download of {entry.name}: {entry.member} unpacks past "
                                f"{limit} bytes"
                            )
                        dst.write(chunk)
        except (zipfile.BadZipFile, KeyError, EOFError, NotImplementedError) as e:
            raise ModelError(f"download of {entry.name}: archive unusable ({e})") from None
        part.unlink()
        return out

    # -- verify --------------------------------------------------------------------------------
    def status(self, entry: ModelEntry, rehash: bool = False) -> Status:
        p = self.path(entry)
        if not p.is_file():
            return Status(entry.name, p, False, "missing")
        digest, size, origin = self.expected(entry)
        if not rehash:
            return Status(entry.name, p, True, "ok" if entry.sha256 else "pinned", origin)
        try:
            self._check(entry, p, str(p))
        except ModelError as e:
            return Status(entry.name, p, True, "corrupt", str(e))
        if digest is None:
            return Status(entry.name, p, True, "unpinned", "no digest known or pinned")
        return Status(entry.name, p, True, "ok" if entry.sha256 else "pinned", origin)


def _fresh(path: Path):
    """A new file at `path`, replacing a stale one but never following a symlink."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return _open_exclusive(path, append=False)


def progress_bar(name: str) -> Callable[[int, int | None], None]:
    """A download progress line on stderr (only on a terminal)."""
    start = time.perf_counter()
    last = [0.0]

    def show(done: int, total: int | None) -> None:
        now = time.perf_counter()
        if not sys.stderr.isatty() or (now - last[0] < 0.2 and done != total):
            return
        last[0] = now
        rate = done / max(now - start, 1e-6) / 1e6
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        pct = f" {100 * done / total:3.0f}%" if total else ""
        sys.stderr.write(f"\r{name}{pct}  {size}  {rate:.1f} MB/s ")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
