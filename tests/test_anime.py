"""Anime faces: the cascade on the shared grid, the PyTorch ports on official-layout checkpoints
with random weights, decoding against known answers, the swap, and missing-model messages."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED, import_model, shared_model

from twoface.cli import main

ANIME = SHARED / "data" / "anime" / "anime_group.jpg"
TILE = 512  # anime_group.jpg is a 6x6 grid of 512 px tiles


@pytest.fixture(scope="module")
def grid():
    if not ANIME.is_file():
        pytest.skip(f"{ANIME} not found (set TWOFACE_SHARED)")
    from twoface.io.image import read_image

    return read_image(ANIME).rgb


@pytest.fixture(scope="module")
def cascade_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("anime_models")
    assert import_model(home, shared_model("lbpcascade_animeface.xml"), "anime_lbpcascade") == 0
    return home


def _tile(box) -> tuple[int, int] | None:
    """The grid tile a box lies in, or None when it straddles tiles (a false positive)."""
    x1, y1, x2, y2 = box
    a, b = (int(x1 // TILE), int(y1 // TILE)), (int((x2 - 1) // TILE), int((y2 - 1) // TILE))
    return a if a == b else None


@pytest.mark.slow
def test_cascade_finds_the_grid_faces(grid, cascade_home):
    from twoface.anime import create_anime_detector
    from twoface.zoo.store import ModelStore

    faces = create_anime_detector("anime_lbpcascade", ModelStore(cascade_home)).detect([grid])[0]
    tiles = [_tile(f.box) for f in faces]
    inside = [t for t in tiles if t is not None]
    assert len(inside) >= 30, len(inside)
    assert len(faces) - len(inside) <= 3
    assert len(set(inside)) >= 30  # spread over the grid, not many hits on a few tiles


@pytest.mark.slow
def test_cli_detect_anime_reports_boxes_and_why_no_points(grid, cascade_home, capsys):
    code = main(["detect", "--anime", str(ANIME), "--models-dir", str(cascade_home), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["anime"] and len(report["faces"]) >= 30
    assert "landmarks" not in report["faces"][0]
    assert report["note"].startswith("no landmarks: model anime_hrnetv2 is not in")
    assert "twoface models download anime_hrnetv2" in report["note"]


def test_missing_anime_model_gives_one_line_with_the_fix(tmp_path, capsys):
    img = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(img)
    code = main(["detect", "--anime", str(img), "--models-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 4 and err.count("\n") == 1
    assert (
        "model anime_lbpcascade is not in" in err
        and "twoface models download anime_lbpcascade" in err
    )


@pytest.mark.slow
def test_anime_swap_between_two_tiles_changes_only_the_face(grid, cascade_home, tmp_path):
    from twoface import Swapper
    from twoface.io.image import read_image

    faces = Swapper(models_dir=cascade_home).anime([grid])[0]
    by_tile = {}
    for f in faces:
        t = _tile(f.box)
        if t is not None:
            by_tile.setdefault(t, []).append(f)
    singles = sorted(t for t, fs in by_tile.items() if len(fs) == 1)
    (sx, sy), (tx, ty) = singles[0], singles[1]
    source = grid[sy * TILE : (sy + 1) * TILE, sx * TILE : (sx + 1) * TILE].copy()
    target = grid[ty * TILE : (ty + 1) * TILE, tx * TILE : (tx + 1) * TILE].copy()
    s_path, t_path, out = tmp_path / "s.png", tmp_path / "t.png", tmp_path / "o.png"
    from PIL import Image

    Image.fromarray(source).save(s_path)
    Image.fromarray(target).save(t_path)
    swapped = Swapper(models_dir=cascade_home).swap_image(s_path, t_path, anime=True).faces_swapped
    code = main(
        [
            "swap",
            "-s",
            str(s_path),
            "-t",
            str(t_path),
            "-o",
            str(out),
            "--anime",
            "--models-dir",
            str(cascade_home),
        ]
    )
    assert code == 0
    result = read_image(out).rgb
    assert len(swapped) == 1
    box = swapped[0].box
    diff = np.abs(result.astype(int) - target.astype(int)).max(2)
    inside = np.zeros_like(diff, bool)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    inside[y1:y2, x1:x2] = True
    assert (diff[inside] > 20).mean() > 0.2  # the face changed
    assert diff[~inside].max() == 0  # the rest of the tile is untouched
    assert main(["inspect", str(out)]) == 0


def test_anime_swap_with_landmarks_warps_inside_the_outline():
    from twoface.anime.layout import face_outline
    from twoface.anime.swap import AnimeEngine
    from twoface.swap.base import SourceFace, SourceIdentity, SwapJob
    from twoface.types import Face

    rng = np.random.default_rng(0)
    src_img = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    tgt_img = np.full((200, 200, 3), 200, np.uint8)

    def points(cx, cy, s):
        t = np.linspace(np.pi * 0.1, np.pi * 0.9, 5)
        contour = np.stack([cx - s * np.cos(t), cy + s * np.sin(t)], 1)
        inner = np.stack(
            [
                cx + s * 0.6 * np.cos(np.linspace(0, 6, 23)),
                cy - s * 0.3 + s * 0.4 * np.sin(np.linspace(0, 6, 23)),
            ],
            1,
        )
        return np.concatenate([contour, inner]).astype(np.float32)

    sp, tp = points(100, 90, 50), points(110, 100, 40)
    src = Face(
        box=np.array([50, 40, 150, 150], np.float32),
        score=1,
        kps=None,
        landmarks=sp,
        landmark_scheme="anime28",
    )
    tgt = Face(
        box=np.array([70, 60, 150, 150], np.float32),
        score=1,
        kps=None,
        landmarks=tp,
        landmark_scheme="anime28",
    )
    ident = SourceIdentity((SourceFace(src_img, src),))
    out = AnimeEngine(palette=False).swap([tgt_img], [SwapJob(0, tgt, ident)])[0]
    import cv2

    mask = np.zeros((200, 200), np.uint8)
    cv2.fillPoly(mask, [np.round(face_outline(tp)).astype(np.int32)], 255)
    changed = np.abs(out.astype(int) - tgt_img.astype(int)).max(2) > 0
    assert changed[mask > 0].mean() > 0.8 and not changed[mask == 0].any()


# -- the PyTorch ports --------------------------------------------------------------------------------
torch = pytest.importorskip("torch")


def _random_checkpoint(net, path, fmt="pth"):
    torch.manual_seed(0)
    sd = {
        k: (torch.randn_like(v) * 0.05 if v.is_floating_point() else v)
        for k, v in net.state_dict().items()
    }
    for k in sd:
        if k.endswith("running_var"):
            sd[k] = sd[k].abs() + 1
    if fmt == "pth":
        torch.save({"meta": {"mmdet_version": "2.x"}, "state_dict": sd}, path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))


@pytest.mark.slow
def test_yolov3_official_layout_loads_runs_and_decodes_known_boxes(tmp_path):
    from twoface.anime.yolov3 import ANCHORS, STRIDES, AnimeYOLOv3, YoloAnimeDetector, decode
    from twoface.errors import ModelError

    path = tmp_path / "mmdet_anime-face_yolov3.pth"
    _random_checkpoint(AnimeYOLOv3(), path)
    det = YoloAnimeDetector(path, device="cpu")
    with torch.inference_mode():
        maps = det.net(torch.zeros(1, 3, 608, 416))
    assert [tuple(m.shape) for m in maps] == [(1, 18, 19, 13), (1, 18, 38, 26), (1, 18, 76, 52)]
    assert isinstance(det.detect([np.zeros((300, 200, 3), np.uint8)])[0], list)

    # Synthetic head outputs encoding three known boxes.
    preds = [np.full((18, 608 // s, 608 // s), -20.0, np.float32) for s in STRIDES]
    want = [
        (0, 1, (300.0, 220.0, 140.0, 100.0)),
        (1, 0, (170.0, 325.0, 28.0, 70.0)),
        (2, 2, (484.0, 324.0, 40.0, 30.0)),
    ]
    for level, a, (cx, cy, w, h) in want:
        s = STRIDES[level]
        gx, gy = int(cx // s), int(cy // s)
        aw, ah = ANCHORS[level][a]
        fx, fy = (cx - (gx + 0.5) * s) / s + 0.5, (cy - (gy + 0.5) * s) / s + 0.5
        logit = lambda p: np.log(p / (1 - p))  # noqa: E731
        preds[level][a * 6 : a * 6 + 6, gy, gx] = [
            logit(fx),
            logit(fy),
            np.log(w / aw),
            np.log(h / ah),
            8.0,
            8.0,
        ]
    faces = decode(preds, scale=0.5)
    got = sorted(tuple(np.round(f.box * 0.5, 3)) for f in faces)
    expect = sorted((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2) for *_, (cx, cy, w, h) in want)
    assert len(got) == 3 and np.allclose(got, expect, atol=1e-3)

    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(3)}}, bad)
    with pytest.raises(ModelError, match="not the anime YOLOv3 checkpoint"):
        YoloAnimeDetector(bad, device="cpu")


@pytest.mark.slow
def test_faster_rcnn_official_layout_loads_and_runs(tmp_path):
    from twoface.anime.faster_rcnn import AnimeFasterRCNN, FasterRcnnAnimeDetector, roi_align

    path = tmp_path / "mmdet_anime-face_faster-rcnn.safetensors"
    _random_checkpoint(AnimeFasterRCNN(), path, fmt="safetensors")
    det = FasterRcnnAnimeDetector(path, device="cpu")
    faces = det.detect([np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)])[
        0
    ]
    assert isinstance(faces, list) and len(faces) <= 100
    assert all(0 <= f.box[0] <= f.box[2] <= 320 and 0 <= f.box[1] <= f.box[3] <= 240 for f in faces)
    # RoIAlign (aligned, adaptive sampling) on a ramp equals the mean x of each bin's samples.
    feat = torch.arange(30, dtype=torch.float32).repeat(20, 1)[None]
    out = roi_align(feat, torch.tensor([[4.0, 4.0, 18.0, 12.0]]), 1.0)
    assert torch.allclose(out[0, 0, 0], torch.arange(7) * 2 + 4.5)


def test_hrnetv2_official_layout_and_heatmap_decoding(tmp_path):
    from twoface.anime.hrnet import AnimeHRNet, AnimeLandmarker, decode_heatmaps
    from twoface.types import Face

    path = tmp_path / "mmpose_anime-face_hrnetv2.pth"
    _random_checkpoint(AnimeHRNet(), path)
    lm = AnimeLandmarker(path, device="cpu")
    frame = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    faces = [
        Face(box=np.array([50, 40, 250, 260], np.float32), score=1, kps=None),
        Face(box=np.array([260, 20, 380, 150], np.float32), score=1, kps=None),
    ]
    out = lm([frame], [faces])[0]
    assert [f.landmarks.shape for f in out] == [(28, 2), (28, 2)] and out[
        0
    ].landmark_scheme == "anime28"

    rng = np.random.default_rng(0)
    pts = rng.uniform(4, 59, (28, 2))
    ys, xs = np.mgrid[:64, :64]
    hm = np.exp(
        -((xs[None] - pts[:, 0, None, None]) ** 2 + (ys[None] - pts[:, 1, None, None]) ** 2) / 8
    ).astype(np.float32)
    coords, scores = decode_heatmaps(hm)
    assert np.abs(coords - pts).max() < 0.05 and scores.min() > 0.8
    assert np.abs(decode_heatmaps(hm, dark=False)[0] - pts).max() > 0.2  # DARK is what refines


def test_cli_detect_anime_prints_28_points_with_the_hrnet_file(
    grid, cascade_home, tmp_path, capsys
):
    import shutil

    from twoface.anime.hrnet import AnimeHRNet

    home = tmp_path / "home"
    shutil.copytree(cascade_home, home)
    _random_checkpoint(AnimeHRNet(), home / "models" / "mmpose_anime-face_hrnetv2.pth")
    tile = tmp_path / "tile.png"
    from PIL import Image

    Image.fromarray(grid[:TILE, TILE : 2 * TILE]).save(tile)
    assert (
        main(
            ["detect", "--anime", str(tile), "--models-dir", str(home), "--json", "--device", "cpu"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["faces"] and "note" not in report
    assert all(
        len(f["landmarks"]) == 28 and f["landmark_scheme"] == "anime28" for f in report["faces"]
    )
