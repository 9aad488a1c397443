"""Outputs appear whole or not at all: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from twoface.errors import OutputError

# Errors that say "this output cannot be written", whatever stage of the write raised them.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
DENIED_ERRNOS = {errno.EACCES, errno.EPERM}
# The temporary name keeps this much of the output's name: "." + 24 characters (96 bytes at
# most in UTF-8) + "." + 8 random + ".tmp" + the extension stays far below the usual 255-byte
# limit on a name, whatever the output's own length.
TEMP_HEAD = 24
TEMP_SUFFIX_MAX = 16


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, then restore at once
    os.umask(mask)
    return mask


def output_error(path: str | os.PathLike, e: OSError) -> OutputError | None:
    """The one-line OutputError for an OSError that means the output cannot be written."""
    if e.errno in WRITE_ERRNOS:
        return OutputError(f"{path}: cannot write the output ({os.strerror(e.errno)})")
    return None


def written_error(dest: Path, e: OSError, creating: bool = False) -> OutputError:
    """An OSError raised while the output was being created, written or put in place, as one
    line: the folder deleted under a running write says so (the file's own error, "No such
    file", would not), and a folder that takes no files (/proc) is named."""
    parent = dest.parent if str(dest.parent) else Path(".")
    reason = os.strerror(e.errno) if e.errno else (str(e) or type(e).__name__)
    if e.errno in DENIED_ERRNOS:
        return OutputError(f"{dest}: cannot write in {parent} (permission denied)")
    if e.errno in (errno.ENOENT, errno.ESTALE) and not parent.is_dir():
        when = "does not exist" if creating else "was removed while writing"
        return OutputError(f"{dest}: the output folder {parent} {when}")
    if creating:
        return OutputError(f"{dest}: cannot create a file in {parent} ({reason})")
    return OutputError(f"{dest}: cannot write the output ({reason})")


def temp_name(dest: Path) -> tuple[str, str]:
    """Prefix and suffix of the temporary file beside `dest`: a short head of its name (so a
    255-byte output name still leaves room for the random part) and its extension (writers
    pick the format by it)."""
    suffix = dest.suffix if len(dest.suffix) <= TEMP_SUFFIX_MAX else ""
    return f".{dest.name[:TEMP_HEAD]}.", f".tmp{suffix}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the destination folder; rename it onto `path` on success.

    On any exception (Ctrl-C, SIGTERM through the CLI's handler, a full disk) the temporary file
    is removed and `path` is untouched. The output gets the mode a plain `open()` would give it
    (0666 less the umask), not the 0600 of a temporary file. Every OSError of the write that
    concerns the output (the temporary file, its folder, the final rename) is an OutputError.
    """
    dest = Path(path)
    prefix, suffix = temp_name(dest)
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dest.parent)
    except OSError as e:
        # /proc, a folder removed since the checks, a read-only mount ...: one line, exit 5.
        raise output_error(dest, e) or written_error(dest, e, creating=True) from None
    os.close(fd)
    tmp_path = Path(tmp)
    finishing = False
    try:
        yield tmp_path
        finishing = True
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, dest)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(e, OSError):
            if (err := output_error(dest, e)) is not None:
                raise err from None
            # The rename or chmod, or the writer's own file (named by the error): the output's.
            if finishing or _names(e, tmp_path):
                raise written_error(dest, e) from None
        raise


def _names(e: OSError, path: Path) -> bool:
    """Whether an OSError is about `path` (open() gives the path as it was passed: str or Path)."""
    name = getattr(e, "filename", None)
    return isinstance(name, str | os.PathLike) and os.fspath(name) == os.fspath(path)
