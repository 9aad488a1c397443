"""The Compositor stage: generated crops back into their frames (insightface's paste-back).

For each job: the crop and its mask are warped back over the face's box only (the region the
crop covers), the warped square is thresholded, limited by the maskers' mask, eroded by a tenth
and blurred by a twentieth of its size, and mixed into the frame. Every pixel outside that region
stays bit-identical; a frame with jobs is copied once (pasted into in place where the run owns its
frames: `give_frames`), frames without come back as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import cv2
import numpy as np

from twoface.geometry import invert_affine
from twoface.swap.base import SwapJob


def paste_region(m: np.ndarray, size: int, frame_hw: tuple[int, int]):
    """(x0, y0, x1, y1): the frame region a size x size crop made by `m` covers (2 px margin,
    clipped to the frame), or None when it lies outside."""
    h, w = frame_hw
    inv = invert_affine(m)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    pts = corners @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 2
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def paste_back(
    frame: np.ndarray, face: np.ndarray, m: np.ndarray, mask: np.ndarray | None = None
) -> None:
    """Blend the generated crop into `frame` in place. `mask`: (S, S) float in [0, 1] in crop
    coordinates (the maskers' combined mask), or None for the crop's square alone."""
    size = face.shape[0]
    box = paste_region(m, size, frame.shape[:2])
    if box is None:
        return
    x0, y0, x1, y1 = box
    inv = invert_affine(m)
    shift = inv.copy()
    shift[:, 2] -= (x0, y0)
    rw, rh = x1 - x0, y1 - y0
    fake = cv2.warpAffine(face, shift, (rw, rh), borderValue=0)
    white = cv2.warpAffine(np.full((size, size), 255, np.uint8), shift, (rw, rh), borderValue=0)
    white[white > 20] = 255
    if mask is not None and float(mask.min()) < 1.0:
        limit = cv2.warpAffine(
            np.clip(mask * 255 + 0.5, 0, 255).astype(np.uint8), shift, (rw, rh), borderValue=0
        )
        white = np.minimum(white, limit)
    # insightface sizes the feather by the full-white area's bounding box.
    bx, by, bw, bh = cv2.boundingRect((white == 255).astype(np.uint8))
    if bw == 0 or bh == 0:
        return
    mask_size = int(np.sqrt((bh - 1) * (bw - 1)))
    soft = _feathered(white, mask_size)
    # Blend only where the feathered mask reaches (cv2.blendLinear: one SIMD pass, exact where
    # the weight is 0 or 1).
    sx, sy, sw, sh = cv2.boundingRect((soft > 0).astype(np.uint8))
    if sw == 0 or sh == 0:
        return
    weight = np.ascontiguousarray(soft[sy : sy + sh, sx : sx + sw])
    region = frame[y0 + sy : y0 + sy + sh, x0 + sx : x0 + sx + sw]
    frame[y0 + sy : y0 + sy + sh, x0 + sx : x0 + sx + sw] = cv2.blendLinear(
        np.ascontiguousarray(fake[sy : sy + sh, sx : sx + sw]),
        np.ascontiguousarray(region),
        weight,
        1.0 - weight,
    )


FEATHER_WORK = 256  # the feather of a larger face is computed at this size and scaled up


def _feathered(white: np.ndarray, mask_size: int) -> np.ndarray:
    """insightface's paste-back mask: eroded by a tenth and blurred by a twentieth of the mask's
    size, as float32 in [0, 1]. A large face (4K: ~1,000 px) is feathered on a copy scaled down
    to FEATHER_WORK and scaled back: the blur is that wide anyway, and a 100-px erosion and a
    101-px blur on the full region cost more than the generator."""
    scale = min(1.0, FEATHER_WORK / max(mask_size, 1))
    work = white
    if scale < 1.0:
        h, w = white.shape
        work = cv2.resize(
            white,
            (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA,
        )
    size = mask_size * scale
    k = max(int(size) // 10, max(1, round(10 * scale)))
    soft = cv2.erode(work, np.ones((k, k), np.uint8), iterations=1)
    k = max(int(size) // 20, max(1, round(5 * scale)))
    soft = cv2.GaussianBlur(soft, (2 * k + 1, 2 * k + 1), 0).astype(np.float32) / 255
    if scale < 1.0:
        soft = cv2.resize(soft, (white.shape[1], white.shape[0]), interpolation=cv2.INTER_LINEAR)
    return soft


OWNED_KEY = "paste_back.owned"


def give_frames(run) -> None:
    """Say that `run`'s frames are its own (a live stream's, read once from the camera and
    shown once): they are pasted into in place instead of copied first (a 1080p frame's copy
    cost 1.5 ms on this CPU, a third of pasting one face)."""
    run.slot(OWNED_KEY, dict)["owned"] = True


def owns_frames(run) -> bool:
    return bool(run.slot(OWNED_KEY, dict).get("owned"))


class PasteBack:
    """Compositor: `composite(frames, jobs, crops, masks, affines) -> frames`."""

    name = "paste_back"

    def composite(
        self,
        frames: Sequence[np.ndarray],
        jobs: Sequence[SwapJob],
        crops: np.ndarray,
        masks: np.ndarray | None,
        affines: np.ndarray,
    ) -> list[np.ndarray]:
        out = list(frames)
        per_frame: dict[int, list[int]] = {}
        for k, job in enumerate(jobs):
            per_frame.setdefault(job.frame_index, []).append(k)

        in_place = bool(jobs) and jobs[0].run is not None and owns_frames(jobs[0].run)

        def paste_frame(i: int) -> None:
            frame = frames[i]
            if not (in_place and frame.flags.writeable):
                frame = frame.copy()
            for k in per_frame[i]:
                paste_back(frame, crops[k], affines[k], None if masks is None else masks[k])
            out[i] = frame

        # Frames are independent and OpenCV lets go of the GIL: a batch's frames are pasted in
        # parallel where there are cores to spare (five faces in each 1080p frame took 11 ms a
        # frame on one thread).
        pool = _pool()
        if pool is None or len(per_frame) < 2:
            for i in per_frame:
                paste_frame(i)
        else:
            list(pool.map(paste_frame, per_frame))
        return out


@cache
def _pool():
    """A few threads for pasting frames in parallel, or None on a machine of few cores."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(PASTE_THREADS, (os.cpu_count() or 1) // 4)
    return ThreadPoolExecutor(workers, "twoface-paste-frame") if workers >= 2 else None


PASTE_THREADS = 4
