"""Training on the CPU: a dataset built from the shared photos and a clip, a few steps that lower
the loss, a resumed run equal to an uninterrupted one, and export -> import -> swap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED, rgb

torch = pytest.importorskip("torch")

from twoface.cli import main  # noqa: E402

pytestmark = pytest.mark.slow  # real clips / training: the full tier

PHOTOS = ["obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg", "elon_musk.jpg", "mark.jpg"]
TINY = ["--width", "0.0625", "--batch", "2", "--log-every", "1"]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A model store with an ArcFace-format identity network (random weights)."""
    from pathlib import Path

    from test_learned_swap import _arcface_file

    home = tmp_path_factory.mktemp("train-zoo")
    (home / "models").mkdir()
    _arcface_file(Path(home / "models" / "w600k_r50.onnx"))
    return home


@pytest.fixture(scope="module")
def data(tmp_path_factory, photos):
    clip = SHARED / "data" / "video" / "dance.mp4"
    inputs = [str(photos / p) for p in PHOTOS] + ([str(clip)] if clip.is_file() else [])
    out = tmp_path_factory.mktemp("data") / "faces"
    assert main(["dataset", "build", *inputs, "-o", str(out), "--every", "20"]) == 0
    return out


def test_dataset_shards_faces_with_identity_groups(data, capsys):
    from twoface.train.dataset import FaceDataset

    index = json.loads((data / "index.json").read_text())
    assert index["format"] == "twoface-faces/1" and (index["size"], index["template"]) == (
        128,
        "arcface",
    )
    ds = FaceDataset(data)
    # 7 photo faces (two_people holds 2) and dance.mp4 at every 20th frame (4 frames).
    assert len(ds) == index["count"] >= 7
    crop, group = ds[0]
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    assert isinstance(ds._faces[0], np.memmap)  # streamed from disk, not read whole
    with np.load(data / index["shards"][0]["meta"]) as meta:
        origins, groups = meta["origin"], meta["group"]
        kps = meta["kps"]
    # obama.jpg and obama2.jpg (files 0 and 1) are one person: one identity group.
    assert groups[origins == 0][0] == groups[origins == 1][0]
    assert groups[origins == 0][0] != groups[origins == 2][0]  # biden is another
    # Keypoints sit where the ArcFace template puts them (eyes at ~(46, 52) and (82, 52)).
    assert np.abs(kps[0][0] - (46.3, 51.7)).max() < 4
    assert (
        main(["dataset", "build", str(SHARED / "data" / "photos" / "obama.jpg"), "-o", str(data)])
        == 2
    )
    assert "already holds a dataset" in capsys.readouterr().err


def _train(data, zoo, run, steps, extra=()):
    argv = ["train", "--arch", "inswapper128", "--data", str(data), "--out", str(run)]
    argv += ["--models-dir", str(zoo), "--steps", str(steps), *TINY, *extra]
    return main(argv)


def _log(run):
    import csv

    with open(run / "log.csv") as f:
        return list(csv.DictReader(f))


def test_a_few_steps_lower_the_loss(data, zoo, tmp_path):
    run = tmp_path / "run"
    assert _train(data, zoo, run, 16, ["--lr-g", "0.001", "--sample-every", "8"]) == 0
    rows = _log(run)
    assert [int(r["step"]) for r in rows] == list(range(1, 17))
    first = np.mean([float(r["loss_g"]) for r in rows[:4]])
    last = np.mean([float(r["loss_g"]) for r in rows[-4:]])
    assert last < 0.8 * first, (first, last)
    assert (run / "samples" / "step-000016.png").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["arch"] == "inswapper128" and config["lr_g"] == 0.001 and config["w_id"] == 20.0


