"""The model store: where model files live, and how they get there safely.

Downloads go to `<home>/partial/<file>.part` (resumed with an HTTP Range request after an
interruption), are checked for size, sha256 and format, and only then renamed into
`<home>/models/`. A file that fails a check is deleted: nothing unverified is ever cached.
Digests the catalogue does not know are pinned on first download (or import) in
`<home>/pins.json`, and every later copy must match the pin.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twoface.errors import ModelError
from twoface.zoo.catalogue import CATALOGUE, ModelEntry

CHUNK = 1 << 20


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
    if entry.format == "cascade-xml" and b"<cascade" not in path.read_bytes()[:4096]:
        raise ModelError(f"{label}: an XML file but not an OpenCV cascade; it is not {entry.name}")


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
        self.pins_file = self.home / "pins.json"

    # -- lookup ----------------------------------------------------------------------------------
    @staticmethod
    def entry(name: str) -> ModelEntry:
        try:
            return CATALOGUE[name]
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
        try:
            return json.loads(self.pins_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _pin(self, entry: ModelEntry, digest: str, size: int, origin: str) -> None:
        pins = self.pins()
        pins[entry.name] = {"sha256": digest, "size": size, "from": origin, "time": time.time()}
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.pins_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pins, indent=2, sort_keys=True))
        os.replace(tmp, self.pins_file)

    def expected(self, entry: ModelEntry) -> tuple[str | None, int | None, str]:
        """(sha256, size, where that comes from) for a file of this entry."""
        if entry.sha256:
            return entry.sha256, entry.size, "catalogue"
        pin = self.pins().get(entry.name)
        if pin:
            return pin["sha256"], pin["size"], "pinned on first " + pin["from"]
        return None, entry.size, "not yet pinned"

    def _check(self, entry: ModelEntry, path: Path, label: str) -> tuple[str, int]:
        """Size, format and digest of a candidate file; raises ModelError (caller deletes)."""
        digest_ok, size_ok, _ = self.expected(entry)
        size = path.stat().st_size
        if size_ok is not None and size != size_ok:
            raise ModelError(
                f"{label}: {size} bytes, but {entry.name} has {size_ok} (truncated or another file)"
            )
        check_format(entry, path, label)
        digest = sha256_of(path)
        if digest_ok is not None and digest != digest_ok:
            raise ModelError(
                f"{label}: sha256 {digest[:16]}... does not match {entry.name} "
                f"({digest_ok[:16]}...); the file is corrupt or not this model"
            )
        return digest, size

    # -- import ------------------------------------------------------------------------------------
    def import_file(self, source: str | os.PathLike, name: str, copy: bool = True) -> Path:
        """Check a file the user already has and register it under `name`."""
        entry = self.entry(name)
        src = Path(source)
        if not src.is_file():
            raise ModelError(f"{src}: no such file")
        if entry.member and sniff_format(src) == "zip" and entry.format != "torch":
            raise ModelError(f"{src}: give the file {entry.member} from the archive, not the zip")
        digest, size = self._check(entry, src, str(src))
        dest = self.path(entry)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".import.", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if entry.sha256 is None and entry.name not in self.pins():
            self._pin(entry, digest, size, "import")
        return dest

    # -- download ---------------------------------------------------------------------------------
    def download(
        self,
        entry: ModelEntry | str,
        progress: Callable[[int, int | None], None] | None = None,
        timeout: float = 30.0,
    ) -> Path:
        """Fetch, check and cache one file; resumes a previous partial download."""
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
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        part = self.partial_dir / (Path(entry.urls[0]).name + ".part")
        errors = []
        for url in entry.urls:
            try:
                self._fetch(url, part, entry, progress, timeout)
                break
            except ModelError as e:
                errors.append(str(e))
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                # The partial file stays: the next attempt resumes from it.
                reason = getattr(e, "reason", None) or e
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
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(payload, dest)
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        if entry.sha256 is None and entry.name not in self.pins():
            self._pin(entry, digest, size, "download")
        return dest

    def _fetch(self, url, part: Path, entry: ModelEntry, progress, timeout) -> None:
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "twoface"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # already complete
                return
            raise ModelError(f"{url}: HTTP {e.code} {e.reason}") from None
        with response:
            if have and response.status != 206:
                have = 0  # the server ignored the range: start again
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            archive = entry.member is not None
            if total is not None and entry.size is not None and not archive and total != entry.size:
                raise ModelError(
                    f"{url}: the server offers {total} bytes but {entry.name} has {entry.size}"
                )
            with open(part, "ab" if have else "wb") as f:
                done = have
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            if total is not None and done < total:
                raise OSError(f"connection closed after {done} of {total} bytes")

    @staticmethod
    def _unpack(entry: ModelEntry, part: Path) -> Path:
        """The downloaded file itself, or the catalogue's member extracted from the archive."""
        if entry.member is None:
            return part
        out = part.with_suffix(".member")
        try:
            with zipfile.ZipFile(part) as z, z.open(entry.member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        except (zipfile.BadZipFile, KeyError) as e:
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
