"""What a face holds beyond its landmarks, read by colour: a fringe, glasses, a beard round the
mouth, features under a hand, how bright each eye is; and the source's own occluders filled
from its skin. A source photo's traits are decided once per photo and run (`source_traits`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from twoface.blend import masked_blur
from twoface.swap.base import RunState
from twoface.swap.classical.parts import region, surroundings_shown
from twoface.swap.skin import SkinModel, clean, lab


@dataclass(frozen=True)
class TraitParams:
    """Thresholds of the colour tests on a face (x face width unless said)."""

    # The smallest non-skin area of the source (x face width^2) kept out of the swap as an
    # occluder and filled from its skin: a beard, a hand, hair; a smile's creases and the
    # shadows by the eyes are smaller.
    source_hole: float = 0.01
    # The fill: the skin round a hole averaged over `fill_blur`, its seam feathered over
    # `fill_feather`, with the target's detail finer than `fill_detail` laid over it (a flat
    # fill read as a smooth patch next to stubble).
    fill_blur: float = 0.1
    fill_feather: float = 0.01
    fill_detail: float = 0.02
    # A fringe: more than `fringe_share` of the band `fringe_band` above the brows not skin.
    fringe_band: float = 0.12
    fringe_share: float = 0.5
    # Glasses: measured at the working size on the shared photos, the two faces with glasses
    # cover 21% and 41% of the bridge with thin lines `glasses_line` L* against their
    # surroundings; twelve without, 0-8%.
    glasses_line: float = 10.0
    glasses_share: float = 0.15
    # An eye outline more than `skin_eye` skin, with its darkest tenth less than `dark_eye` of
    # the skin's lightness below it, is covered (hand_over_eye_woman: 76% skin, 0.30; real eyes
    # on the shared photos at most 29% skin or at least 0.42 dark); lips whose redder quarter is
    # `unred_lips` a* below the skin's median are (glasses_beard_mic: 9 below; real mouths at
    # most 3 below).
    skin_eye: float = 0.6
    dark_eye: float = 0.36
    unred_lips: float = 5.0


TRAITS = TraitParams()


class SourceTraits(NamedTuple):
    """What a source photo holds, decided once per photo (`source_traits`)."""

    fringe: bool  # hair over the brows
    glasses: bool
    skin: np.ndarray  # its skin map (float 0/1, at `scale`)
    holes: np.ndarray  # its sizeable non-skin areas (float 0/1, at `scale`)
    scale: float
    mouth_covered: bool  # hair (a moustache, a beard) round its mouth
    eye_light: tuple[float, float]  # each eye's brightest tenth over the skin's lightness
    hidden: tuple[str, ...]  # its features under a hand or another skin-coloured cover


def source_traits(
    run: RunState,
    image: np.ndarray,
    lm,
    scheme,
    work_face: float,
    parsed: Callable | None = None,
    p: TraitParams = TRAITS,
) -> SourceTraits:
    """What a source photo holds, decided once per photo and run on the photo itself at the
    working size, so a video's frames all get the same answer. `parsed(image, lm, scheme)`: a
    face parser's map of the photo's face, or None (then the colour test decides)."""
    cache: dict = run.slot("classical.traits", dict)
    key = (id(image), image.shape)
    if key not in cache:
        fw = scheme.face_width(lm)
        scale = min(1.0, work_face / max(fw, 1.0))
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        small_lm = np.asarray(lm, np.float64) * scale
        small_lab = lab(small)
        model = SkinModel.fit(small_lab, small_lm, scheme)
        skin = model.skin(small_lab)
        face = parsed(small, small_lm, scheme) if parsed is not None else None
        if face is not None:
            # A face parser is installed: what it calls face is the source's skin (a beard,
            # hair or a hand are not, whatever their colour).
            skin = face
        holes = 1 - clean(skin, fw * scale, p.source_hole)
        traits = SourceTraits(
            fringe(skin, small_lm, scheme, p),
            glasses(small_lab[..., 0], small_lm, scheme, p),
            skin.astype(np.float32),
            holes.astype(np.float32),
            scale,
            not surroundings_shown(skin, small_lm, scheme, "mouth_outer", fw * scale),
            eye_light(small_lab, small_lm, scheme, model),
            tuple(hidden_features(small_lab, skin, model, small_lm, scheme, fw * scale, p)),
        )
        cache[key] = (image, traits)  # the image kept: its id stays its own
        while len(cache) > 8:
            cache.pop(next(iter(cache)))
    return cache[key][1]


def skin_fill(image_lab, skin, face_w: float, texture=None, p: TraitParams = TRAITS):
    """What `fill_from_skin` paints holes with: the surrounding `skin` averaged (normalised
    convolution at a tenth of the face width), with `texture`'s fine lightness detail."""
    smooth = masked_blur(image_lab, skin, max(1.0, p.fill_blur * face_w))
    if texture is not None:
        log = np.log(np.maximum(texture[..., 0], 1.0))
        detail = log - cv2.GaussianBlur(log, (0, 0), max(1.0, p.fill_detail * face_w))
        smooth[..., 0] *= np.exp(detail)
    return smooth


