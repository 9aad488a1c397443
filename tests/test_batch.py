"""`twoface batch` and `swap -t DIR/ -o OUTDIR/`: many jobs, models loaded once, a failed job one
line while the rest go on, the same outputs as one `twoface swap` each, and a state file that
resumes an interrupted batch and retries what failed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import rgb
from PIL import Image
from videotools import audio_seconds, decode, face_frame, write_clip

from twoface.cli import main


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def work(tmp_path, photos):
    # At half size: the batch machinery is under test, and the swaps take a quarter of the time.
    for n in ("biden.jpg", "obama.jpg", "two_people.jpg", "mark.jpg"):
        im = Image.open(photos / n)
        im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(
            tmp_path / n, quality=95
        )
    frame = face_frame(rgb(photos / "obama2.jpg"))
    write_clip(tmp_path / "clip.mp4", [frame] * 6, audio="aac")
    return tmp_path


def _manifest(w, lines) -> str:
    path = w / "jobs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def _jobs(w):
    out = w / "out"
    out.mkdir(exist_ok=True)
    classical = {"swapper": "classical"}
    return [
        {"sources": [str(w / "biden.jpg")], "target": str(w / "obama.jpg"),
         "output": str(out / "a.png"), "models": classical},
        {"sources": [str(w / "obama.jpg")], "target": str(w / "two_people.jpg"),
         "output": str(out / "b.png"), "selection": {"many": True}, "models": classical},
        {"sources": [str(w / "biden.jpg")], "target": str(w / "clip.mp4"),
         "output": str(out / "c.mp4"), "models": classical},
        {"sources": [str(w / "missing.jpg")], "target": str(w / "obama.jpg"),
         "output": str(out / "d.png"), "models": classical},
        {"sources": [str(w / "biden.jpg")], "target": str(w / "obama.jpg"),
         "output": str(out / "e.png"), "selection": {"simlarity": 0.5}},
    ]  # fmt: skip


def test_a_manifest_runs_every_job_and_bad_ones_fail_alone(work, capsys):
    code, out, err = _run(["batch", _manifest(work, _jobs(work)), "--json"], capsys)
    assert code == 6  # some failed
    summary = json.loads(out)
    assert (summary["jobs"], summary["done"], summary["failed"]) == (5, 3, 2)
    errors = [r["error"] for r in summary["results"] if r["status"] == "failed"]
    assert errors[0].endswith("missing.jpg: no such file") and "\n" not in errors[0]
    assert "unknown option 'simlarity'" in errors[1] and "jobs.jsonl:5" in errors[1]
    assert not (work / "out" / "d.png").exists() and not (work / "out" / "e.png").exists()
    # The same pictures as one `twoface swap` each, and the video keeps frames and sound.
    single = work / "single.png"
    argv = ["swap", "-s", work / "biden.jpg", "-t", work / "obama.jpg", "-o", single]
    assert _run([*argv, "--swapper", "classical"], capsys)[0] == 0
    assert np.array_equal(rgb(single), rgb(work / "out" / "a.png"))
    frames, pts, _ = decode(work / "out" / "c.mp4")
    assert len(frames) == 6 and pts == decode(work / "clip.mp4")[1]
    assert [c for c, _ in audio_seconds(work / "out" / "c.mp4")] == ["aac"]
    assert _run(["inspect", work / "out" / "c.mp4"], capsys)[0] == 0


def test_a_rerun_skips_what_is_done_and_retries_what_failed(work, capsys):
    manifest = _manifest(work, _jobs(work)[:2] + _jobs(work)[3:4])
    assert _run(["batch", manifest], capsys)[0] == 6
    done = work / "out" / "a.png"
    stamp = done.stat().st_mtime_ns
    shutil.copy(work / "biden.jpg", work / "missing.jpg")  # the missing source appears
    code, out, _ = _run(["batch", manifest, "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and (summary["skipped"], summary["done"], summary["failed"]) == (2, 1, 0)
    assert done.stat().st_mtime_ns == stamp  # not written again
    state = json.loads((work / ".jobs.jsonl.twoface-state.json").read_text())
    attempts = sorted(j["attempts"] for j in state["jobs"].values())
    assert attempts == [1, 1, 2] and all(j["status"] == "done" for j in state["jobs"].values())


def test_an_interrupted_batch_resumes_where_it_stopped(work, capsys, monkeypatch):
    from twoface.jobs import Runner

    manifest = _manifest(work, _jobs(work)[:3])
    real = Runner.run
    calls = []

    def interrupted(self, job, progress=None):
        calls.append(job.target)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, job, progress)

    monkeypatch.setattr(Runner, "run", interrupted)
    assert _run(["batch", manifest], capsys)[0] == 130
    assert (work / "out" / "a.png").exists() and not (work / "out" / "b.png").exists()
    assert [p.name for p in (work / "out").iterdir()] == ["a.png"]  # no half-written file
    monkeypatch.setattr(Runner, "run", real)
    code, out, _ = _run(["batch", manifest, "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and (summary["skipped"], summary["done"]) == (1, 2)


def test_retry_gives_a_failing_job_more_attempts(work, capsys, monkeypatch):
    from twoface.errors import OutputError
    from twoface.jobs import Runner

    real = Runner.run
    failures = []

    def flaky(self, job, progress=None):
        if not failures:
            failures.append(job.target)
            raise OutputError(f"{job.output}: disk full")
        return real(self, job, progress)

    monkeypatch.setattr(Runner, "run", flaky)
    manifest = _manifest(work, _jobs(work)[:1])
    code, out, _ = _run(["batch", manifest, "--retry", "1", "--json"], capsys)
    assert code == 0 and json.loads(out)["results"][0]["attempts"] == 2


def test_a_csv_manifest_with_options(work, capsys):
    out = work / "out"
    rows = [
        "source,target,output,options",
        f"{work / 'biden.jpg'};{work / 'mark.jpg'},{work / 'obama.jpg'},{out / 'a.png'},",
        f"{work / 'obama.jpg'},{work / 'two_people.jpg'},{out / 'b.png'},"
        '"{""selection"": {""many"": true}, ""models"": {""swapper"": ""classical""}}"',
        f"{work / 'obama.jpg'},{work / 'biden.jpg'},{out / 'c.png'}," + '"{not json"',
    ]
    out.mkdir()
    (work / "jobs.csv").write_text("\n".join(rows) + "\n")
    code, text, _ = _run(["batch", work / "jobs.csv", "--json"], capsys)
    summary = json.loads(text)
    assert code == 6 and (summary["done"], summary["failed"]) == (2, 1)
    assert summary["results"][2]["error"].startswith("jobs.csv:4: the options column is not JSON")
    single = work / "single.png"
    argv = ["swap", "-s", work / "obama.jpg", "-t", work / "two_people.jpg", "-o", single]
    assert _run([*argv, "--many", "--swapper", "classical"], capsys)[0] == 0
    assert np.array_equal(rgb(out / "b.png"), rgb(single))  # the options column was applied


def test_swap_takes_a_folder_or_several_targets_into_a_folder(work, capsys):
    folder = work / "targets"
    folder.mkdir()
    for n in ("obama.jpg", "mark.jpg", "clip.mp4"):
        shutil.copy(work / n, folder / n)
    (folder / "notes.txt").write_text("not a picture")
    out = work / "swapped"
    argv = ["swap", "-s", work / "biden.jpg", "-t", folder, "-o", out, "--swapper", "classical"]
    code, text, _ = _run([*argv, "--json"], capsys)
    summary = json.loads(text)
    assert code == 0 and summary["done"] == 3
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "clip.mp4",
        "mark.jpg",
        "obama.jpg",
    ]
    assert len(decode(out / "clip.mp4")[0]) == 6
    code, _, err = _run(
        ["swap", "-s", work / "biden.jpg", "-t", work / "obama.jpg", work / "mark.jpg",
         "-o", work / "obama.jpg"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "several targets need a folder as the output" in err
