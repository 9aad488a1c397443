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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the destination folder; rename it onto `path` on success.

    On any exception (Ctrl-C, SIGTERM through the CLI's handler, a full disk) the temporary file
    is removed and `path` is untouched. The output gets the mode a plain `open()` would give it
    (0666 less the umask), not the 0600 of a temporary file.
    """
    dest = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}", dir=dest.parent
        )
    except OSError as e:
        if e.errno in DENIED_ERRNOS:
            raise OutputError(
                f"{dest}: cannot write in {dest.parent or '.'} (permission denied)"
            ) from None
        raise output_error(dest, e) or e from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, dest)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(e, OSError) and (err := output_error(dest, e)) is not None:
            raise err from None
        raise
