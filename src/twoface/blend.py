"""Colour and lighting transfer and seamless paste-back."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ToneParams:
    """The tone transfer's rules on the features and on a colourless source."""

    # The features (eyes, brows, lips: what is not skin inside the face) keep the source's
    # detail only down to the target's level over the whole face, never below `feature_floor`
    # of it: a sharp, high-contrast photo (a greyscale studio portrait) pasted crisp eyes and
    # black brows on soft, small or blurred faces; at the floor the identity's shapes stay.
    feature_floor: float = 0.5
    # A source whose skin has less than `grey_share` of the target's skin chroma (a greyscale
    # or faded sepia photo on a colour target) takes its colour from the target, place by
    # place (blurred `grey_blur` x face width), fully below `grey_share - grey_ramp`: the
    # offset alone gave a grey or blue-grey face.
    grey_share: float = 0.5
    grey_ramp: float = 0.3
    grey_blur: float = 0.015
    # Skin chroma below this is a greyscale photo's (as twoface.swap.skin.SkinParams.coloured).
    coloured: float = 4.0
    # A source sharper than the target (a studio photo on a blurred, small or moving face) is
    # blurred until its finest detail over the face is no stronger than `sharp_margin` times
    # the target's, trying these blurs (x face width): scaling the detail down alone left
    # crisp-edged eyes and brows on blurry_woman.jpg and lowres_group_4.jpg.
    sharp_margin: float = 1.1
    sharp_blurs: tuple[float, ...] = (0.002, 0.004, 0.006, 0.009, 0.013, 0.018, 0.025, 0.035)
    # Detail bands, as fractions of the face width: fine (pores, sharpness) and mid (folds,
    # creases).
    fine_band: float = 0.008
    mid_band: float = 0.04
    # L* above which lightness is rolled off rather than clipped (highlight_shoulder).
    knee: float = 85.0


TONE = ToneParams()


