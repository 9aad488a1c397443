"""The house the features live in (issue 10): typed configuration, catalogue-driven building,
stage seams (generator, maskers, enhancer, compositor), landmark schemes, encoders' own scales."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import rgb, shared_model

from twoface import registry
from twoface.build import BuildContext, ModelPool, build, runnable, shipped
from twoface.cli import main
from twoface.config import Config, ModelsConfig, OutputConfig, RuntimeConfig, SelectionConfig
from twoface.errors import UsageError
from twoface.geometry import TEMPLATES
from twoface.swap.base import Generator
from twoface.zoo.catalogue import CATALOGUE
from twoface.zoo.store import ModelStore

NOT_YET = {"codeformer"}  # CodeFormer's own .pth (its ONNX export runs)


# -- the catalogue drives construction -------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_entry_names_a_registered_component_and_a_sane_spec(name):
    entry = CATALOGUE[name]
    component = registry.lookup(entry.task, entry.arch)
    if name in NOT_YET:
        assert component is None
        return
    assert component is not None and not component.capability.shipped
    target = component.factory
    assert callable(getattr(target, "from_entry", target))
    spec = entry.preprocess
    assert spec.size is None or spec.size > 0
    assert spec.template is None or spec.template in TEMPLATES
    assert len(spec.mean) == 3 and len(spec.std) == 3 and min(spec.std) > 0
    if entry.pairs_with:
        assert CATALOGUE[entry.pairs_with].task == "identity"
    assert component.capability.produces  # what its file's network outputs


def test_builtins_build_and_every_task_lists_its_runnable_names():
    ctx = BuildContext(ModelStore())
    built_in = [
        (task, name)
        for task in ("detect", "landmarks", "identity", "swap")
        for name in shipped(task)
    ]
    assert sorted(built_in) == sorted(
        [
            ("detect", "retinaface"),
            ("detect", "dlib-hog"),
            ("landmarks", "dlib68"),
            ("landmarks", "none"),
            ("identity", "dlib128"),
            ("swap", "classical"),
        ]
    )
    for task, name in built_in:
        built = build(task, name, ctx)
        assert built is not None and name in runnable(task)
    assert "inswapper_128" in runnable("swap") and "codeformer" not in runnable("restore")
    assert {"gfpgan_1.4", "bisenet_79999", "xseg_1"} <= set(
        runnable("restore") + runnable("parse") + runnable("occlude")
    )


def test_unknown_and_not_yet_runnable_names_are_one_line_usage_errors(photos, tmp_path, capsys):
    with pytest.raises(
        UsageError, match=r"unknown swapper 'nope'; choose from classical, inswapper_128"
    ):
        build("swap", "nope", BuildContext(ModelStore(tmp_path)))
    with pytest.raises(
        UsageError, match="codeformer is in the catalogue but twoface cannot run it yet"
    ):
        build("restore", "codeformer", BuildContext(ModelStore(tmp_path)))
    with pytest.raises(UsageError, match="unknown detector 'dlib68'"):  # a name of another task
        build("detect", "dlib68", BuildContext(ModelStore(tmp_path)))
    argv = [
        "swap",
        "-s",
        photos / "biden.jpg",
        "-t",
        photos / "obama.jpg",
        "-o",
        tmp_path / "o.jpg",
    ]
    assert main([str(a) for a in [*argv, "--swapper", "nope"]]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "'nope'" in err and "classical" in err and "inswapper_128" in err
    )


@pytest.mark.parametrize(
    "name,file",
    [("scrfd_500m_bnkps_dynamic", "scrfd_500m_bnkps.onnx"), ("yunet_s", "yunet_s_dynamic.onnx")],
)
def test_zoo_detectors_build_from_the_catalogue_and_find_faces(tmp_path, photos, name, file):
    store = ModelStore(tmp_path)
    store.import_file(shared_model(file), name)
    pool = ModelPool(store)
    detector = pool.get("detect", name)
    assert pool.get("detect", name) is detector  # pooled: built once
    assert len(detector.detect([rgb(photos / "two_people.jpg")])[0]) == 2


# -- typed configuration -----------------------------------------------------------------------
def test_configuration_is_frozen_typed_and_checked():
    cfg = Config(ModelsConfig(detector="retinaface"), RuntimeConfig(device="cpu"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.models.detector = "dlib-hog"  # type: ignore[misc]
    with pytest.raises(UsageError, match="quality must be between 1 and 100") as e:
        OutputConfig(quality=0)
    assert e.value.field == "quality"
    with pytest.raises(UsageError, match="either a reference or target faces"):
        SelectionConfig(reference="a.jpg", target_faces=("b.jpg",))
    with pytest.raises(UsageError, match="unknown runtime"):
        RuntimeConfig(runtime="tensorflow")


@pytest.mark.slow
def test_swappers_share_a_pool_and_take_per_request_options(photos):
    from twoface import Swapper

    first = Swapper(Config())
    second = Swapper(Config(), pool=first.pool)
    assert second.detector is first.detector and second.landmarker is first.landmarker
    plain = first.swap_image(photos / "biden.jpg", photos / "obama.jpg")
    marked = first.swap_image(
        photos / "biden.jpg", photos / "obama.jpg", options=OutputConfig(watermark="AI")
    )
    assert (plain.image != marked.image).any()  # asked per call, not stored in the Swapper
    again = first.swap_image(photos / "biden.jpg", photos / "obama.jpg")
    assert (again.image == plain.image).all()


def test_api_errors_carry_their_field_and_the_cli_names_its_flag(photos, tmp_path, capsys):
    from twoface import Swapper

    with pytest.raises(UsageError) as e:
        Swapper().swap_video(photos / "biden.jpg", tmp_path / "x.mp4", tmp_path / "o.mp4", crf=99)
    assert e.value.field == "crf" and str(e.value).startswith("crf 99:")
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"\0")
    argv = ["swap", "-s", photos / "biden.jpg", "-t", clip, "-o", tmp_path / "o.mp4", "--crf", "99"]
    assert main([str(a) for a in argv]) == 2
    assert "twoface: error: --crf 99: libx264 takes 0 to 51" in capsys.readouterr().err


# -- landmark schemes --------------------------------------------------------------------------
def test_ibug68_groups_sit_where_the_face_parts_are(swapper, photos):
    from twoface.schemes import IBUG68

    face = swapper.analyse([rgb(photos / "obama.jpg")])[0][0]
    lm = face.landmarks
    eye_l, eye_r = IBUG68.eye_centres(lm)
    mouth = IBUG68.group(lm, "mouth_outer").mean(0)
    brows = IBUG68.group(lm, "brows").mean(0)
    chin = IBUG68.point(lm, "chin")
    assert brows[1] < eye_l[1] < mouth[1] < chin[1] and eye_l[0] < eye_r[0]
    iod = IBUG68.interocular(lm)
    # The five points from the groups agree with the detector's own keypoints.
    assert np.linalg.norm(IBUG68.five_points(lm) - face.kps, axis=1).max() < 0.25 * iod
    jaw = IBUG68.group(lm, "jaw")
    assert jaw[0][0] < eye_l[0] and jaw[-1][0] > eye_r[0]


def test_insightface106_groups_agree_with_ibug68_on_a_real_face(swapper, photos):
    """A 106-point set with the real photo's points where the markup puts them: every group,
    the masks and the five points come out as from the 68 points."""
    from twoface.mask import face_polygon, mouth_open_ratio
    from twoface.schemes import IBUG68, INSIGHTFACE106

    lm68 = swapper.analyse([rgb(photos / "obama.jpg")])[0][0].landmarks
    lm106 = np.full((106, 2), np.nan, np.float32)
    for group in ("jaw", "brows", "nose", "eye_left", "eye_right", "mouth_outer", "mouth_inner"):
        lm106[list(INSIGHTFACE106.groups[group])] = IBUG68.group(lm68, group)
    for group in IBUG68.groups:
        assert np.allclose(INSIGHTFACE106.group(lm106, group), IBUG68.group(lm68, group)), group
    assert np.allclose(INSIGHTFACE106.five_points(lm106), IBUG68.five_points(lm68))
    assert np.allclose(face_polygon(lm106, scheme=INSIGHTFACE106), face_polygon(lm68))
    assert mouth_open_ratio(lm106, INSIGHTFACE106) == pytest.approx(mouth_open_ratio(lm68))
    used = [i for idx in INSIGHTFACE106.groups.values() for i in idx]
    assert max(used) <= 105 and len(set(INSIGHTFACE106.groups["jaw"])) == 17


# -- encoders own their scale -------------------------------------------------------------------
def test_near_threshold_pairs_decide_alike_in_each_encoders_own_scale():
    from twoface.identity.arcface import ArcFaceEncoder
    from twoface.identity.dlib128 import Dlib128Encoder

    dlib = object.__new__(Dlib128Encoder)  # distance and threshold need no model file
    arc = object.__new__(ArcFaceEncoder)
    rng = np.random.default_rng(0)
    a = rng.normal(size=128)
    a /= np.linalg.norm(a) * 2
    u = rng.normal(size=128)
    u -= (u @ a) * a / (a @ a)
    u /= np.linalg.norm(u)
    e = rng.normal(size=512)
    e /= np.linalg.norm(e)
    v = rng.normal(size=512)
    v -= (v @ e) * e
    v /= np.linalg.norm(v)
    for margin, same in ((-0.02, True), (0.02, False)):
        near_dlib = a + u * (dlib.same_person + margin)  # Euclidean
        cos = 1 - (arc.same_person + margin)
        near_arc = cos * e + np.sqrt(1 - cos**2) * v  # cosine distance 1 - cos
        assert dlib.same(a, near_dlib) is same and arc.same(e, near_arc) is same
    assert arc.distance(e, 3 * e) == pytest.approx(0.0)  # cosine ignores length, dlib does not
    assert dlib.distance(a, 3 * a) > dlib.same_person
    assert "Euclidean" in dlib.scale() and "1 - cos" in arc.scale()


# -- stage seams: generator, maskers, enhancer, compositor ------------------------------------
class _EchoGenerator(Generator):
    """A generator that returns its input crop, brightened: shows where pixels may change."""

    name = "echo"
    default_masks = ()

    def __init__(self, size=128, template="arcface"):
        from twoface.swap.base import GeneratorSpec

        self.spec = GeneratorSpec(size, template)

    def latents(self, sources):
        return np.zeros((len(sources), 1), np.float32)

    def generate(self, crops, latents):
        return np.clip(crops.astype(int) + 60, 0, 255).astype(np.uint8)


def _job(swapper, photos):
    from twoface.swap.base import SourceIdentity, SwapJob

    frame = rgb(photos / "obama.jpg")
    face = swapper.analyse([frame])[0][0]
    src = swapper.source_faces([photos / "biden.jpg"], identity=False)
    return frame, face, SwapJob(0, face, SourceIdentity.combine(src))


def test_area_mask_limits_the_paste_to_the_face(swapper, photos):
    from twoface.mask import AreaMasker, face_polygon, polygon_mask
    from twoface.swap.engine import LearnedEngine

    frame, face, job = _job(swapper, photos)
    boxed = LearnedEngine(_EchoGenerator(), maskers=[]).swap([frame], [job])[0]
    area = LearnedEngine(_EchoGenerator(), maskers=[AreaMasker()]).swap([frame], [job])[0]
    inside = polygon_mask(frame.shape[:2], face_polygon(face.landmarks)) > 0
    changed_box = (boxed != frame).any(2)
    changed_area = (area != frame).any(2)
    assert changed_box.sum() > changed_area.sum() > 1000
    assert not (changed_area & ~inside).any()  # nothing outside the face area
    assert (boxed == frame)[~changed_box].all()


def test_frames_pasted_in_parallel_equal_one_at_a_time(swapper, photos, monkeypatch):
    """Where there are cores to spare the compositor pastes a batch's frames in parallel
    threads; the frames come out bit-identical, in order, and untouched frames stay the same
    objects."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from twoface.swap import compositor
    from twoface.swap.engine import LearnedEngine

    frame, _, job = _job(swapper, photos)
    frames = [np.roll(frame, 7 * i, axis=1) for i in range(6)]
    jobs = [replace(job, frame_index=i) for i in (0, 2, 3, 5)]
    engine = LearnedEngine(_EchoGenerator(), maskers=[])
    monkeypatch.setattr(compositor, "_pool", lambda: None)
    alone = engine.swap(frames, jobs)
    with ThreadPoolExecutor(3) as pool:
        monkeypatch.setattr(compositor, "_pool", lambda: pool)
        parallel = engine.swap(frames, jobs)
    for i, (a, b) in enumerate(zip(alone, parallel, strict=True)):
        np.testing.assert_array_equal(a, b)
        assert (b is frames[i]) == (i in (1, 4))  # frames without a job are passed through
    assert all((parallel[i] != frames[i]).any() for i in (0, 2, 3, 5))


