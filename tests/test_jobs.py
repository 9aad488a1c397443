"""Typed jobs: JSON in and out exactly, one line for what is wrong (with a field id), and a job
run by the Runner writes what the CLI writes for the same request."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import rgb

from twoface.config import FinishConfig, ModelsConfig, OutputConfig, SelectionConfig
from twoface.errors import UsageError
from twoface.jobs import ImageJob, LiveJob, Runner, VideoJob, job_from_json, job_to_json
from twoface.mask import MaskSettings


def test_jobs_go_to_json_and_back_unchanged():
    jobs = [
        ImageJob(
            ("a.jpg", "b.jpg"),
            "group.jpg",
            "out.png",
            selection=SelectionConfig(assign=((0, 1), (1, 0))),
            models=ModelsConfig(swapper="inswapper_128", detector_options=(("threshold", 0.4),)),
            finish=FinishConfig(
                masks=MaskSettings(names=("box", "mouth"), padding=(0.1, 0, 0, 0)),
                enhancer="gfpgan_1.4",
            ),
            write=OutputConfig(quality=80, watermark="AI"),
        ),
        VideoJob(
            ("me.jpg",),
            "clip.mp4",
            "out.mp4",
            selection=SelectionConfig(reference="person.jpg", similarity=0.5),
            write=OutputConfig(trim=(1.0, 2.5), crf=20),
            track_identity=False,
        ),
        LiveJob(("me.jpg",), camera="clip.mp4", frames=100, record="shown.mp4"),
    ]
    for job in jobs:
        data = json.loads(json.dumps(job_to_json(job)))
        assert data["kind"] == job.kind and data["version"] == 1
        assert job_from_json(data) == job


def test_a_short_job_takes_the_defaults():
    job = job_from_json(
        {"kind": "image", "sources": "me.jpg", "target": "t.jpg", "output": "o.jpg"}
    )
    assert job == ImageJob(("me.jpg",), "t.jpg", "o.jpg")


@pytest.mark.parametrize(
    "change, message, field",
    [
        ({"kind": "audio"}, "job: kind must be one of image, video, live, got 'audio'", "job.kind"),
        ({"selection": {"simlarity": 0.5}}, "job.selection: unknown option 'simlarity'", None),
        ({"selection": {"similarity": "close"}}, "job.selection.similarity: 'close' is not", None),
        ({"write": {"quality": 500}}, "quality must be between 1 and 100, got 500", "quality"),
        ({"finish": {"masks": {"names": ["nope"]}}}, "unknown mask 'nope'", "masks"),
        ({"models": {"detector_options": 5}}, "job.models.detector_options: 5 is not a list", None),
        ({"target": None}, "job.target: None is not text", "job.target"),
        ({"sources": []}, "job: at least one source face is needed", "job.sources"),
        ({"version": 2}, "job format version 2; this twoface reads 1", "job.version"),
    ],
)
def test_what_is_wrong_in_a_job_is_one_line_with_its_field(change, message, field):
    data = {"kind": "image", "sources": ["me.jpg"], "target": "t.jpg", "output": "o.jpg"}
    with pytest.raises(UsageError) as e:
        job_from_json({**data, **change})
    assert message in str(e.value) and "\n" not in str(e.value)
    if field:
        assert e.value.field == field
    else:
        assert e.value.field.startswith("job.")


def test_a_job_names_files_not_pictures():
    job = ImageJob(("me.jpg",), "t.jpg", "o.jpg", selection=SelectionConfig(reference=np.zeros(3)))
    with pytest.raises(UsageError, match="a job names files, not pictures"):
        job_to_json(job)


@pytest.mark.slow
def test_the_runner_writes_what_the_cli_writes_and_keeps_models_loaded(photos, tmp_path):
    from twoface.cli import main

    cli_out, job_out = tmp_path / "cli.png", tmp_path / "job.png"
    src, tgt = photos / "biden.jpg", photos / "two_people.jpg"
    argv = ["swap", "-s", str(src), "-t", str(tgt), "-o", str(cli_out), "--many"]
    assert main([*argv, "--swapper", "classical"]) == 0
    job = job_from_json(
        {
            "kind": "image",
            "sources": [str(src)],
            "target": str(tgt),
            "output": str(job_out),
            "selection": {"many": True},
            "models": {"swapper": "classical"},
        }
    )
    runner = Runner()
    result = runner.run(job)
    assert len(result.faces_swapped) == 2
    assert np.array_equal(rgb(job_out), rgb(cli_out))
    first = runner.swapper(job)
    assert runner.swapper(job).detector is first.detector  # one pool: loaded once
