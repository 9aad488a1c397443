"""What is skin in a face, and what is not: the classical engine's embedded occlusion check.

A skin model is fitted per face from its own skin (circles placed by the landmark scheme on both
cheeks, below both eyes, the nose bridge and the forehead, so a side-lit face puts both its lit
and its shaded side in the model; the places whose colour disagrees with the others' consensus --
a face mask, a fringe, a hand -- are left out): the median and spread of L*, a*, b*. A pixel is
skin when its chroma lies within a few spreads of the skin's and it is not much darker or
brighter. Beards, hair and fringes, glasses' rims and frames, microphones and masks fail that
test; eyes, brows and lips do too, so the engine takes them from the source by region, not by
this test.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from twoface.schemes import LandmarkScheme, scheme_of


@dataclass(frozen=True)
class SkinParams:
    """The skin test's limits, in robust spreads (1.4826 x MAD) of the face's own skin, and the
    sample places' agreement.

    - `chroma_spreads`: a pixel farther than this from the cheeks' chroma is not skin; nor one
      `darker_spreads` darker or `brighter_spreads` brighter (a lit cheek is brighter than a
      shaded one, so brighter gets more room).
    - `min_spread_ab`, `min_spread_l`: the least spreads (a flat, evenly lit face would
      otherwise call its own grain non-skin).
    - `sample_agree`: a*b* distance of a sample place's median from the consensus that agrees.
    - `sample_greyer`: a place with less than this share of the consensus chroma is left out:
      a white face mask over both cheeks of a pale face (face_mask_woman.png: chroma 2.1 and
      3.0 against 7.0) otherwise pulled the skin's colour towards the cloth's, and the cloth
      passed as skin.
    - `highlight_chroma`: the least share of the skin's chroma a brighter pixel keeps as skin.
    - `greyer`: a pixel with less than this share of the skin's chroma is not skin, when the
      skin's own chroma is at least `coloured` (not a greyscale photo).
    - `highlight_area`: the largest bright non-skin blob, in face widths squared, that is a
      highlight (shine) rather than an occluder.
    - `shade_light`, `shade_grain`: calibrated on the shared photos at the working size: the
      shadows beside frontal_neutral_man's nose and on group_children_8's turned cheek read
      0.5-0.7 of the skin's lightness and a fine grain mostly under 0.06 (log lightness);
      beards and stubble (rdj1, sidelight_beard_yaw_man, glasses_beard_mic) 0.06-0.28, nine
      tenths of them above 0.056.
    """

    chroma_spreads: float = 3.5
    darker_spreads: float = 3.0
    brighter_spreads: float = 4.0
    min_spread_ab: float = 3.0
    min_spread_l: float = 8.0
    sample_agree: float = 6.0
    sample_greyer: float = 0.5
    highlight_chroma: float = 0.4
    greyer: float = 0.4
    coloured: float = 4.0
    highlight_area: float = 0.03
    shade_light: float = 0.45
    shade_grain: float = 0.06


SKIN = SkinParams()


def lab(image: np.ndarray) -> np.ndarray:
    """float32 L*a*b* with L in 0..100 and a, b around 0."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def sample_circles(lm: np.ndarray, scheme: LandmarkScheme) -> list[tuple[np.ndarray, float]]:
    """(centre, radius) of the places skin is sampled: each cheek (between eye, mouth corner and
    jaw), below each eye, the nose bridge between the eyes and the forehead above the brows."""
    jaw = scheme.group(lm, "jaw")
    eye_l, eye_r = scheme.eye_centres(lm)
    mouth_l, mouth_r = scheme.point(lm, "mouth_left"), scheme.point(lm, "mouth_right")
    k = max(1, len(jaw) // 5)
    fw = scheme.face_width(lm)
    brows = scheme.group(lm, "brows").mean(0)
    up = brows - scheme.point(lm, "chin")
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    return [
        ((eye_l + mouth_l + jaw[k]) / 3, 0.07 * fw),
        ((eye_r + mouth_r + jaw[-1 - k]) / 3, 0.07 * fw),
        (eye_l - up * 0.11 * fw, 0.04 * fw),
        (eye_r - up * 0.11 * fw, 0.04 * fw),
        ((eye_l + eye_r) / 2, 0.03 * fw),
        (brows + up * 0.1 * fw, 0.05 * fw),
    ]


class SkinModel:
    def __init__(self, median: np.ndarray, spread: np.ndarray) -> None:
        self.median, self.spread = median, spread

    @classmethod
    def fit(cls, image_lab: np.ndarray, lm: np.ndarray, scheme: LandmarkScheme | None = None):
        """The skin colour from the sample places that agree: a mask over the cheeks, a fringe
        over the forehead or a hand on one side is outvoted by the others (a fit on the cheeks
        alone learnt a face mask's cloth as the skin and pasted the source over it)."""
        s = scheme or scheme_of(lm)
        h, w = image_lab.shape[:2]
        samples = []
        for centre, radius in sample_circles(np.asarray(lm, np.float64), s):
            m = np.zeros((h, w), np.uint8)
            cv2.circle(m, tuple(int(round(v)) for v in centre), max(2, int(radius)), 1, -1)
            pixels = image_lab[m > 0]
            if len(pixels) >= 10:
                samples.append(pixels)
        if samples:
            medians = np.array([np.median(p, axis=0) for p in samples])
            consensus = np.median(medians[:, 1:], axis=0)
            agree = (np.linalg.norm(medians[:, 1:] - consensus, axis=1) < SKIN.sample_agree) & (
                np.linalg.norm(medians[:, 1:], axis=1)
                >= SKIN.sample_greyer * np.linalg.norm(consensus)
            )
            if not agree.any():
                agree[:] = True
            pixels = np.concatenate([p for p, a in zip(samples, agree, strict=True) if a])
        if not samples or len(pixels) < 20:  # the face off the image: the whole area instead
            pixels = image_lab.reshape(-1, 3)
        median = np.median(pixels, axis=0)
        spread = 1.4826 * np.median(np.abs(pixels - median), axis=0)
        spread = np.maximum(spread, [SKIN.min_spread_l, SKIN.min_spread_ab, SKIN.min_spread_ab])
        return cls(median.astype(np.float32), spread.astype(np.float32))

    @property
    def coloured(self) -> bool:
        """Whether the skin has a skin's colour (a colour photo, not greyscale or colour-graded
        far off skin's hues): only then do colour tests say anything."""
        skin_chroma = float(np.linalg.norm(self.median[1:]))
        return skin_chroma > SKIN.coloured and min(self.median[1], self.median[2]) > 0

    def colourless(self, image_lab: np.ndarray) -> np.ndarray:
        """Boolean map of what is near grey next to this skin. Skin is never grey in a colour
        photo: a white or grey mask or cloth, a microphone, a grey beard -- near the skin's
        chroma in distance -- are told apart by having almost none. (A greyscale photo's skin
        is grey: then nothing is.)"""
        # Skin's hue lies between red and yellow (a*, b* > 0); a skin median elsewhere (a
        # bluish, colour-graded photo) says the photo's colours are not to be trusted.
        if not self.coloured:
            return np.zeros(image_lab.shape[:2], bool)
        skin_chroma = float(np.linalg.norm(self.median[1:]))
        return np.linalg.norm(image_lab[..., 1:], axis=-1) < SKIN.greyer * skin_chroma

    def skin(self, image_lab: np.ndarray, any_light: bool = False) -> np.ndarray:
        """Boolean map: True where a pixel looks like this face's skin (with `any_light`, in
        shadow or light whatever its lightness: the skin a face's shading is measured on)."""
        d = (image_lab - self.median) / self.spread
        chroma = np.sqrt(d[..., 1] ** 2 + d[..., 2] ** 2)
        # A highlight (the shine on a nose or forehead) is skin plus white light: brighter, its
        # chroma on the way from the skin's to grey. Measured from that segment instead, it
        # stays skin rather than becoming an "occluder" that keeps the target's bright patch.
        ab = image_lab[..., 1:]
        m_ab = self.median[1:]
        # (Not all the way to grey: a white mask or cloth is no highlight; a highlight's
        # colourless core is small and `clean` drops it.)
        t = np.clip((ab @ m_ab) / max(float(m_ab @ m_ab), 1e-6), SKIN.highlight_chroma, 1.0)
        to_white = (ab - t[..., None] * m_ab) / self.spread[1:]
        bright = d[..., 0] > 1.0
        chroma = np.where(bright, np.minimum(chroma, np.sqrt((to_white**2).sum(-1))), chroma)
        colourless = self.colourless(image_lab)
        if any_light:
            # In shadow a skin's chroma falls with its lightness: compare its hue and its
            # chroma scaled to the skin's lightness.
            scale = np.clip(self.median[0] / np.maximum(image_lab[..., 0], 1.0), 1.0, 4.0)
            d_ab = (image_lab[..., 1:] * scale[..., None] - m_ab) / self.spread[1:]
            shaded = np.sqrt((d_ab**2).sum(-1)) < SKIN.chroma_spreads
            return ((chroma < SKIN.chroma_spreads) & ~colourless) | (shaded & ~bright)
        return (
            (chroma < SKIN.chroma_spreads)
            & ~colourless
            & (d[..., 0] > -SKIN.darker_spreads)
            & (d[..., 0] < SKIN.brighter_spreads)
        )


def face_outline(shape, lm: np.ndarray, scheme: LandmarkScheme) -> np.ndarray:
    """Boolean map of the convex outline of the jaw and brows."""
    outline = np.zeros(shape[:2], np.uint8)
    pts = np.concatenate([scheme.group(lm, "jaw"), scheme.group(lm, "brows")]).astype(np.float32)
    cv2.fillConvexPoly(outline, np.round(cv2.convexHull(pts)).astype(np.int32), 1)
    return outline > 0


def shaded_skin(
    model: SkinModel,
    image_lab: np.ndarray,
    lm: np.ndarray,
    scheme: LandmarkScheme,
    face_w: float,
    any_light: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean map of skin in shade that the plain skin test calls too dark: inside the face's
    outline (jaw and brows), of the skin's hue (`skin(any_light=True)`) and not grey, at least
    SkinParams.shade_light of its lightness, and smooth at the finest scale. A nose's or a
    cheek's shadow is such; hair, beards and stubble are textured, and a shaded white mask is grey. `any_light`:
    the model's any-light map of the image where the caller has it already."""
    light = image_lab[..., 0]
    log = np.log(np.maximum(light, 1.0))
    detail = log - cv2.GaussianBlur(log, (0, 0), max(0.7, 0.005 * face_w))
    # Measured on the fine band: a soft shadow's edge is smooth there; a coarser local spread
    # read every shadow's edge as texture and left holes along it.
    grain = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), max(1.0, 0.015 * face_w)))
    return (
        face_outline(light.shape, lm, scheme)
        & (model.skin(image_lab, any_light=True) if any_light is None else any_light)
        & ~model.colourless(image_lab)
        & (light >= SKIN.shade_light * model.median[0])
        & (grain < SKIN.shade_grain)
    )