def fill_from_skin(
    image_lab, holes, skin, face_w: float, texture=None, p: TraitParams = TRAITS, smooth=None
):
    """`image_lab` with the `holes` painted over by the surrounding `skin` (`skin_fill`, or
    `smooth` where the caller has it already), the seam feathered. With `texture` (an L*a*b*
    image of the same place, the target's), its fine lightness detail is laid over the fill: a
    flat fill read as a smooth patch next to stubble or pores."""
    if not holes.any():
        return image_lab
    if smooth is None:
        smooth = skin_fill(image_lab, skin, face_w, texture, p)
    weight = cv2.GaussianBlur(holes.astype(np.float32), (0, 0), max(0.7, p.fill_feather * face_w))
    weight = np.maximum(weight, holes)[..., None]
    return image_lab * (1 - weight) + smooth * weight


def hidden_features(
    image_lab, skin, model: SkinModel, lm, scheme, face_w: float, p: TraitParams = TRAITS
) -> list[str]:
    """A face's eyes and mouth covered by something skin-coloured (a hand, fingers round a
    microphone; the target's per image, the source's once per photo). An eye shows dark iris
    and lashes and is mostly not skin; under fingers its outline holds skin with nothing dark.
    Lips are redder than the skin round them; fingers and a microphone over them are not. A
    greyscale photo says nothing here."""
    if not model.coloured:
        return []
    hidden = []
    light = image_lab[..., 0]
    for part in ("eye_left", "eye_right", "mouth_outer"):
        inside = region(skin.shape, lm, scheme, (part,), face_w, 0.0) > 0.5
        if inside.sum() < 16:
            continue
        if part == "mouth_outer":
            redness = np.percentile(image_lab[..., 1][inside], 75) - model.median[1]
            covered = redness < -p.unred_lips
        else:
            dark = (model.median[0] - np.percentile(light[inside], 10)) / max(model.median[0], 1.0)
            covered = skin[inside].mean() > p.skin_eye and dark < p.dark_eye
        if covered:
            hidden.append(part)
    return hidden


def eye_light(image_lab, lm, scheme, model: SkinModel) -> tuple[float, float]:
    """Per eye (eye_left, eye_right): the lightness of the brightest tenth inside its outline
    (the eye's whites, the lit lid) over the skin's median lightness; 1.0 for an eye too small
    to tell."""
    out = []
    fw = scheme.face_width(lm)
    for part in ("eye_left", "eye_right"):
        inside = region(image_lab.shape[:2], lm, scheme, (part,), fw, 0.0) > 0.5
        if inside.sum() < 8:
            out.append(1.0)
            continue
        bright = float(np.percentile(image_lab[..., 0][inside], 90))
        out.append(bright / max(float(model.median[0]), 1.0))
    return out[0], out[1]


def fringe(skin: np.ndarray, lm, scheme, p: TraitParams = TRAITS) -> bool:
    """Whether hair covers the brows in this face: most of the band just above and over the
    brows is not skin."""
    brows = scheme.group(lm, "brows").astype(np.float64)
    up = brows.mean(0) - scheme.point(lm, "chin")
    up /= max(np.linalg.norm(up), 1e-6)
    band = np.concatenate([brows, (brows + up * p.fringe_band * scheme.face_width(lm))[::-1]])
    m = np.zeros(skin.shape, np.uint8)
    cv2.fillPoly(m, [np.round(band).astype(np.int32)], 1)
    inside = m > 0
    return bool(inside.sum() > 16 and (~skin[inside]).mean() > p.fringe_share)


def glasses(lightness: np.ndarray, lm, scheme, p: TraitParams = TRAITS) -> bool:
    """Whether a face wears glasses: the smooth skin between the inner eye corners shows thin
    lines (a bridge) -- dark or bright, so rims of any colour count."""
    left = scheme.group(lm, "eye_left").astype(np.float64)
    right = scheme.group(lm, "eye_right").astype(np.float64)
    inner_l = left[np.argmax(left[:, 0])]
    inner_r = right[np.argmin(right[:, 0])]
    fw = scheme.face_width(lm)
    dy = np.array([0.0, 0.06 * fw])
    centre = (inner_l + inner_r) / 2  # the middle 60% of the gap: not the eye corners
    a, b = centre + (inner_l - centre) * 0.6, centre + (inner_r - centre) * 0.6
    quad = np.array([a - dy, b - dy, b + dy, a + dy])
    m = np.zeros(lightness.shape, np.uint8)
    cv2.fillConvexPoly(m, np.round(quad).astype(np.int32), 1)
    if m.sum() < 16:
        return False
    k = max(3, int(round(0.04 * fw)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    lines = np.maximum(
        cv2.morphologyEx(lightness, cv2.MORPH_BLACKHAT, kernel),
        cv2.morphologyEx(lightness, cv2.MORPH_TOPHAT, kernel),
    )
    return bool((lines[m > 0] > p.glasses_line).mean() > p.glasses_share)
