"""Every bad input: one line naming the file and the problem, the exit code, no output, inputs intact."""

import hashlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from twoface.cli import main


@pytest.fixture
def work(tmp_path, photos):
    for n in ["obama.jpg", "biden.jpg", "two_people.jpg", "mark.jpg"]:
        shutil.copy(photos / n, tmp_path / n)
    return tmp_path


def _digest(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


def _bad_files(w):
    (w / "empty.jpg").write_bytes(b"")
    (w / "corrupt.jpg").write_bytes(b"this is not a jpeg at all" * 40)
    data = (w / "obama.jpg").read_bytes()
    (w / "truncated.jpg").write_bytes(data[: len(data) // 3])
    Image.open(w / "obama.jpg").save(w / "really_png.jpg", "PNG")
    Image.new("1", (12000, 12000)).save(w / "bomb.png")  # 144 megapixels, a few KB on disk
    Image.fromarray(np.full((300, 300, 3), 120, np.uint8)).save(w / "noface.png")
    (w / "sub").mkdir()


CASES = [
    # (argv builder, exit code, message fragment)
    (
        lambda w: ["-s", w / "missing.jpg", "-t", w / "biden.jpg", "-o", w / "out.jpg"],
        3,
        "missing.jpg: no such file",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "empty.jpg", "-o", w / "out.jpg"],
        3,
        "empty.jpg: file is empty (0 bytes)",
    ),
    (
        lambda w: ["-s", w / "corrupt.jpg", "-t", w / "biden.jpg", "-o", w / "out.jpg"],
        3,
        "corrupt.jpg: not an image, or the image data is corrupt",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "truncated.jpg", "-o", w / "out.jpg"],
        3,
        "truncated.jpg: corrupt or truncated image",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "bomb.png", "-o", w / "out.jpg"],
        3,
        "bomb.png: image too large to decode safely (12000x12000 = 144 megapixels, limit 100)",
    ),
    (
        lambda w: ["-s", w / "noface.png", "-t", w / "biden.jpg", "-o", w / "out.jpg"],
        3,
        "noface.png: no face found in the source image",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "noface.png", "-o", w / "out.jpg"],
        3,
        "noface.png: no face found in the target image",
    ),
    (
        lambda w: [
            "-s",
            w / "obama.jpg",
            "-t",
            w / "two_people.jpg",
            "-o",
            w / "out.jpg",
            "--reference",
            w / "mark.jpg",
        ],
        3,
        "two_people.jpg: none of its 2 faces matches mark.jpg",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "biden.jpg", "-o", w / "biden.jpg"],
        2,
        "biden.jpg: output path is also an input; inputs are never overwritten",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "biden.jpg", "-o", w / "nowhere" / "o.jpg"],
        2,
        "does not exist",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "biden.jpg", "-o", w / "out.gifx"],
        2,
        "out.gifx: unsupported output extension '.gifx'",
    ),
    (
        lambda w: ["-s", w / "obama.jpg", "-t", w / "biden.jpg", "-o", w / "sub"],
        2,
        "sub: is a folder; give a file name",
    ),
    (
        lambda w: [
            "-s",
            w / "obama.jpg",
            "-t",
            w / "biden.jpg",
            "-o",
            w / "out.jpg",
            "--quality",
            "0",
        ],
        2,
        "--quality must be between 1 and 100",
    ),
]


@pytest.mark.parametrize("build,code,message", CASES, ids=[c[2][:40] for c in CASES])
@pytest.mark.slow
def test_bad_input(work, capsys, build, code, message):
    _bad_files(work)
    before = _digest(work)
    got, err = _run(["swap", *build(work)], capsys)
    assert got == code
    assert message in err
    assert err.startswith("twoface: error: ") and "\n" not in err and "Traceback" not in err
    assert _digest(work) == before  # nothing written, nothing modified


def test_usage_error_is_one_line(capsys):
    code, err = _run(["swap", "-s", "a.jpg"], capsys)
    assert code == 2 and "\n" not in err and "required: -t/--target" in err


@pytest.mark.slow
def test_console_script_exit_codes_and_no_traceback(work):
    out = work / "out.jpg"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "twoface",
            "swap",
            "-s",
            str(work / "nope.jpg"),
            "-t",
            str(work / "biden.jpg"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 3 and bad.stderr.strip().endswith("nope.jpg: no such file")
    assert not out.exists()
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "twoface",
            "swap",
            "-s",
            str(work / "obama.jpg"),
            "-t",
            str(work / "biden.jpg"),
            "-o",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    import json

    summary = json.loads(ok.stdout)
    assert summary["faces_swapped"] == 1 and summary["label"].startswith("AI-generated")
    assert subprocess.run([sys.executable, "-m", "twoface", "inspect", str(out)]).returncode == 0
    assert (
        subprocess.run(
            [sys.executable, "-m", "twoface", "inspect", str(work / "obama.jpg")]
        ).returncode
        == 1
    )


@pytest.mark.slow
def test_no_label_option_writes_an_unlabelled_file(work, capsys):
    out = work / "plain.png"
    assert (
        main(
            [
                "swap",
                "-s",
                str(work / "obama.jpg"),
                "-t",
                str(work / "biden.jpg"),
                "-o",
                str(out),
                "--no-label",
            ]
        )
        == 0
    )
    assert main(["inspect", str(out)]) == 1


def test_detect_json_lists_boxes_keypoints_and_landmarks(photos, capsys):
    import json

    assert main(["detect", str(photos / "two_people.jpg"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["faces"]) == 2
    for f in data["faces"]:
        assert len(f["box"]) == 4 and len(f["kps"]) == 5 and len(f["landmarks"]) == 68
        assert 0.5 < f["score"] <= 1.0