def test_a_run_that_owns_its_frames_is_pasted_in_place(swapper, photos):
    """A live stream's frames are its own: pasted into where they lie (no 1080p copy a frame),
    with the same pixels as the copying path; a read-only frame is still copied, and a run
    that does not own its frames never sees them changed."""
    from dataclasses import replace

    from twoface.swap.base import RunState
    from twoface.swap.compositor import give_frames
    from twoface.swap.engine import LearnedEngine

    frame, _, job = _job(swapper, photos)
    engine = LearnedEngine(_EchoGenerator(), maskers=[])
    kept = frame.copy()
    copied = engine.swap([frame], [replace(job, run=RunState())])[0]
    assert copied is not frame and (frame == kept).all() and (copied != kept).any()
    owned = RunState()
    give_frames(owned)
    mine = frame.copy()
    pasted = engine.swap([mine], [replace(job, run=owned)])[0]
    assert pasted is mine and np.array_equal(pasted, copied)
    locked = kept.copy()
    locked.flags.writeable = False
    out = engine.swap([locked], [replace(job, run=owned)])[0]
    assert out is not locked and np.array_equal(out, copied) and (locked == kept).all()


def test_enhancer_slot_runs_on_its_template_and_blend_zero_changes_nothing(swapper, photos):
    from twoface.enhance import Enhancer, EnhancerSpec
    from twoface.swap.engine import LearnedEngine

    class Darken(Enhancer):
        name = "darken"
        spec = EnhancerSpec(256, "ffhq")

        def __init__(self, blend):
            self.blend, self.seen = blend, []

        def enhance(self, crops):
            self.seen.append(crops.shape)
            return (crops // 2).astype(np.uint8)

    frame, _, job = _job(swapper, photos)
    base = LearnedEngine(_EchoGenerator()).swap([frame], [job])[0]
    off = Darken(0.0)
    assert (LearnedEngine(_EchoGenerator(), enhancer=off).swap([frame], [job])[0] == base).all()
    on = Darken(1.0)
    darker = LearnedEngine(_EchoGenerator(), enhancer=on).swap([frame], [job])[0]
    assert on.seen == [(1, 256, 256, 3)] and darker.astype(int).sum() < base.astype(int).sum()


def test_label_type_follows_the_engine(swapper):
    from twoface.anime.swap import AnimeEngine
    from twoface.swap.classical import ClassicalEngine
    from twoface.swap.engine import LearnedEngine

    assert ClassicalEngine.source_type == AnimeEngine.source_type == "compositeSynthetic"
    assert LearnedEngine(_EchoGenerator()).source_type == "compositeWithTrainedAlgorithmicMedia"


def test_models_list_runs_column_follows_the_implementations(tmp_path, capsys):
    assert main(["models", "list", "--json", "--models-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert all(r["runs"] == (r["name"] not in NOT_YET) for r in rows)


@pytest.mark.slow
def test_bench_prints_every_field_on_a_tiny_cpu_run(photos, capsys):
    argv = ["bench", "-s", str(photos / "obama.jpg"), "--size", "360p", "--frames", "6", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    for key in (
        "codec_raw_fps",
        "codec_twoface_fps",
        "pipeline_fps",
        "batch1_fps",
        "pipeline_vs_codec",
        "pipeline_vs_batch1",
        "codec_twoface_vs_raw",
        "stages_ms_per_frame",
        "peak_gpu_memory_mb",
    ):
        assert key in report, key
    assert report["frames"] == 6 and report["faces_swapped"] == 6
    assert report["codec_raw_fps"] > 0 and report["pipeline_fps"] > 0
    assert set(report["stages_ms_per_frame"]) == {"detect", "landmarks", "select", "swap", "paste"}
    # The ratios are the rates' own, and a stage's time lies within the run it was timed in.
    fps = report["pipeline_fps"]
    assert report["pipeline_vs_codec"] == pytest.approx(fps / report["codec_raw_fps"])
    assert report["pipeline_vs_batch1"] == pytest.approx(fps / report["batch1_fps"])
    codec_ratio = report["codec_twoface_fps"] / report["codec_raw_fps"]
    assert report["codec_twoface_vs_raw"] == pytest.approx(codec_ratio)
    stages = report["stages_ms_per_frame"]
    assert all(0 <= ms <= 1000 / fps for ms in stages.values()), (stages, fps)
    assert stages["detect"] > 0 and stages["swap"] > 0
    assert report["generator_pipeline_faces_s"] is None  # the classical engine has none
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert "codec bound" in text and "per stage (ms/frame)" in text and "peak GPU memory" in text
    assert "generator: - (the classical engine has none)" in text


@pytest.mark.slow
def test_bench_compares_the_generator_in_the_pipeline_with_it_alone(photos, capsys):
    """A learned swapper (random weights of inswapper's architecture, on the CPU here): the
    generator's faces per second inside the pipeline and alone on batches of the same size."""
    argv = ["bench", "-s", str(photos / "obama.jpg"), "--size", "360p", "--frames", "2"]
    assert main([*argv, "--swapper", "inswapper_128", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["random_weights"] and report["faces_swapped"] == 2
    assert report["generator_alone_faces_s"] > 0
    # The generator's time lies within the run: it swapped faces at least as fast as the
    # whole pipeline did.
    whole_run = report["faces_swapped"] * report["pipeline_fps"] / report["frames"]
    assert report["generator_pipeline_faces_s"] >= whole_run


def test_device_side_normalisation_matches_the_numpy_path():
    pytest.importorskip("torch")
    from twoface.detect.scrfd import ScrfdDetector

    path = shared_model("scrfd_500m_bnkps.onnx")
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    on_torch = ScrfdDetector(path, runtime="torch", device="cpu").prepare(images)
    on_ort = ScrfdDetector(path, runtime="onnxruntime").prepare(images)
    assert tuple(on_torch.shape) == on_ort.shape == (2, 3, 64, 64)
    assert np.allclose(on_torch.numpy(), on_ort, atol=1e-6)


def test_large_face_feather_computed_small_matches_the_full_size_one(monkeypatch):
    import cv2

    from twoface.swap import compositor

    white = np.zeros((1200, 1200), np.uint8)
    poly = np.array([[100, 150], [1100, 100], [1050, 1100], [150, 1050]], np.int32)
    cv2.fillConvexPoly(white, poly, 255)
    fast = compositor._feathered(white, 950)
    monkeypatch.setattr(compositor, "FEATHER_WORK", 10_000)  # the full-size computation
    full = compositor._feathered(white, 950)
    assert fast.shape == full.shape and np.abs(fast - full).max() < 0.1  # 0.08 at the corners
    assert np.abs(fast - full).mean() < 0.01  # 0.006: the kernels round at the small size


@pytest.mark.parametrize("masked", [False, True])
def test_device_align_and_paste_agree_with_the_opencv_path(swapper, photos, masked):
    """The GPU path's align and paste-back, run on torch's CPU device: pixels outside the
    pasted region bit-identical, inside within a few levels of OpenCV's."""
    pytest.importorskip("torch")
    from twoface.mask import AreaMasker
    from twoface.swap.engine import LearnedEngine

    frame, _, job = _job(swapper, photos)
    maskers = [AreaMasker()] if masked else []
    cv = LearnedEngine(_EchoGenerator(), maskers=maskers).swap([frame], [job])[0]
    dev = LearnedEngine(_EchoGenerator(), maskers=maskers, device="cpu").swap([frame], [job])[0]
    changed = (cv != frame).any(2) | (dev != frame).any(2)
    assert changed.sum() > 1000
    assert (dev == frame)[~changed].all()
    diff = np.abs(dev.astype(int) - cv.astype(int))
    # 99% within 4 levels; a few pixels at the area mask's edge differ more (rasterisation).
    assert np.percentile(diff[changed], 99) <= 4 and (diff.max(2) > 8).mean() < 0.001


def test_detectors_consume_their_catalogue_spec(tmp_path):
    """Size and normalisation come from the entry, not from constants in the class."""
    from dataclasses import replace

    from twoface.build import BuildContext

    entry = CATALOGUE["scrfd_500m_bnkps_dynamic"]
    store = ModelStore(tmp_path)
    store.import_file(shared_model("scrfd_500m_bnkps.onnx"), entry.name)
    built = build("detect", entry.name, BuildContext(store))
    assert (built.size, built.mean, built.std) == (640, 127.5, 128.0)
    odd = replace(
        entry, preprocess=replace(entry.preprocess, size=320, mean=(0.0,) * 3, std=(1.0,) * 3)
    )
    made = type(built).from_entry(odd, BuildContext(store))
    assert (made.size, made.mean, made.std) == (320, 0.0, 1.0)
    images = np.full((1, 8, 8, 3), 10, np.uint8)
    assert np.allclose(made.prepare(images), 10.0)
