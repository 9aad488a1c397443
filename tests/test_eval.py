"""`twoface eval` and the quality reports: measures with known answers (output = target, a planted
hard-edged patch, a planted colour blotch, a clip with five frames left unswapped, a head of known
pose), the command line's contract, `swap --report` / `batch --report`, and the HTML report in
Chromium."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import rgb

from twoface.cli import main
from twoface.evaluate import Evaluator, write_report
from twoface.evaluate import measures as m

sys.path.insert(0, str(Path(__file__).parent))
from videotools import face_frame, write_clip  # noqa: E402

UNSWAPPED = [3, 4, 5, 9, 12]  # the frames of the test clip left as the target


@pytest.fixture(scope="module")
def ev():
    return Evaluator.create(swapper="classical")


@pytest.fixture(scope="module")
def small(photos, tmp_path_factory):
    """obama.jpg at half size (the target), biden.jpg (the source) and a classical swap of one
    onto the other, as files."""
    from twoface import Swapper

    folder = tmp_path_factory.mktemp("eval")
    target = cv2.resize(rgb(photos / "obama.jpg"), (455, 568), interpolation=cv2.INTER_AREA)
    tpath = folder / "obama_small.png"
    cv2.imwrite(str(tpath), cv2.cvtColor(target, cv2.COLOR_RGB2BGR))
    swapper = Swapper(swapper="classical")
    out = folder / "swapped.png"
    swapper.swap_image(str(photos / "biden.jpg"), str(tpath), output=str(out))
    return {
        "source": photos / "biden.jpg",
        "target": tpath,
        "output": out,
        "target_rgb": target,
        "swapper": swapper,
        "folder": folder,
    }


def _face(ev, image):
    return ev.analyzer.analyse([image])[0][0]


# -- known answers --------------------------------------------------------------------------------
def test_output_equal_to_target_is_not_swapped_and_keeps_identity(ev, photos):
    target = photos / "two_people.jpg"
    e = ev.image([photos / "biden.jpg"], target, target)
    assert len(e.faces) == 2
    for f in e.faces:
        assert not f.swapped and f.changed == 0.0
        assert f.identity.to_source == f.identity.target_to_source  # unchanged
        assert f.identity.to_target == 0.0
        assert f.landmark_shift == 0.0 and f.pose_change == pytest.approx(0.0, abs=1e-3)
        assert f.seam is None and f.colour_anomaly is None
    assert [f.identity.recognised_as for f in e.faces] == ["target", "target"]
    assert e.flags() == ["no face was swapped: the output's 2 face(s) are the target's"]
    s = e.summary()
    assert s["faces_swapped"] == 0 and s["not_swapped"] == 1.0


def test_a_face_the_swap_chose_but_left_unchanged_is_flagged_alone(ev, photos):
    target = photos / "two_people.jpg"
    faces = ev.analyzer.analyse([rgb(target)])[0]
    chosen = faces[1].box  # the swap says it chose face 1; the output is the target
    e = ev.image([photos / "biden.jpg"], target, target, selected=[chosen])
    assert [f.selected for f in e.faces] == [False, True]
    assert e.flags() == ["no face was swapped: the output's 2 face(s) are the target's"]
    assert e.focus() == [e.faces[1]]  # the summary is of the chosen face
    assert e.to_json()["faces"][1]["selected"] is True
    assert e.crops[0].who == "face 1" and e.crops[0].why.startswith("selected, not swapped;")


def test_a_chosen_face_left_unswapped_beside_a_swapped_one_is_flagged(ev, small, photos):
    target = rgb(photos / "two_people.jpg")
    faces = ev.analyzer.analyse([target])[0]
    source = photos / "elon_musk.jpg"
    out = small["swapper"].swap_image(str(source), target).image  # the largest face only
    boxes = [f.box for f in faces]
    e = ev.image([source], target, out, selected=boxes)  # as if --many
    swapped = [f.swapped for f in e.faces]
    assert sorted(swapped) == [False, True]
    left = swapped.index(False)
    flag = [x for x in e.flags() if x.startswith(f"face {left}: chosen by the swap")]
    assert len(flag) == 1 and "not swapped" in flag[0]
    assert e.summary()["not_swapped"] == 0.5


def test_second_difference_has_known_answers():
    rng = np.random.default_rng(0)
    lm = np.array(
        [[30 + 40 * np.cos(a), 50 + 45 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 68)],
        np.float64,
    )
    still = rng.integers(40, 200, (120, 120, 3)).astype(np.uint8)
    flat = still.astype(np.int16)
    assert m.second_difference((still, still, still), (lm, lm, lm)) == pytest.approx(0.0)
    # a steady fade (+4 levels a frame) has no second difference; +8 in the middle frame alone
    # gives |x + 0 - 2 (x + 8)| = 16 grey levels wherever nothing clips
    fade = [np.clip(flat + 4 * k, 0, 255).astype(np.uint8) for k in range(3)]
    assert m.second_difference(tuple(fade), (lm, lm, lm)) == pytest.approx(0.0, abs=0.6)
    blink = np.clip(flat + 8, 0, 255).astype(np.uint8)
    assert m.second_difference((still, blink, still), (lm, lm, lm)) == pytest.approx(16, abs=0.6)


def test_a_classical_swap_is_measured_and_moves_identity(ev, small):
    e = ev.image([small["source"]], small["target"], small["output"])
    (f,) = e.faces
    assert f.swapped and 0.2 < f.changed < 0.9
    i = f.identity
    assert i.to_source < i.target_to_source - 0.1  # closer to biden than obama was
    assert i.to_target > 0.3
    assert f.landmark_shift < m.PARAMS.good_landmark_shift
    assert f.seam < m.PARAMS.good_seam and f.colour_anomaly < m.PARAMS.good_colour_anomaly
    data = e.to_json()
    assert data["kind"] == "image" and data["faces"][0]["swapped"] is True
    assert data["encoder"]["name"] == "dlib128" and data["encoder"]["same_person"] == 0.6


def test_a_hard_edged_patch_raises_the_seam(ev, small):
    target = small["target_rgb"]
    face = _face(ev, target)
    lm = face.landmarks
    (x1, y1), (x2, y2) = lm.min(0).astype(int), lm.max(0).astype(int)
    w, h = x2 - x1, y2 - y1
    patch = np.zeros(target.shape[:2], np.float32)
    patch[y1 + h // 4 : y2 - h // 5, x1 + w // 6 : x2 - w // 6] = 1.0
    brighter = np.clip(target.astype(np.float32) * 1.35 + 10, 0, 255)

    def paste(mask):
        out = target * (1 - mask[..., None]) + brighter * mask[..., None]
        return np.round(out).astype(np.uint8)

    hard = paste(patch)
    soft = paste(cv2.GaussianBlur(patch, (0, 0), 0.12 * w))
    s_hard, s_soft = m.border_seam(hard, target, lm), m.border_seam(soft, target, lm)
    assert s_hard > m.PARAMS.good_seam > s_soft
    assert s_hard > 3 * s_soft
    assert m.border_seam(target, target, lm) == 0.0
    e = ev.image([small["source"]], target, hard)
    assert e.faces[0].swapped and any("seam" in line for line in e.flags())


def test_a_colour_blotch_raises_the_anomaly_and_an_even_tint_does_not(ev, small):
    target = small["target_rgb"]
    lm = _face(ev, target).landmarks
    cheek = lm[[2, 3, 31, 40]].mean(0)  # image-left cheek, from the jaw, nose and eye
    yy, xx = np.mgrid[: target.shape[0], : target.shape[1]]
    width = m.interocular(lm)
    blob = np.exp(-((xx - cheek[0]) ** 2 + (yy - cheek[1]) ** 2) / (2 * (0.3 * width) ** 2))
    blotched = target.astype(np.float32)
    blotched[..., 1] += 45 * blob  # green
    blotched[..., 0] -= 30 * blob
    blotched = np.clip(blotched, 0, 255).astype(np.uint8)
    tinted = np.clip(target.astype(np.int16) + np.array([12, 0, -8]), 0, 255).astype(np.uint8)
    a_blotch = m.colour_anomaly(blotched, target, lm)
    a_tint = m.colour_anomaly(tinted, target, lm)
    assert a_blotch > m.PARAMS.good_colour_anomaly
    assert a_tint < 3.0 < a_blotch / 5
    e = ev.image([small["source"]], target, blotched)
    assert any("colour anomaly" in line for line in e.flags())


def _project(yaw: float, pitch: float, roll: float, size=(480, 640)) -> np.ndarray:
    """68 landmarks whose pose points are the generic head turned by (yaw, pitch, roll)."""
    rx = cv2.Rodrigues(np.array([np.radians(pitch), 0.0, 0.0]))[0]
    ry = cv2.Rodrigues(np.array([0.0, np.radians(yaw), 0.0]))[0]
    rz = cv2.Rodrigues(np.array([0.0, 0.0, np.radians(roll)]))[0]
    cam = m._camera(size)
    p = (cam @ ((m.POSE_MODEL @ (rz @ ry @ rx).T) + [0.0, 0.0, 3000.0]).T).T
    p = p[:, :2] / p[:, 2:]
    nose, chin, eye_l, eye_r, mouth_l, mouth_r = p
    lm = np.zeros((68, 2))
    lm[0:17], lm[17:27], lm[27:36] = chin, (eye_l + eye_r) / 2, nose
    lm[36:42] = eye_l + 0.2 * (eye_r - eye_l)  # the eye's other points lie inwards
    lm[42:48] = eye_r + 0.2 * (eye_l - eye_r)
    lm[36], lm[45] = eye_l, eye_r  # the outer corners
    lm[30], lm[8], lm[48:68], lm[48], lm[54] = nose, chin, (mouth_l + mouth_r) / 2, mouth_l, mouth_r
    return lm


def test_head_pose_from_landmarks_recovers_a_known_rotation():
    for yaw, pitch, roll in [(0, 0, 0), (25, 0, 0), (0, -15, 0), (0, 0, 30), (30, 10, -20)]:
        pose = m.head_pose(_project(yaw, pitch, roll), (480, 640))
        assert pose["yaw"] == pytest.approx(yaw, abs=0.5)
        assert pose["pitch"] == pytest.approx(pitch, abs=0.5)
        assert pose["roll"] == pytest.approx(roll, abs=0.5)
    change = m.pose_change(_project(0, 0, 0), _project(20, 0, 0), (480, 640))
    assert change == pytest.approx(20.0, abs=0.5)


def test_identity_is_judged_by_an_encoder_the_swap_did_not_use(tmp_path):
    from twoface.evaluate import choose_encoder
    from twoface.zoo.catalogue import CATALOGUE
    from twoface.zoo.store import ModelStore

    store = ModelStore(tmp_path)
    assert choose_encoder(store, "auto", "classical") == (
        "dlib128",
        "shipped (arcface_w600k_r50 is not installed)",
    )
    path = store.path(CATALOGUE["arcface_w600k_r50"])  # present: only its presence is read
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert choose_encoder(store, "auto", "classical")[0] == "arcface_w600k_r50"
    assert choose_encoder(store, "auto", "inswapper_128") == (
        "dlib128",
        "the swap (inswapper_128) used arcface_w600k_r50; judged by another encoder",
    )
    assert choose_encoder(store, "auto", None)[0] == "dlib128"
    forced = choose_encoder(store, "arcface_w600k_r50", "inswapper_128")
    assert forced[1].endswith("so identity may read flattering")


def test_recognised_as_reads_the_encoders_scale():
    assert m.recognised_as(0.45, 0.7, 0.6) == "source"
    assert m.recognised_as(0.55, 0.5, 0.6) == "target"
    assert m.recognised_as(0.65, 0.7, 0.6) == "neither"


# -- video ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip(small):
    """A 16-frame clip of the small target moving right, and its output: the swap in every
    frame but UNSWAPPED, where the target is left (both H.264, CRF 18)."""
    folder = small["folder"]
    frame = face_frame(small["target_rgb"], size=(200, 250))
    swapped = small["swapper"].swap_image(str(small["source"]), frame).image
    target = [np.roll(frame, 2 * i, axis=1) for i in range(16)]
    output = [np.roll(frame if i in UNSWAPPED else swapped, 2 * i, axis=1) for i in range(16)]
    write_clip(folder / "t.mp4", target, options={"crf": "18"})
    write_clip(folder / "o.mp4", output, options={"crf": "18"})
    return {**small, "t": folder / "t.mp4", "o": folder / "o.mp4"}


@pytest.fixture(scope="module")
def clip_eval(ev, clip):
    return ev.video([clip["source"]], clip["t"], clip["o"])


def test_a_clip_with_five_frames_left_unswapped_flags_exactly_those(clip_eval):
    e = clip_eval
    assert e.frames == 16 and len(e.people) == 1
    (person,) = e.people
    assert person.selected and person.swapped_frames == 11
    data = e.to_json()["people"][0]
    assert data["not_swapped_frames"] == UNSWAPPED
    assert data["not_swapped"] == [
        {"start": 3, "end": 5, "start_s": 0.3, "end_s": 0.5},
        {"start": 9, "end": 9, "start_s": 0.9, "end_s": 0.9},
        {"start": 12, "end": 12, "start_s": 1.2, "end_s": 1.2},
    ]
    # Identity: the swapped frames are nearer the source than the frames left as the target.
    d = data["series"]["to_source"]
    assert max(d[k] for k in range(16) if k not in UNSWAPPED) < min(d[k] for k in UNSWAPPED)
    flags = e.flags()
    assert flags[0] == (
        "person 0: not swapped in 5 of 16 frames: 3-5 (0.30-0.50 s), 9 (0.90 s), 12 (1.20 s)"
    )
    # The frames left as the target are exactly the identity drops, with their timestamps.
    same = e.encoder.same_person
    drops = [k for k in range(16) if d[k] > same]
    assert drops == UNSWAPPED
    assert flags[1] == (
        "person 0: not recognised as the source in 5 of 16 measured frames: "
        "3-5 (0.30-0.50 s), 9 (0.90 s), 12 (1.20 s)"
    )
    # Switching the swap on and off is flicker the input does not have.
    s = e.summary()
    assert s["flicker_output"] > 2 * s["flicker_input"]
    assert s["frames_not_swapped"] == 5 and s["not_swapped"] == pytest.approx(5 / 16, abs=1e-3)
    assert any(c.why.startswith("not swapped") for c in e.crops)


def test_a_clip_evaluated_against_itself_is_not_swapped(ev, clip):
    e = ev.video([clip["source"]], clip["t"], clip["t"])
    assert not any(p.selected for p in e.people)
    assert e.flags() == ["no person was swapped: every face of the output is the target's"]
    # told that every face was to be swapped (--many), the person is flagged frame by frame
    e = ev.video([clip["source"]], clip["t"], clip["t"], expect_all=True)
    assert [p.selected for p in e.people] == [True]
    assert e.flags()[0] == "person 0: not swapped in 16 of 16 frames: 0-15 (0.00-1.50 s)"


# -- command line ---------------------------------------------------------------------------------
def test_cli_eval_json_and_html(small, tmp_path, capsys):
    html = tmp_path / "r.html"
    argv = ["eval", "-s", str(small["source"]), "-t", str(small["target"])]
    argv += ["-o", str(small["output"]), "--json", "--html", str(html), "--swapper", "classical"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["faces"][0]["swapped"] is True
    assert data["encoder"]["why"].startswith("shipped")
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "Content-Security-Policy" in page
    assert page.count('<img alt="target" src="data:image/jpeg;base64,') == 1
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    # the text summary of an output that is its target
    tgt = str(small["target"])
    assert main(["eval", "-s", str(small["source"]), "-t", tgt, "-o", tgt]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"{tgt}: 0 of 1 face(s) swapped; identity by dlib128 Euclidean distance; same person "
        "within 0.6"
    )
    assert lines[1].startswith("  face 0: NOT SWAPPED; to source ")
    assert "recognised as target; landmark shift 0.000; pose change 0.0 deg" in lines[1]
    assert lines[2:] == [
        "flags:",
        "  - no face was swapped: the output's 1 face(s) are the target's",
    ]


def test_cli_eval_refuses_bad_input_in_one_line(small, tmp_path, capsys):
    src, tgt = str(small["source"]), str(small["target"])
    # an output of another size than its target
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), np.zeros((100, 120, 3), np.uint8))
    assert main(["eval", "-s", src, "-t", tgt, "-o", str(other)]) == 3
    err = capsys.readouterr().err.strip()
    assert err == (
        f"twoface: error: {other}: 120x100 pixels but the target {tgt} is 455x568; an output "
        "is evaluated against the target it was made from"
    )
    # the report would overwrite an input: refused before any work, nothing written
    before = small["output"].read_bytes()
    out = str(small["output"])
    assert main(["eval", "-s", src, "-t", tgt, "-o", out, "--html", out]) == 2
    assert "output path is also an input" in capsys.readouterr().err
    assert small["output"].read_bytes() == before
    # an image target and a video output
    clip = tmp_path / "c.mp4"
    write_clip(clip, [small["target_rgb"][:240, :320]] * 2)
    assert main(["eval", "-s", src, "-t", tgt, "-o", str(clip)]) == 3
    assert "a video but the target" in capsys.readouterr().err
    assert main(["eval", "-s", src, "-t", tgt, "-o", str(clip), "--every", "0"]) == 2
    assert capsys.readouterr().err.strip() == "twoface: error: --every 0: give 1 or more"
    assert main(["eval", "-s", src, "-t", tgt]) == 2  # neither -o nor --compare
    assert "one of the arguments -o/--output --compare is required" in capsys.readouterr().err
    assert main(["eval", "-s", src, "-t", tgt, "-o", str(tmp_path / "none.png")]) == 3
    assert capsys.readouterr().err.strip().endswith("none.png: no such file")
    assert not list(tmp_path.glob(".*tmp*"))


def test_compare_ranks_the_swap_above_the_untouched_target(small, tmp_path, capsys):
    copy = tmp_path / "untouched.png"
    shutil.copy(small["target"], copy)
    html = tmp_path / "cmp.html"
    argv = ["eval", "-s", str(small["source"]), "-t", str(small["target"]), "--compare"]
    assert main([*argv, str(copy), str(small["output"]), "--json", "--html", str(html)]) == 0
    data = json.loads(capsys.readouterr().out)
    ranking = data["ranking"]
    assert [r["output"] for r in ranking] == [str(small["output"]), str(copy)]
    assert [r["rank"] for r in ranking] == [1, 2]
    assert ranking[0]["ranks"]["identity_to_source"] == 1
    assert ranking[1]["summary"]["not_swapped"] == 1.0
    assert data["focus"] == [0] and len(data["reports"]) == 2
    page = html.read_text()
    assert 'class="ranking"' in page and page.index(str(small["output"])) < page.index(str(copy))


def test_swap_report_writes_the_report_beside_the_output(small, tmp_path, capsys):
    out, report = tmp_path / "out.png", tmp_path / "out.json"
    argv = ["swap", "-s", str(small["source"]), "-t", str(small["target"]), "-o", str(out)]
    assert main([*argv, "--swapper", "classical", "--json", "--report", str(report)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["report"]["path"] == str(report)
    assert summary["report"]["summary"]["faces_swapped"] == 1
    data = json.loads(report.read_text())
    assert data["output"] == str(out) and data["faces"][0]["swapped"] is True
    assert data["faces"][0]["selected"] is True  # the swap says which faces it chose


def test_batch_report_writes_a_report_per_job_and_an_index(small, tmp_path, capsys):
    manifest = tmp_path / "jobs.jsonl"
    src, tgt = str(small["source"]), str(small["target"])
    lines = [
        {"sources": [src], "target": tgt, "output": str(tmp_path / "a.png")},
        {"sources": [src], "target": tgt, "output": str(tmp_path / "missing" / "b.png")},
        {"sources": [src], "target": tgt, "output": str(tmp_path / "c.jpg")},
    ]
    for line in lines:
        line["models"] = {"swapper": "classical"}
    manifest.write_text("\n".join(json.dumps(x) for x in lines))
    folder = tmp_path / "reports"
    assert main(["batch", str(manifest), "--report", str(folder)]) == 6  # job 2 fails
    capsys.readouterr()
    assert sorted(p.name for p in folder.iterdir()) == [
        "0001-a.png.html",
        "0002-c.jpg.html",
        "index.html",
    ]
    index = (folder / "index.html").read_text()
    assert index.count('<a href="0001-a.png.html">') == 1
    assert index.count('<a href="0002-c.jpg.html">') == 1
    assert str(tmp_path / "c.jpg") in (folder / "0002-c.jpg.html").read_text()


# -- the report in a browser ----------------------------------------------------------------------
# the `browser` fixture: conftest.py


@pytest.mark.slow
def test_the_video_report_opens_in_chromium_with_its_plots(browser, clip_eval, tmp_path):
    path = tmp_path / "report.html"
    write_report(path, clip_eval)
    page = browser.new_page(viewport={"width": 1200, "height": 1000})  # under its own CSP
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text))
    page.on("requestfailed", lambda req: problems.append(req.url))
    page.goto(path.as_uri())
    assert page.title() == "twoface eval: o.mp4"
    assert page.locator("table.summary tr").count() >= 8
    assert page.locator("svg.plot").count() == 2
    ident = page.locator('svg.plot[data-plot="identity-0"]')
    assert ident.locator("polyline.series").count() >= 2  # source, target (broken by gaps)
    assert ident.locator("line.mark").count() == 5  # the frames not swapped
    assert ident.locator("line.threshold").count() == 1
    points = ident.locator("polyline.series").first.get_attribute("points").split()
    assert len(points) >= 3
    box = ident.bounding_box()
    assert box["width"] > 500 and box["height"] > 150
    flicker = page.locator('svg.plot[data-plot="flicker-0"] polyline.series')
    assert flicker.count() >= 2
    images = page.locator("figure img")
    assert images.count() == 2 * len(clip_eval.crops) > 0
    widths = page.eval_on_selector_all("figure img", "els => els.map(e => e.naturalWidth)")
    assert all(w > 0 for w in widths)
    assert "not swapped in 5 of 16 frames" in page.locator("ul.flags").inner_text()
    assert problems == []
    page.close()


def test_an_installed_arcface_judges_identity_on_its_own_scale(photos, tmp_path):
    """With ArcFace w600k in the store (the official file's input/output names, random weights),
    a classical swap is judged by it end to end: cosine distances, an output equal to its target
    at distance 0 from it and as far from the source as the target was."""
    pytest.importorskip("torch")
    from test_learned_swap import _arcface_file

    (tmp_path / "models").mkdir()
    _arcface_file(tmp_path / "models" / "w600k_r50.onnx")
    ev = Evaluator.create(swapper="classical", models_dir=tmp_path, offline=True)
    assert ev.info.name == "arcface_w600k_r50" and ev.info.metric == "cosine"
    target = photos / "obama.jpg"
    e = ev.image([photos / "biden.jpg"], target, target)
    (f,) = e.faces
    assert f.identity.to_target == pytest.approx(0.0, abs=1e-5)
    assert f.identity.to_source == pytest.approx(f.identity.target_to_source, abs=1e-6)
    assert 0.0 <= f.identity.to_source <= 2.0
    assert e.to_json()["encoder"]["name"] == "arcface_w600k_r50"
    assert "cosine distance 1 - cos" in ev.info.scale