def masked_blur(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that only averages pixels inside `mask` (normalised convolution); works on
    (H, W) and (H, W, C) images."""
    m = mask.astype(np.float32)
    img = image.astype(np.float32)
    weights = m if img.ndim == 2 else m[..., None]
    num = cv2.GaussianBlur(img * weights, (0, 0), sigma)
    den = np.maximum(cv2.GaussianBlur(m, (0, 0), sigma), 1e-4)
    if num.ndim == 2 and img.ndim == 3:  # OpenCV drops a single channel
        num = num[..., None]
    return num / (den if num.ndim == 2 else den[..., None])


def transfer_shading(
    source: np.ndarray, target: np.ndarray, mask: np.ndarray, sigma: float
) -> np.ndarray:
    """Source detail under the target's low-frequency colour and lighting.

    Each channel of the source is scaled by blur(target) / blur(source), both blurs restricted to
    the face, so skin tone, white balance and the direction of the light come from the target and
    everything finer than `sigma` (eyes, brows, lips, pores) from the source.
    """
    src = source.astype(np.float32) + 1.0
    low_t = masked_blur(target.astype(np.float32) + 1.0, mask, sigma)
    low_s = masked_blur(src, mask, sigma)
    ratio = np.clip(low_t / np.maximum(low_s, 1.0), 0.4, 2.5)
    return np.clip(src * ratio - 1.0, 0, 255)


def match_detail(
    ls: np.ndarray,
    lt: np.ndarray,
    skin: np.ndarray,
    face_w: float,
    creases: np.ndarray | None = None,
    area: np.ndarray | None = None,
) -> np.ndarray:
    """The source's lightness with its fine and mid-scale detail no stronger than the target's.

    In log lightness, per band (finer than ToneParams.fine_band x face width; between that and
    mid_band x face width) the source's detail is scaled by the ratio of the target's to the source's
    standard deviation over skin, clamped to [0.3, 1]: a sharp, high-contrast source photo pasted
    on a soft or small target face (a video frame, a low-resolution photo) is softened to the
    target's look, and the source's expression folds (a smile's) are no deeper than the target's
    own; never sharpened or deepened. A source with less fine detail than the target takes the
    target's fine skin grain for the difference."""
    m = skin.astype(bool)
    if m.sum() < 32:
        return ls

    def split(lum: np.ndarray):
        log = np.log(np.maximum(lum, 1.0))
        s1 = cv2.GaussianBlur(log, (0, 0), max(0.5, TONE.fine_band * face_w))
        s2 = cv2.GaussianBlur(log, (0, 0), max(1.0, TONE.mid_band * face_w))
        return log - s1, s1 - s2, s2

    fine_s, mid_s, base = split(ls)
    fine_t, mid_t, _ = split(lt)

    def gain(band_t: np.ndarray, band_s: np.ndarray, where=m, floor=0.3) -> float:
        return float(np.clip(band_t[where].std() / max(band_s[where].std(), 1e-6), floor, 1.0))

    # Skin: the target's level. Eyes, brows and lips carry the identity: they keep their
    # detail down to the target's level over the whole face `area`, at least half of it.
    w = cv2.GaussianBlur(m.astype(np.float32), (0, 0), max(0.5, TONE.fine_band * face_w))
    f_fine = f_mid = 1.0
    if area is not None and area.sum() >= 32:
        a = area.astype(bool)
        f_fine = gain(fine_t, fine_s, a, TONE.feature_floor)
        f_mid = gain(mid_t, mid_s, a, TONE.feature_floor)
    g_fine = f_fine - w * (f_fine - gain(fine_t, fine_s))
    g_mid = f_mid - w * (f_mid - gain(mid_t, mid_s))
    if creases is not None:
        # Where the source shows far more detail than the target at the same place (a smile's
        # folds and creases on a face that does not smile), its fine and mid detail are scaled
        # down to the target's locally, within the `creases` map (the cheeks): the global gains
        # above leave a detailed target's face with the source's expression lines.
        g_fine = g_fine * (1.0 - creases * (1.0 - local_gain(fine_t, fine_s, face_w)))
        g_mid = g_mid * (1.0 - creases * (1.0 - local_gain(mid_t, mid_s, face_w)))
    out = base + g_fine * fine_s + g_mid * mid_s
    # A source softer than the target (a small photo scaled up) has lost its finest detail;
    # over skin, the target's own grain (pores, stubble, film grain) makes up the missing share
    # of the fine band's energy, so the swap does not look waxy next to the target's texture.
    std_s, std_t = float(fine_s[m].std()), float(fine_t[m].std())
    missing = float(np.sqrt(max(0.0, 1.0 - (std_s / max(std_t, 1e-6)) ** 2)))
    return np.exp(out + missing * w * fine_t)


def local_gain(band_t: np.ndarray, band_s: np.ndarray, face_w: float) -> np.ndarray:
    """Per pixel: the target's local detail energy over the source's in one band (square root,
    Gaussian windows CREASE_WINDOW x face width), clamped to [CREASE_FLOOR, 1]."""
    sigma = max(1.0, CREASE_WINDOW * face_w)
    e_s = cv2.GaussianBlur(band_s * band_s, (0, 0), sigma)
    e_t = cv2.GaussianBlur(band_t * band_t, (0, 0), sigma)
    return np.clip(np.sqrt(e_t / np.maximum(e_s, 1e-8)), CREASE_FLOOR, 1.0)


# Measured on obama.jpg (smiling) on the neutral frontal_neutral_man, kun1_bangs and
# pitch_up_woman: the folds' contrast roughly halves; the dlib distance to the source moves
# by at most 0.03 on the bench pairs (a finer light measure there, 0.04 face widths, also
# flattened the folds but cost up to 0.07).
CREASE_WINDOW, CREASE_FLOOR = 0.03, 0.1


def transfer_tone(
    source_lab: np.ndarray,
    target_lab: np.ndarray,
    skin: np.ndarray,
    sigma: float,
    face_w: float | None = None,
    area: np.ndarray | None = None,
    lips: np.ndarray | None = None,
    brows: np.ndarray | None = None,
    shading: np.ndarray | None = None,
    creases: np.ndarray | None = None,
) -> np.ndarray:
    """Source detail under the target's skin tone and light, as RGB uint8.

    Light moves in luminance only: L* of the source scaled by blur(target L*) / blur(source L*).
    Colour moves as a smooth a*b* offset field: blur(target a*b* - source a*b*). Both blurs
    average skin pixels only (normalised convolution over `skin`), so eyes, brows, lips, beards
    and glasses pull nothing into the field: no rings round the eyes, no blotches, no grey patch
    beside a beard. Features keep their own colour relative to the skin. With `face_w` the
    source's detail is first matched to the target's (`match_detail`).

    Dark pixels take the offset in proportion to their lightness (a colour cast scales with the
    light; a constant shift turned dark brows and lashes blue or green), and near-colourless ones
    (teeth, eye whites) in proportion to their chroma up to half the skin's. With `area` (the face)
    the source's colour variation round the skin tone is scaled down to the target's: a
    greyscale or faded target gets grey or faded eyes and lips, not the source's colours. With
    `lips` (a soft map) the lips take the offset that moves the source's lip colour to the
    target's, not the skin's: lip colour is make-up and skin tone, and the skin's offset made
    pale lips red on a darker, redder face.
    """
    m = skin.astype(np.float32)
    ls, lt = source_lab[..., 0] + 1.0, target_lab[..., 0] + 1.0
    if face_w is not None:
        ls = match_detail(ls, lt, skin, face_w, creases, area)
    # The light is measured on `shading` where given: the skin in shadow too (a side-lit face's
    # dark half measured from its lit skin alone came out bright).
    lit = m if shading is None else shading.astype(np.float32)
    low_t = masked_blur(lt, lit, sigma)
    low_s = masked_blur(ls, lit, sigma)
    # The local ratio is bounded round the faces' overall ratio, not round 1: a bright source
    # on a face in the dark (hamilton_clip.mp4's audience, L* 10 against 65) needs 0.15, and
    # clamped at 0.4 it came out as a white mask once the seam no longer pinned it.
    inside = lit > 0.5
    overall = 1.0
    if inside.sum() >= 16:
        overall = float(np.median(lt[inside]) / max(float(np.median(ls[inside])), 1.0))
    ratio = low_t / np.maximum(low_s, 1.0)
    light = overall * np.clip(ratio / max(overall, 1e-3), 0.4, 2.5)
    src_ab, tgt_ab = source_lab[..., 1:], target_lab[..., 1:]
    # The blurred skin colour of each face (normalised convolution is linear: their difference
    # is the blur of the difference).
    tone_s = masked_blur(src_ab, m, sigma * 2)
    tone_t = masked_blur(tgt_ab, m, sigma * 2)
    offset = tone_t - tone_s
    offset *= np.clip(ls / np.maximum(low_s, 1.0), 0.0, 1.0)[..., None]
    # Near-colourless pixels (teeth, eye whites, grey hair) take less of it too: the offset
    # moves a skin tone, and moved whole it turned the source's teeth blue or pink.
    skin_ab = np.linalg.norm(tone_s, axis=-1)
    offset *= np.clip(np.linalg.norm(src_ab, axis=-1) / np.maximum(0.5 * skin_ab, 1.0), 0.0, 1.0)[
        ..., None
    ]
    for part in (lips, brows):
        # Lips (make-up and skin tone) and brows (hair colour) take the offset that moves the
        # source's part's colour to the target's: the skin's offset made pale lips red on a
        # darker, redder face, and a dark source's grey brows, lit up to a fair target's
        # light, read blue-grey under a redhead's (closed_eyes_woman with obama.jpg: brow a*b*
        # 2.9, 3.8 against the target's 13.9, 18.0).
        if part is None:
            continue
        inside = part > 0.5
        if inside.sum() >= 16:
            part_offset = (tgt_ab[inside] - src_ab[inside]).mean(0)
            w = part.astype(np.float32)[..., None]
            offset = offset * (1.0 - w) + part_offset * w
    out = np.empty_like(source_lab)
    out[..., 0] = highlight_shoulder(ls * light - 1.0)
    out[..., 1:] = src_ab + offset
    if area is not None and area.sum() >= 32:
        gain = colourfulness(tgt_ab, area) / max(colourfulness(out[..., 1:], area), 1e-3)
        if gain < 1.0:
            out[..., 1:] = tone_t + max(gain, 0.0) * (out[..., 1:] - tone_t)
    grey = greyness(src_ab, tgt_ab, skin)
    if grey > 0 and face_w is not None:
        # A greyscale or faded source on a colour target: the colour is the target's.
        local = cv2.GaussianBlur(tgt_ab, (0, 0), max(0.7, TONE.grey_blur * face_w))
        out[..., 1:] = (1 - grey) * out[..., 1:] + grey * local
    rgb = cv2.cvtColor(out, cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def fine_energy(lightness: np.ndarray, area: np.ndarray, face_w: float) -> float:
    """The finest detail's strength (std of log L* finer than ToneParams.fine_band face widths)
    in area."""
    log = np.log(np.maximum(lightness, 1.0))
    fine = log - cv2.GaussianBlur(log, (0, 0), max(0.5, TONE.fine_band * face_w))
    return float(fine[area].std())


def match_sharpness(
    source_lab: np.ndarray, target_lab: np.ndarray, area: np.ndarray, face_w: float, p=TONE
) -> np.ndarray:
    """`source_lab` blurred as little as makes its finest detail over `area` no stronger than
    the target's (times `sharp_margin`); unchanged where it is not sharper."""
    a = area.astype(bool)
    if a.sum() < 32:
        return source_lab
    goal = p.sharp_margin * fine_energy(target_lab[..., 0] + 1.0, a, face_w)
    if fine_energy(source_lab[..., 0] + 1.0, a, face_w) <= goal:
        return source_lab
    out = source_lab
    for b in p.sharp_blurs:
        out = cv2.GaussianBlur(source_lab, (0, 0), max(0.3, b * face_w))
        if fine_energy(out[..., 0] + 1.0, a, face_w) <= goal:
            break
    return out


def greyness(src_ab: np.ndarray, tgt_ab: np.ndarray, skin: np.ndarray, p=TONE) -> float:
    """0..1: how far the source's skin lacks the colour of the target's (1: a greyscale photo
    on a colour one). 0 on a greyscale target."""
    m = skin.astype(bool)
    if m.sum() < 16:
        return 0.0
    chroma_t = float(np.linalg.norm(np.median(tgt_ab[m], axis=0)))
    if chroma_t < p.coloured:
        return 0.0
    chroma_s = float(np.linalg.norm(np.median(src_ab[m], axis=0)))
    share = chroma_s / chroma_t
    return float(np.clip((p.grey_share - share) / p.grey_ramp, 0.0, 1.0))


def highlight_shoulder(lightness: np.ndarray) -> np.ndarray:
    """L* with values above ToneParams.knee compressed smoothly towards 100 instead of clipped:
    a dark source's own shine, scaled up to a bright target's light, came out as flat white patches."""
    knee = TONE.knee
    room = 100.0 - knee
    over = np.maximum(lightness - knee, 0.0)
    rolled = knee + room * (1.0 - np.exp(-over / room))
    return np.clip(np.where(lightness > knee, rolled, lightness), 0.0, 100.0)


def colourfulness(ab: np.ndarray, area: np.ndarray) -> float:
    """How far the a*b* values inside `area` spread round their median (root mean square, plus
    one unit, so JPEG noise on a greyscale photo does not count as colour)."""
    pixels = ab[area.astype(bool)]
    d = pixels - np.median(pixels, axis=0)
    return float(np.sqrt((d**2).sum(1).mean())) + 1.0


def membrane_paste(
    source: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    trusted: np.ndarray,
    reach: float | None = None,
) -> np.ndarray:
    """`source` (RGB uint8) with a smooth offset added inside `mask` that makes it meet `target`
    along the mask's edge -- only along the `trusted` part of the edge (where both images show
    skin), interpolated smoothly (push-pull over an image pyramid) everywhere else.

    A Poisson clone adds a harmonic offset pinned to the whole edge; where the edge runs along
    the target's hair, a beard or the background, or the source's hair or collar, that offset
    pulled the whole face towards their colour. With `reach` (pixels) the offset fades to
    nothing that far inside the mask: it mends the seam and leaves the face's tone to the tone
    transfer. Pixels outside `mask` are the target's."""
    inside = mask > 0
    if inside.sum() < 16:
        return target.copy()
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    edge = inside & ~(cv2.erode(inside.astype(np.uint8), k) > 0)
    known = (edge & trusted).astype(np.float32)
    if known.sum() < 8:
        known = edge.astype(np.float32)
    diff = target.astype(np.float32) - source.astype(np.float32)
    offset = push_pull(diff * known[..., None], known)
    if reach is not None:
        depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3)
        offset *= np.clip(1.0 - depth / max(reach, 1.0), 0.0, 1.0)[..., None]
    out = np.where(inside[..., None], source.astype(np.float32) + offset, target.astype(np.float32))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def push_pull(weighted: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A smooth field through scattered values (`weighted` = values x `weight`, 0 where
    unknown): known pixels keep their value, the gaps are filled from ever coarser averages."""
    levels = [(weighted, weight)]
    while min(levels[-1][1].shape[:2]) > 4:
        v, w = levels[-1]
        levels.append((cv2.pyrDown(v), cv2.pyrDown(w)))
    v, w = levels[-1]
    field = v / np.maximum(w, 1e-6)[..., None]
    for v, w in reversed(levels[:-1]):
        up = cv2.pyrUp(field, dstsize=(w.shape[1], w.shape[0]))
        sure = np.clip(w * 4.0, 0.0, 1.0)[..., None]
        field = sure * (v / np.maximum(w, 1e-6)[..., None]) + (1.0 - sure) * up
    return field


def alpha_composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None]
    out = fg.astype(np.float32) * a + bg.astype(np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