def test_a_resumed_run_matches_an_uninterrupted_one(data, zoo, tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert _train(data, zoo, straight, 6) == 0
    assert _train(data, zoo, broken, 3) == 0
    assert _train(data, zoo, broken, 6, ["--resume"]) == 0
    a, b = _log(straight), _log(broken)
    assert [r["loss_g"] for r in a] == [r["loss_g"] for r in b]  # steps 1-3, then 4-6 again
    ga = torch.load(straight / "checkpoints" / "step-000006.pt", weights_only=True)["G"]
    gb = torch.load(broken / "checkpoints" / "step-000006.pt", weights_only=True)["G"]
    assert all(torch.equal(ga[k], gb[k]) for k in ga)


def test_export_import_and_swap(data, zoo, tmp_path, photos, capsys):
    run = tmp_path / "run"
    assert _train(data, zoo, run, 2) == 0
    capsys.readouterr()
    assert main(["train", "export", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    onnx_file, pth_file = (
        run / "export" / "inswapper128-step2.onnx",
        run / "export" / "inswapper128-step2.pth",
    )
    assert out[:2] == [str(onnx_file), str(pth_file)]
    assert "--like inswapper_128" in out[2]
    from twoface.swap.inswapper import read_emap

    assert np.array_equal(read_emap(onnx_file), np.eye(512, dtype=np.float32))
    results = []
    for name, file, runtime in (
        ("mine_onnx", onnx_file, "onnxruntime"),
        ("mine_pth", pth_file, "torch"),
    ):
        assert (
            main(
                [
                    "models",
                    "import",
                    str(file),
                    "--name",
                    name,
                    "--like",
                    "inswapper_128",
                    "--models-dir",
                    str(zoo),
                ]
            )
            == 0
        )
        target = tmp_path / f"{name}.png"
        argv = [
            "swap",
            "-s",
            str(photos / "obama.jpg"),
            "-t",
            str(photos / "biden.jpg"),
            "-o",
            str(target),
        ]
        assert main([*argv, "--swapper", name, "--models-dir", str(zoo), "--runtime", runtime]) == 0
        results.append(rgb(target).astype(int))
    before = rgb(photos / "biden.jpg").astype(int)
    assert np.abs(results[0] - before).max() > 40  # the face was replaced by the model's output
    assert np.abs(results[0] - results[1]).max() <= 2  # the ONNX and the .pth are one model
    capsys.readouterr()
    assert main(["models", "list", "--models-dir", str(zoo)]) == 0
    listing = capsys.readouterr().out
    assert "mine_onnx" in listing and "mine_pth" in listing


def test_training_errors_are_one_line(data, zoo, tmp_path, capsys):
    assert main(["train", "--arch", "inswapper128", "--data", str(data)]) == 2
    assert "twoface train needs --out" in capsys.readouterr().err
    argv = ["train", "--arch", "reswapper256", "--data", str(data), "--out", str(tmp_path / "r")]
    assert main([*argv, "--models-dir", str(zoo)]) == 2
    assert (
        "reswapper256 trains on 256 px arcface crops (twoface dataset build --size 256"
        in capsys.readouterr().err
    )
    assert main(["train", "export", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint to export" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"w_idd": 3}')
    assert (
        main(
            [
                "train",
                "--arch",
                "inswapper128",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "x"),
                "--config",
                str(bad),
            ]
        )
        == 2
    )
    assert "unknown recipe setting 'w_idd'" in capsys.readouterr().err


def test_two_processes_with_ddp(data, zoo, tmp_path):
    """`torchrun --nproc_per_node 2 -m twoface train ...` on the CPU (gloo): both processes
    train, gradients are averaged, rank 0 writes one checkpoint holding both ranks' RNG."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "ddp"
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    argv += ["--master_port", str(port), "-m", "twoface", "train", "--arch", "inswapper128"]
    argv += [
        "--data",
        str(data),
        "--out",
        str(run),
        "--models-dir",
        str(zoo),
        "--steps",
        "2",
        *TINY,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("step 2:") == 1  # rank 0 reports
    meta = json.loads((run / "checkpoints" / "step-000002.json").read_text())
    assert len(meta["ranks"]) == 2
    assert meta["ranks"][0]["numpy_rng"] != meta["ranks"][1]["numpy_rng"]  # own batches per rank
    assert [int(r["step"]) for r in _log(run)] == [1, 2]
