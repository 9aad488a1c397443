"""Who is swapped in a video, frame by frame, across cuts.

The tracker (`twoface.track`) says which faces belong to the same person; this module decides
which of those people are swapped, and keeps deciding as the video goes on:

- `--many`: everybody.
- `--reference` / `--target-faces`: a person is swapped once one of their faces matches a
  reference identity. A track whose first look does not match (a profile, motion blur, a dark
  frame) is looked at again every few frames, so a person is not lost for the whole video
  because of the first frame they appeared in.
- default, "the most prominent person": one person at a time. The chosen person stays chosen
  while on screen; when they are gone (a cut, leaving the frame) the largest face on screen is
  chosen at once, and a face much larger than the chosen one for several frames in a row (the
  performer's close-up after an audience shot) takes over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from twoface.select import Selection
from twoface.track import Track

Identify = Callable[[np.ndarray, list], list[np.ndarray]]


class PeoplePicker:
    RECHECK_EVERY = 5  # frames between identity looks at a person not matched yet
    MAX_CHECKS = 16  # looks per track before its "no" is final
    KEEP_EMBEDDINGS = 8
    # dlib descriptors of faces under this height (pixels) are noisy: a person seen only that
    # small must match more closely. Measured on hamilton_clip.mp4 with a reference frame of
    # the performer: audience faces of 35-70 px reached 0.58-0.59 on single views, while the
    # mean of two views stayed above 0.63 for everyone but the performer (0.52-0.55).
    SMALL_FACE = 48
    SMALL_FACE_MARGIN = 0.1
    SWITCH_RATIO = 2.0  # default mode: a face this many times the chosen one's area...
    SWITCH_FRAMES = 3  # ...for this many frames in a row becomes the chosen person

    def __init__(self, selection: Selection, identify: Identify) -> None:
        self.selection = selection
        self.identify = identify
        self.chosen: int | None = None
        self._challenger: tuple[int | None, int] = (None, 0)
        self.ever_selected: set[int] = set()

    def update(
        self,
        index: int,
        frame: np.ndarray,
        seen: Sequence[Track],
        alive: Sequence[Track],
        new: set[int],
    ) -> None:
        """Set `selected` and `source` on the tracks alive in frame `index` (`seen`: those with
        a face in it; `new`: ids of tracks that began in it)."""
        if self.selection.needs_identity:
            for track in seen:
                self._match(index, frame, track)
        elif self.selection.many:
            for track in alive:
                track.selected, track.source = True, 0
        else:
            self._most_prominent(seen, alive, new)
        self.ever_selected |= {t.id for t in alive if t.selected}

    def undecided(self, track: Track) -> bool:
        """Whether a track not swapped yet may still match (more identity looks to come)."""
        return (
            self.selection.needs_identity and not track.selected and track.checks < self.MAX_CHECKS
        )

    # -- identity ----------------------------------------------------------------------------
    def _match(self, index: int, frame: np.ndarray, track: Track) -> None:
        if track.selected:
            return  # a match is kept: later poor views must not unswap the person
        due = track.checks == 0 or (
            track.checks < self.MAX_CHECKS and index - track.checked_at >= self.RECHECK_EVERY
        )
        if not due:
            track.selected = bool(track.selected)
            return
        if not track.embeddings or track.embedded_at != index:  # else the tracker's, just made
            track.embeddings.append(self.identify(frame, [track.last])[0])
            del track.embeddings[: -self.KEEP_EMBEDDINGS]
        track.embedded_at = track.checked_at = index
        track.checks += 1
        box = track.last.box
        track.best_size = max(track.best_size, float(box[3] - box[1]))
        refs = self.selection.target_refs or (self.selection.reference,)
        # The mean of the two latest views: each look is another chance for a stranger to come
        # close by noise, so after the first look no single view decides alone; and the latest
        # views, not all of them, so poor first views (blur, profile) do not hold the mean away.
        # The latest view must agree on its own as well.
        mean = np.mean(track.embeddings[-2:], axis=0)
        latest = track.embeddings[-1]
        distance = self.selection.distance
        distances = [max(distance(mean, r), distance(latest, r)) for r in refs]
        j = int(np.argmin(distances))
        limit = self.selection.threshold
        if track.best_size < self.SMALL_FACE:
            limit -= self.SMALL_FACE_MARGIN
        track.selected = distances[j] <= limit
        track.source = j if self.selection.target_refs else 0

    # -- default: the most prominent person -----------------------------------------------------
    def _most_prominent(self, seen: Sequence[Track], alive: Sequence[Track], new: set[int]):
        by_id = {t.id: t for t in alive}
        if self.chosen not in by_id:
            self.chosen = None
        if seen:
            largest = max(seen, key=lambda t: (t.last.area, t.last.score))
            chosen_seen = any(t.id == self.chosen for t in seen)
            if self.chosen is None:
                self.chosen = largest.id
            elif not chosen_seen and largest.id in new:
                # The chosen person vanished in the very frame a new face appeared: a cut.
                self.chosen = largest.id
            elif chosen_seen and largest.id != self.chosen:
                ratio = largest.last.area / max(by_id[self.chosen].last.area, 1e-6)
                who, count = self._challenger
                count = (
                    count + 1
                    if (who == largest.id and ratio > self.SWITCH_RATIO)
                    else (1 if ratio > self.SWITCH_RATIO else 0)
                )
                self._challenger = (largest.id, count)
                if count >= self.SWITCH_FRAMES:
                    self.chosen, self._challenger = largest.id, (None, 0)
        for track in alive:
            track.selected, track.source = track.id == self.chosen, 0