def highlights(skin: np.ndarray, light: np.ndarray, median_light: float, face_w: float):
    """Boolean map of the non-skin blobs of `skin` brighter on average than the skin and smaller
    than SkinParams.highlight_area x face_w^2: the shine on a lit cheek or a nose tip, too
    bright and too grey for the skin test. Kept out of the swap they showed as white spots in it (the swap
    takes the light round them, not their peak)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~skin).astype(np.uint8), 8)
    if count <= 1:
        return np.zeros(skin.shape, bool)
    mean = np.bincount(labels.ravel(), light.ravel(), count) / np.maximum(stats[:, 4], 1)
    bright = (mean > median_light) & (stats[:, 4] < SKIN.highlight_area * face_w**2)
    bright[0] = False  # label 0 is the skin itself
    return bright[labels]


def clean(skin: np.ndarray, face_size: float, min_area: float = 0.0006) -> np.ndarray:
    """The skin map with speckles of non-skin dropped (a pore or a highlight is not an
    occluder; nor is anything smaller than `min_area` x face_size^2) but thin long structures
    kept (a glasses rim is one), as uint8 0/1; what remains non-skin is grown a little so its
    soft edge stays off the occluder."""
    occluded = (~skin).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(occluded, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max(4, int(min_area * face_size**2))
    small[0] = True  # label 0 is the skin itself
    occluded = (~small[labels]).astype(np.uint8)
    k = max(1, int(round(face_size * 0.008)))
    occluded = cv2.dilate(
        occluded, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    )
    return 1 - occluded


def eye_openness(lm: np.ndarray, scheme: LandmarkScheme | None = None) -> float:
    """Mean eye height over eye width (both eyes): ~0.3 open, < 0.15 closed."""
    s = scheme or scheme_of(lm)
    ratios = []
    for group in ("eye_left", "eye_right"):
        eye = s.group(lm, group).astype(np.float64)
        width = np.ptp(eye[:, 0])
        height = np.ptp(eye[:, 1])
        ratios.append(height / max(width, 1e-6))
    return float(np.mean(ratios))


def yaw_sign(lm: np.ndarray, scheme: LandmarkScheme | None = None) -> float:
    """Where the nose tip sits between the jaw's ends: -1 (turned to image left) .. +1."""
    s = scheme or scheme_of(lm)
    jaw = s.group(lm, "jaw")
    left, right = jaw[0][0], jaw[-1][0]
    nose = s.point(lm, "nose_tip")[0]
    return float(2 * (nose - left) / max(right - left, 1e-6) - 1)


