"""Media and outputs under crafted files and failing disks (issue 22, items 8-12, 16, 20, 21):
each gets one line, a documented exit code, bounded time, and leaves nothing behind."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from twoface.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from videotools import face_frame, write_clip  # noqa: E402


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def _error_line(err: str) -> str:
    """The one `twoface: error:` line (notes such as the offline-fallback one may precede it)."""
    lines = [x for x in err.splitlines() if not x.startswith("twoface: note:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("twoface: error: "), err
    return lines[0]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def face_rgb(photos) -> np.ndarray:
    return np.asarray(Image.open(photos / "obama.jpg").convert("RGB"))


def _clip(path: Path, face_rgb: np.ndarray, frames: int = 5, **kw) -> Path:
    write_clip(path, [face_frame(face_rgb, shift=i) for i in range(frames)], **kw)
    return path


# -- item 8: lists and playlists are never opened ------------------------------------------------
def _watch_fifo(fifo: Path, stop: threading.Event, opened: list) -> None:
    """Note whether anyone opens `fifo` for reading: a writer can open it only then."""
    while not stop.is_set():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader
            time.sleep(0.002)
            continue
        opened.append(True)
        os.close(fd)  # the reader sees the end of the file and goes on
        return


@pytest.mark.slow
def test_a_concat_list_or_playlist_named_mp4_is_refused_and_reads_nothing(
    photos, face_rgb, tmp_path, capsys
):
    _clip(tmp_path / "sibling.mp4", face_rgb)
    fifo = tmp_path / "secret.mp4"
    os.mkfifo(fifo)
    crafted = {
        "list.mp4": "ffconcat version 1.0\nfile sibling.mp4\n",
        "fifo_list.mp4": "ffconcat version 1.0\nfile secret.mp4\n",
        "playlist.mp4": "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nsibling.mp4\n"
        "#EXT-X-ENDLIST\n",
    }
    stop, opened = threading.Event(), []
    watcher = threading.Thread(target=_watch_fifo, args=(fifo, stop, opened), daemon=True)
    watcher.start()
    try:
        for name, text in crafted.items():
            target = tmp_path / name
            target.write_text(text)
            out = tmp_path / f"out_{name}"
            code, err, _ = _run(
                ["swap", "-s", photos / "biden.jpg", "-t", target, "-o", out], capsys
            )
            line = _error_line(err)
            assert code == 3 and f"{name}: not a readable video" in line
            assert "lists, playlists and other FFmpeg formats are refused" in line
            assert not out.exists() and _hidden(tmp_path) == []
            assert target.read_text() == text
            code, err, _ = _run(["detect", target], capsys)
            assert code == 3 and f"{name}: not a readable video" in _error_line(err)
            code, _, out_text = _run(["inspect", target], capsys)
            assert code == 1 and "no synthetic-media label" in out_text  # the sibling's is not read
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert opened == [], "FFmpeg opened a file named inside the list"


# -- item 9: a BMP's label sidecar never overwrites an input ------------------------------------
@pytest.mark.slow
def test_bmp_sidecar_that_is_an_input_is_refused(photos, tmp_path, capsys):
    source = tmp_path / "out.bmp.xmp"  # a JPEG photo, named like out.bmp's sidecar
    shutil.copy(photos / "biden.jpg", source)
    before = source.read_bytes()
    out = tmp_path / "out.bmp"
    code, err, _ = _run(["swap", "-s", source, "-t", photos / "obama.jpg", "-o", out], capsys)
    line = _error_line(err)
    assert (
        code == 2 and "out.bmp.xmp: the label sidecar of out.bmp would overwrite an input" in line
    )
    assert source.read_bytes() == before and not out.exists() and _hidden(tmp_path) == []

    # A sidecar name that is a link to an input: refused too, and the input stays as it was.
    target = tmp_path / "target.jpg"
    shutil.copy(photos / "obama.jpg", target)
    target_bytes = target.read_bytes()
    (tmp_path / "linked.bmp.xmp").symlink_to(target)
    out = tmp_path / "linked.bmp"
    code, err, _ = _run(["swap", "-s", photos / "biden.jpg", "-t", target, "-o", out], capsys)
    assert code == 2 and "linked.bmp.xmp: the label sidecar" in _error_line(err)
    assert target.read_bytes() == target_bytes and not out.exists()
    assert (tmp_path / "linked.bmp.xmp").is_symlink()

    # A plain BMP output still gets its sidecar.
    out = tmp_path / "fine.bmp"
    code, _, _ = _run(["swap", "-s", photos / "biden.jpg", "-t", target, "-o", out], capsys)
    assert code == 0 and out.is_file() and (tmp_path / "fine.bmp.xmp").is_file()


# -- item 10: a write that fails at the very end is exit 5 ---------------------------------------
@pytest.mark.parametrize("where", ["sync", "last write"])
@pytest.mark.slow
def test_a_video_write_failing_at_the_end_is_exit_5_and_leaves_nothing(
    where, photos, face_rgb, tmp_path, capsys, monkeypatch
):
    import twoface.io.video as video

    clip = _clip(tmp_path / "clip.mp4", face_rgb)
    out = tmp_path / "out.mp4"
    argv = ["swap", "-s", photos / "biden.jpg", "-t", clip, "-o", out]
    enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if where == "sync":  # the file system reports the full disk only when the file is synced

        def no_space(fd):
            raise enospc

        monkeypatch.setattr(os, "fsync", no_space)
    else:  # the full disk hits the very last write FFmpeg makes (the trailer)
        real = video._OutputFile.write
        calls = []

        def counting(self, data):
            calls.append(len(data))
            return real(self, data)

        monkeypatch.setattr(video._OutputFile, "write", counting)
        assert _run(argv, capsys)[0] == 0
        last = len(calls)
        out.unlink()
        calls.clear()

        def failing_last(self, data):
            calls.append(len(data))
            if len(calls) == last:
                self.error = self.error or enospc
                raise enospc
            return real(self, data)

        monkeypatch.setattr(video._OutputFile, "write", failing_last)
    code, err, _ = _run(argv, capsys)
    assert code == 5 and "out.mp4: cannot write the output (No space left on device)" in (
        _error_line(err)
    )
    assert not out.exists() and _hidden(tmp_path) == []


# -- item 11: long output names -----------------------------------------------------------------
@pytest.mark.slow
def test_a_255_character_output_name_works_and_a_longer_one_is_one_line(photos, tmp_path, capsys):
    out = tmp_path / ("a" * 251 + ".jpg")  # 255 characters
    code, err, _ = _run(
        ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", "-o", out], capsys
    )
    assert code == 0, err
    assert out.is_file() and _hidden(tmp_path) == []
    longer = tmp_path / ("b" * 252 + ".jpg")  # 256
    code, err, _ = _run(
        ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", "-o", longer], capsys
    )
    assert code == 2 and "file name too long (256 bytes" in _error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


# -- item 12: animation bounds, animations by content, float images -----------------------------
def _bomb_gif(path: Path, size: int = 8192, frames: int = 3000) -> None:
    """A 66 KB GIF: an 8192x8192 canvas and 3,000 frames of one pixel each."""
    data = bytearray(b"GIF89a" + struct.pack("<HHBBB", size, size, 0x80, 0, 0))
    data += b"\x00\x00\x00\xff\xff\xff"  # a two-colour global palette
    data += b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for i in range(frames):
        data += b"!\xf9\x04\x04\x02\x00\x00\x00"  # 20 ms
        data += b"," + struct.pack("<HHHHB", i % size, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    path.write_bytes(bytes(data + b";"))


def test_a_gif_bomb_is_refused_before_decoding(photos, tmp_path):
    bomb = tmp_path / "bomb.gif"
    _bomb_gif(bomb)
    assert bomb.stat().st_size < 70_000
    out = tmp_path / "out.gif"
    # Decoding it takes about ten minutes; refused from its header, it takes a second or two.
    done = subprocess.run(
        [sys.executable, "-m", "twoface", "swap", "-s", str(photos / "biden.jpg"), "-t", str(bomb),
         "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = _error_line(done.stderr)
    assert done.returncode == 3
    assert "bomb.gif: an animation of 3000 frames on a 8192x8192 canvas is too much" in line
    assert not out.exists() and _hidden(tmp_path) == []


@pytest.mark.slow
def test_an_animated_gif_is_swapped_into_a_gif_whatever_its_name(
    photos, face_rgb, tmp_path, capsys
):
    frames = [Image.fromarray(face_frame(face_rgb, shift=4 * i)) for i in range(3)]
    for name in ("party.png", "party"):  # a GIF named like a still, or with no extension
        target = tmp_path / name
        frames[0].save(target, "GIF", save_all=True, append_images=frames[1:], duration=100)
        out = tmp_path / f"{name.replace('.', '_')}_out.gif"
        code, err, _ = _run(["swap", "-s", photos / "biden.jpg", "-t", target, "-o", out], capsys)
        assert code == 0, err
        with Image.open(out) as im:
            assert im.format == "GIF" and im.n_frames == 3
    # A still image cannot become a GIF: said so, not "unsupported extension".
    code, err, _ = _run(
        ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", "-o", tmp_path / "s.gif"],
        capsys,
    )
    assert code == 2 and "s.gif: a still image is not written as GIF" in _error_line(err)


@pytest.mark.parametrize("scale", ["0..1", "range"])
def test_a_float_tiff_is_scaled_and_its_face_found(scale, photos, tmp_path, capsys):
    grey = np.asarray(Image.open(photos / "obama.jpg").convert("L"), np.float32)
    values = grey / 255.0 if scale == "0..1" else grey * 4.0 - 100.0
    tiff = tmp_path / "float.tif"
    Image.fromarray(values, "F").save(tiff)
    with Image.open(tiff) as im:
        assert im.mode == "F"
    code, err, out = _run(["detect", tiff, "--json"], capsys)
    assert code == 0, err
    assert len(json.loads(out)["faces"]) == 1
    from twoface.io.image import read_image

    rgb = read_image(tiff).rgb
    assert rgb.min() <= 5 and rgb.max() >= 250  # the full range, not black


# -- item 16: the output folder removed mid-write -----------------------------------------------
@pytest.mark.parametrize(
    ("ext", "when"), [(".mp4", "write_frame"), (".gif", "write_frame"), (".mp4", "close")]
)
@pytest.mark.slow
def test_output_folder_removed_while_writing_a_video_is_exit_5(
    ext, when, photos, face_rgb, tmp_path, capsys, monkeypatch
):
    from twoface.io import animation, video

    clip = _clip(tmp_path / "clip.mp4", face_rgb)
    folder = tmp_path / "outs"
    folder.mkdir()
    out = folder / f"out{ext}"
    writer = animation.AnimationWriter if ext == ".gif" else video.VideoWriter
    real = getattr(writer, when)

    def remove_folder(self, *a, **k):
        if when == "close":  # every frame written: only the rename is left
            real(self, *a, **k)
        if folder.exists():
            shutil.rmtree(folder)
        if when != "close":
            return real(self, *a, **k)

    monkeypatch.setattr(writer, when, remove_folder)
    code, err, _ = _run(["swap", "-s", photos / "biden.jpg", "-t", clip, "-o", out], capsys)
    line = _error_line(err)
    assert code == 5 and f"out{ext}: the output folder {folder} was removed while writing" in line
    assert not folder.exists()


# -- item 20: outputs that are no file, and the parser's own errors ------------------------------
@pytest.mark.slow
def test_proc_and_folder_outputs_and_parser_errors_are_one_line(photos, tmp_path, capsys):
    swap = ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", "-o"]
    if Path("/proc/self").is_dir():
        code, err, _ = _run([*swap, "/proc/x.jpg"], capsys)
        assert code == 5 and "/proc/x.jpg: cannot create a file in /proc" in _error_line(err)
    code, err, _ = _run([*swap, tmp_path], capsys)
    assert code == 2 and f"{tmp_path}: is a folder; give a file name" in _error_line(err)
    clip_folder = tmp_path / "dir.mp4"  # a folder with a video's name, as a video output
    clip_folder.mkdir()
    code, err, _ = _run([*swap[:4], photos / "obama.jpg", "-o", clip_folder], capsys)
    assert code == 2 and "dir.mp4: is a folder" in _error_line(err)
    code, err, _ = _run(["detect", photos / "obama.jpg", "--bogus"], capsys)
    line = _error_line(err)
    assert code == 2 and line.startswith("twoface: error: unrecognized arguments: --bogus")
    assert "twoface: error: twoface" not in err
    code, err, _ = _run(["swap", "-s", photos / "biden.jpg"], capsys)
    line = _error_line(err)
    assert code == 2 and line.startswith("twoface: error: swap: the following arguments")


# -- item 21: detect on videos; copied and re-encoded audio told apart ---------------------------
@pytest.mark.slow
def test_detect_reads_a_videos_frames(face_rgb, tmp_path, capsys):
    clip = _clip(tmp_path / "clip.mp4", face_rgb, frames=5)
    code, err, out = _run(["detect", clip], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == f"{clip} frame 0 (0.00 s): 1 face(s)"
    code, err, out = _run(["detect", clip, "--every", "2", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["video"] is True and (report["width"], report["height"]) == (320, 240)
    assert [f["frame"] for f in report["frames"]] == [0, 2, 4]
    assert [f["time"] for f in report["frames"]] == [0.0, 0.2, 0.4]
    assert all(len(f["faces"]) == 1 for f in report["frames"])
    code, err, out = _run(["detect", clip, "--frame", "3", "--json"], capsys)
    assert code == 0 and [f["frame"] for f in json.loads(out)["frames"]] == [3]
    code, err, _ = _run(["detect", clip, "--frame", "9"], capsys)
    assert code == 2 and "--frame 9 is past the end (the video has 5 frames" in _error_line(err)


@pytest.mark.slow
def test_video_summary_tells_copied_from_reencoded_audio(photos, face_rgb, tmp_path, capsys):
    clip = _clip(tmp_path / "pcm.mkv", face_rgb, frames=10, audio="pcm_s16le")
    base = ["swap", "-s", photos / "biden.jpg", "-t", clip, "--json", "-o"]
    code, err, out = _run([*base, tmp_path / "reencoded.mp4"], capsys)  # MP4 takes no PCM: AAC
    assert code == 0, err
    summary = json.loads(out)
    assert summary["audio_packets_copied"] == 0 and summary["audio_frames_reencoded"] > 0
    code, err, out = _run([*base, tmp_path / "copied.mkv"], capsys)  # Matroska takes PCM
    assert code == 0, err
    summary = json.loads(out)
    assert summary["audio_packets_copied"] > 0 and summary["audio_frames_reencoded"] == 0
