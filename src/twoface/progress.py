"""Progress reports: a callback the API calls, and the status line the CLI draws from it.

The API calls `progress(stage, done, total)`: for a video, stage "frames" with frames done and the
expected count (0 when unknown); for an image, each stage's name as it starts ("read", "detect",
"landmarks", "swap", "write") with its number and the number of stages.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

ProgressCallback = Callable[[str, int, int], None]


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """Draws progress on stderr: redrawn in place on a terminal (at most 5 times a second), or
    one plain line every `every` seconds when stderr is a file or a pipe."""

    WIDTH = 24

    def __init__(self, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = 0.2 if self.tty else every
        self.start = time.perf_counter()
        self.last = -1e9
        self.drawn = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        final = total > 0 and done >= total
        if now - self.last < self.every and not final:
            return
        self.last = now
        line = self.line(stage, done, total, now - self.start)
        try:
            if self.tty:
                self.stream.write("\r" + line + ("\n" if final else ""))
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: progress is not worth failing over
            return
        self.drawn = not final

    def close(self) -> None:
        """End an unfinished line (an error or interruption stopped the work)."""
        if self.drawn and self.tty:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
        self.drawn = False

    def line(self, stage: str, done: int, total: int, elapsed: float) -> str:
        if stage != "frames":
            return f"[{done}/{total}] {stage} ({elapsed:.1f} s)"
        fps = done / elapsed if elapsed > 0 else 0.0
        if total:
            frac = min(done / total, 1.0)
            fill = int(frac * self.WIDTH)
            eta = (total - done) / fps if fps > 0 else 0.0
            return (
                f"[{'#' * fill}{'.' * (self.WIDTH - fill)}] {100 * frac:3.0f}% "
                f"{done}/{total} frames  {fps:5.1f} fps  ETA {_clock(max(eta, 0))} "
            )
        return f"{done} frames  {fps:5.1f} fps  {_clock(elapsed)} "


def resolve(progress: bool | None | ProgressCallback) -> ProgressCallback | None:
    """The callback for an API `progress` argument: a callable as given; True a ProgressLine;
    None a ProgressLine only when stderr is a terminal; False nothing."""
    if callable(progress):
        return progress
    if progress is None:
        return ProgressLine() if sys.stderr.isatty() else None
    return ProgressLine() if progress else None


def close_progress(report: ProgressCallback | None) -> None:
    """End the status line of a report that draws one (a user's own callback has none)."""
    if report is not None and hasattr(report, "close"):
        report.close()