def pitch_ratio(lm: np.ndarray, scheme: LandmarkScheme | None = None) -> float:
    """How far down the nose tip sits between the eyes' line and the chin (0..1): ~0.3 facing
    the camera; lower with the head tilted back (pitch_up_woman.jpg 0.14), higher bowed
    (pitch_down_woman.jpg 0.38, closed_eyes_woman.jpg 0.40)."""
    s = scheme or scheme_of(lm)
    lm = np.asarray(lm, np.float64)
    eye_l, eye_r = s.eye_centres(lm)
    eyes = (eye_l + eye_r) / 2
    axis = s.point(lm, "chin").reshape(-1) - eyes
    length = max(float(np.linalg.norm(axis)), 1e-6)
    return float((s.point(lm, "nose_tip").reshape(-1) - eyes) @ axis / length**2)


def gaze(lightness: np.ndarray, lm: np.ndarray, scheme: LandmarkScheme | None = None) -> float:
    """Where the irises sit between the eye corners, 0 (image left) .. 1, averaged over both
    eyes: the centroid of each eye's darkest quarter of pixels (iris and pupil)."""
    s = scheme or scheme_of(lm)
    values = []
    for group in ("eye_left", "eye_right"):
        eye = s.group(lm, group).astype(np.float32)
        m = np.zeros(lightness.shape, np.uint8)
        cv2.fillConvexPoly(m, np.round(cv2.convexHull(eye)).astype(np.int32), 1)
        ys, xs = np.nonzero(m)
        if len(xs) < 8:
            continue
        vals = lightness[ys, xs]
        dark = vals <= np.percentile(vals, 25)
        left, right = float(eye[:, 0].min()), float(eye[:, 0].max())
        values.append((xs[dark].mean() - left) / max(right - left, 1e-6))
    return float(np.mean(values)) if values else 0.5
