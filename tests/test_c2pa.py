"""Content credentials: every output format carries a C2PA manifest that the C2PA library's own
reader validates (the right action and digitalSourceType, the target as parent by hash, no
source, no thumbnail); a changed pixel or a changed manifest makes `inspect` say tampered (exit
7); --no-label writes neither label; signing keeps a video's packets exactly; the per-install
key and the user's own certificate; every signing failure is one line with nothing written."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import stat
from fractions import Fraction
from pathlib import Path

import av  # noqa: E402  (core dependencies: a broken install fails here, never skips)
import c2pa  # noqa: E402
import numpy as np
import pytest
from PIL import Image, ImageSequence
from videotools import face_frame, write_clip  # noqa: E402

from twoface import __version__
from twoface.cli import main
from twoface.config import OutputConfig
from twoface.errors import InputError, OutputError, UsageError
from twoface.io import credentials
from twoface.io.credentials import credentials_for, read_credentials, seal, signing_key
from twoface.io.image import write_image
from twoface.io.provenance import COMPOSITE_SYNTHETIC, COMPOSITE_TRAINED, make_label, read_label

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
MODELS = ("retinaface", "dlib68", "inswapper_128")


# -- helpers ------------------------------------------------------------------------------------
def _picture(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


@pytest.fixture
def home(tmp_path) -> Path:
    """A model store of its own: the install key is made there on first use."""
    return tmp_path / "store"


@pytest.fixture
def target(tmp_path) -> Path:
    path = tmp_path / "target.jpg"
    Image.fromarray(_picture(seed=1)).save(path, quality=90)
    return path


def _label(home, output, target=None, kind=COMPOSITE_TRAINED, **options):
    creds = credentials_for(
        OutputConfig(**options), home, output=output, models=MODELS, parent=target
    )
    return make_label(kind, credentials=creds)


def _store(path) -> tuple[str, dict, dict]:
    """The C2PA library's own reading: validation state, active manifest, results."""
    with c2pa.Reader(str(path)) as reader:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
        results = reader.get_validation_results()
    return state, store["manifests"][store["active_manifest"]], results


def _actions(manifest: dict) -> list[dict]:
    (actions,) = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    return actions["data"]["actions"]


def _check_manifest(path, kind: str, target: Path | None) -> dict:
    state, manifest, results = _store(path)
    # Valid: every hash and the signature check out; the install's key is on no trust list.
    assert state == "Valid"
    failures = [f["code"] for f in results["activeManifest"].get("failure", [])]
    assert failures == ["signingCredential.untrusted"]
    actions = _actions(manifest)
    edit = actions[-1]
    assert edit["digitalSourceType"] == IPTC + kind
    assert edit["softwareAgent"] == {"name": "twoface", "version": __version__}
    assert edit["parameters"]["models"] == list(MODELS)
    assert manifest["claim_generator_info"][0]["name"] == "twoface"
    assert "thumbnail" not in manifest  # no picture of the output inside the manifest
    if target is None:
        assert [a["action"] for a in actions] == ["c2pa.created"]
        assert not manifest.get("ingredients")
    else:
        assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
        (parent,) = manifest["ingredients"]  # the target alone: never a source photo
        assert parent["relationship"] == "parentOf" and parent["title"] == target.name
        assert parent["metadata"]["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
        assert "thumbnail" not in parent  # nor of the target's face before the swap
    return manifest


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x55
    path.write_bytes(bytes(data))


def _manifest_offset(data: bytes) -> int:
    """A byte inside the signed claim data: the description of the edit action."""
    at = data.find(b"face swap (retinaface")
    assert at > 0
    return at + 2


def _pixel_offset(data: bytes, ext: str) -> int:
    """A byte of picture data, away from the manifest and the metadata."""
    if ext == "png":
        return data.find(b"IDAT") + 40
    if ext in ("mp4", "mov"):
        return data.find(b"mdat") + 200
    return len(data) * 2 // 3 if data.find(b"c2pa") < len(data) // 2 else len(data) // 3


def _inspect(path, capsys, *extra) -> tuple[int, str]:
    code = main(["inspect", str(path), *map(str, extra)])
    return code, capsys.readouterr().out


def _chain(
    folder: Path,
    *,
    self_signed: bool = False,
    name: str = "Newsroom signer",
    kind: str = "p256",
    traditional: bool = False,
):
    """A CA and a signing certificate with the key usages C2PA wants (or one self-signed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = {
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa": lambda: rsa.generate_private_key(65537, 2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }[kind]()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Newsroom CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])

    def cert(subject, issuer, public, signer, ca):
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca and not self_signed:
            b = b.add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        return b.sign(signer, hashes.SHA256())

    pem = serialization.Encoding.PEM
    if self_signed:
        chain = cert(subject, subject, key.public_key(), key, False).public_bytes(pem)
    else:
        ca = cert(ca_name, ca_name, ca_key.public_key(), ca_key, True)
        leaf = cert(subject, ca_name, key.public_key(), ca_key, False)
        chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
        (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "chain.pem").write_bytes(chain)
    form = serialization.PrivateFormat
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            pem,
            form.TraditionalOpenSSL if traditional else form.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "chain.pem", folder / "key.pem"


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("org")
    _chain(folder)
    return folder


# -- every format -------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif"])
@pytest.mark.parametrize("kind", [COMPOSITE_TRAINED, COMPOSITE_SYNTHETIC])
def test_each_image_format_carries_a_manifest_the_c2pa_reader_validates(
    ext, kind, home, target, tmp_path, capsys
):
    out = tmp_path / f"out.{ext}"
    write_image(out, _picture(), label=_label(home, out, target, kind))
    _check_manifest(out, kind, target)
    assert read_label(out)[0].source_type == kind  # the XMP label is kept beside it
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    code, text = _inspect(out, capsys, "--trust", home / "credentials" / "ca.pem")
    assert code == 0 and "labelled and valid" in text and "C2PA manifest" in text
    assert f"digitalSourceType {kind}" in text and "trusted (" in text


def test_a_pixel_change_or_a_manifest_change_is_reported_tampered(home, target, tmp_path, capsys):
    for ext in ("jpg", "png", "webp", "tif"):
        out = tmp_path / f"out.{ext}"
        write_image(out, _picture(), label=_label(home, out, target))
        pixels, claim = tmp_path / f"pixels.{ext}", tmp_path / f"claim.{ext}"
        shutil.copy(out, pixels)
        shutil.copy(out, claim)
        _flip(pixels, _pixel_offset(out.read_bytes(), ext))
        _flip(claim, _manifest_offset(out.read_bytes()))
        code, text = _inspect(pixels, capsys)
        assert code == 7, text
        assert "TAMPERED" in text and "assertion.dataHash.mismatch" in text
        assert "the file's content changed after signing" in text
        code, text = _inspect(claim, capsys, "--json")
        report = json.loads(text)
        assert code == 7 and report["status"] == "tampered" and report["labelled"]
        assert report["content_credentials"]["valid"] is False
        assert any("mismatch" in p for p in report["content_credentials"]["problems"])
        assert _store(pixels)[0] == _store(claim)[0] == "Invalid"  # the C2PA reader agrees


def test_a_resaved_copy_loses_both_labels_and_says_so(home, target, tmp_path, capsys):
    out = tmp_path / "out.jpg"
    write_image(out, _picture(), label=_label(home, out, target))
    copy = tmp_path / "copy.jpg"
    Image.open(out).save(copy)  # what a plain re-save does: metadata and manifest dropped
    code, text = _inspect(copy, capsys)
    assert code == 1 and "not labelled: no synthetic-media label found" in text


def test_an_unreadable_manifest_is_invalid_not_absent(home, target, tmp_path, capsys):
    out = tmp_path / "out.jpg"
    write_image(out, _picture(), label=_label(home, out, target))
    data = bytearray(out.read_bytes())
    at = data.find(b"jumb")
    data[at + 20 : at + 60] = bytes(40)  # the manifest store's own description box zeroed
    out.write_bytes(bytes(data))
    code, text = _inspect(out, capsys)
    assert code == 7 and "INVALID" in text


def test_animations_carry_a_manifest_and_keep_frames_and_durations(home, target, tmp_path):
    from twoface.io.animation import AnimationWriter
    from twoface.io.packets import VideoPacket

    frames = [_picture(48, 64, seed=i) for i in range(5)]
    durations_ms = [40, 100, 70, 40, 250]
    starts = np.cumsum([0, *durations_ms[:-1]])
    for ext in ("gif", "webp"):
        outs = {}
        for signed in (False, True):
            out = tmp_path / f"{'signed' if signed else 'plain'}.{ext}"
            label = _label(home, out, target) if signed else make_label(COMPOSITE_TRAINED)
            w = AnimationWriter(out, label, end_time=(starts[-1] + durations_ms[-1]) / 1000)
            for f, s in zip(frames, starts, strict=True):
                w.write(VideoPacket(f, int(s), Fraction(1, 1000)))
            w.close()
            outs[signed] = out
        _check_manifest(outs[True], COMPOSITE_TRAINED, target)
        seqs = [
            [
                (np.asarray(f.convert("RGB")).copy(), f.info.get("duration"))
                for f in ImageSequence.Iterator(Image.open(p))
            ]
            for p in (outs[False], outs[True])
        ]
        assert len(seqs[1]) == 5 and [d for _, d in seqs[1]] == durations_ms
        assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(*seqs, strict=True))
        assert read_label(outs[True])[0] is not None
        # a changed frame byte and a changed claim byte: both invalid to the C2PA reader
        data = outs[True].read_bytes()
        pixels, claim = tmp_path / f"pixels.{ext}", tmp_path / f"claim.{ext}"
        shutil.copy(outs[True], pixels)
        shutil.copy(outs[True], claim)
        _flip(pixels, _pixel_offset(data, ext))
        _flip(claim, _manifest_offset(data))
        assert _store(pixels)[0] == _store(claim)[0] == "Invalid"


def _packets(path) -> list[tuple]:
    with av.open(str(path)) as c:
        return [
            (p.stream.type, p.pts * p.time_base, p.dts, p.duration, bytes(p))
            for p in c.demux()
            if p.size
        ]


def _clip(tmp_path, ext: str) -> Path:
    """A 12-frame clip with irregular timestamps and an AAC tone, written by twoface's writer."""
    from twoface.io.video import open_writer, probe, read_video

    src = tmp_path / f"src.{ext}"
    pts = [0, 40, 95, 128, 248, 288, 349, 389, 429, 629, 662, 695]
    write_clip(src, [_picture(64, 80, i) for i in range(12)], pts_ms=pts, audio="aac")
    out = tmp_path / f"plain.{ext}"
    info = probe(src)
    writer = open_writer(out, src, info, make_label(COMPOSITE_TRAINED), crf=0, preset="ultrafast")
    for packet in read_video(src, info):
        writer.write(packet)
    writer.close()
    return out


@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_signing_a_video_keeps_its_frames_timestamps_and_audio_exactly(
    ext, home, target, tmp_path, capsys
):
    plain = _clip(tmp_path, ext)
    signed = tmp_path / f"signed.{ext}"
    shutil.copy(plain, signed)
    fmt = {"mp4": "mp4", "mov": "mov"}[ext]
    seal(signed, _label(home, signed, target), fmt)
    before, after = _packets(plain), _packets(signed)
    assert after == before  # every packet: bytes, pts, dts, duration
    kinds = [k for k, *_ in before]
    assert kinds.count("video") == 12 and kinds.count("audio") > 10
    assert [p * 1000 for k, p, *_ in before if k == "video"][:4] == [0, 40, 95, 128]
    _check_manifest(signed, COMPOSITE_TRAINED, target)
    code, text = _inspect(signed, capsys)
    assert code == 0 and "labelled and valid" in text and "container metadata" in text
    code, text = _inspect(signed, capsys, "--json")
    report = json.loads(text)
    assert code == 0 and report["status"] == "labelled" and report["labelled"]
    assert report["content_credentials"]["valid"] is True
    assert report["content_credentials"]["digital_source_type"] == COMPOSITE_TRAINED
    assert report["found_in"] == ["container metadata", "C2PA manifest"]
    # A byte of the signed claim changed: the claim's own hash no longer matches.
    claim = tmp_path / f"claim.{ext}"
    shutil.copy(signed, claim)
    _flip(claim, _manifest_offset(signed.read_bytes()))
    code, text = _inspect(claim, capsys)
    assert code == 7 and ("TAMPERED" in text or "INVALID" in text)
    assert _store(claim)[0] == "Invalid"
    # One byte of a frame changed: the BMFF hash says so.
    _flip(signed, _pixel_offset(signed.read_bytes(), ext))
    code, text = _inspect(signed, capsys)
    assert code == 7 and "assertion.bmffHash.mismatch" in text


def test_the_video_writer_signs_before_the_rename(home, target, tmp_path):
    """Through the writer a swap uses, into the atomic temporary file."""
    from twoface.io.atomic import atomic_path
    from twoface.io.video import open_writer, probe, read_video

    src = tmp_path / "src.mp4"
    write_clip(src, [_picture(64, 80, i) for i in range(6)], audio="aac")
    out = tmp_path / "out.mp4"
    info = probe(src)
    with atomic_path(out) as tmp:
        w = open_writer(tmp, src, info, _label(home, out, target), crf=0, preset="ultrafast")
        for packet in read_video(src, info):
            w.write(packet)
        w.close()
        _check_manifest(tmp, COMPOSITE_TRAINED, target)  # already signed under its temp name
    _check_manifest(out, COMPOSITE_TRAINED, target)
    assert _store(out)[1]["title"] == "out.mp4"  # the output's own name, not the temp name


def test_formats_that_hold_no_manifest_keep_their_xmp_label(home, target, tmp_path, capsys):
    out = tmp_path / "out.bmp"
    write_image(out, _picture(), label=_label(home, out, target))
    assert read_credentials(out) is None and read_label(out)[0] is not None
    code, text = _inspect(out, capsys)
    assert code == 0 and "labelled (no content credentials)" in text


def test_no_label_writes_neither_label(home, target, tmp_path, capsys):
    assert credentials_for(OutputConfig(label=False), home, output="o.jpg") is None
    out = tmp_path / "out.png"
    write_image(out, _picture(), label=None)
    assert read_credentials(out) is None and read_label(out)[0] is None
    assert not (home / "credentials").exists()  # nothing signed, no key made
    code, text = _inspect(out, capsys)
    assert code == 1 and "no synthetic-media label" in text


@pytest.mark.slow
def test_swap_no_label_writes_neither_and_a_swap_is_signed(photos, tmp_path, capsys):
    home = tmp_path / "store"
    args = ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg"]
    common = ["--swapper", "classical", "--models-dir", home]
    plain, signed = tmp_path / "plain.jpg", tmp_path / "signed.jpg"
    assert main([str(a) for a in [*args, "-o", plain, *common, "--no-label"]]) == 0
    assert read_credentials(plain) is None and read_label(plain)[0] is None
    assert not (home / "credentials").exists()
    assert main([str(a) for a in [*args, "-o", signed, *common]]) == 0
    capsys.readouterr()
    state, manifest, _ = _store(signed)
    edit = _actions(manifest)[-1]
    assert state == "Valid" and edit["digitalSourceType"] == IPTC + COMPOSITE_SYNTHETIC
    assert edit["parameters"]["models"] == ["retinaface", "dlib68", "classical"]
    assert manifest["ingredients"][0]["title"] == "obama.jpg"  # the target; biden.jpg nowhere
    assert b"biden" not in signed.read_bytes()
    code, text = _inspect(signed, capsys, "--models-dir", home)
    assert code == 0 and "trusted (this install's own CA)" in text


# -- keys ---------------------------------------------------------------------------------------
def test_the_install_key_is_made_once_private_and_chained_to_a_ca(home):
    from cryptography import x509

    key = signing_key(None, None, home)
    folder = home / "credentials"
    assert key.own and key.alg == "es256" and key.subject.startswith("twoface install ")
    assert stat.S_IMODE(os.stat(folder / "signer.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "signer.key", "signer.pem"]
    leaf, ca = x509.load_pem_x509_certificates((folder / "signer.pem").read_bytes())
    assert leaf.issuer == ca.subject != leaf.subject  # a chain, not a self-signed certificate
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE" not in (folder / "ca.pem").read_bytes()  # the CA's key is not kept
    again = signing_key(None, None, home)
    assert again.subject == key.subject and again.chain == key.chain
    credentials._make_install_key(folder)  # a second process racing the first keeps its key
    assert signing_key(None, None, home).chain == key.chain
    assert [p.name for p in home.iterdir()] == ["credentials"]  # no temporary folder left


def test_a_damaged_install_key_is_one_line_with_the_fix(home):
    signing_key(None, None, home)
    (home / "credentials" / "signer.key").write_bytes(b"not a key")
    with pytest.raises(InputError) as e:
        signing_key(None, None, home)
    assert "signer.key: not a PEM private key" in str(e.value)
    assert "delete the folder" in str(e.value) and "\n" not in str(e.value)


def test_your_own_certificate_signs_and_your_ca_makes_it_trusted(org, home, target, tmp_path):
    cert, key = org / "chain.pem", org / "key.pem"
    out = tmp_path / "out.jpg"
    label = _label(home, out, target, sign_cert=str(cert), sign_key=str(key))
    write_image(out, _picture(), label=label)
    assert not (home / "credentials").exists()  # the install key is not made
    _, manifest, _ = _store(out)
    assert manifest["signature_info"]["common_name"] == "Newsroom signer"
    report = read_credentials(out, (org / "ca.pem").read_bytes())
    assert report.state == "trusted" and report.signer == "Newsroom signer"
    assert read_credentials(out).state == "valid"  # without the anchor: valid, untrusted


@pytest.mark.parametrize(
    ("kind", "traditional", "alg"),
    [("p384", True, "es384"), ("rsa", True, "ps256"), ("ed25519", False, "ed25519")],
)
def test_other_key_types_and_traditional_pem_sign(kind, traditional, alg, home, target, tmp_path):
    cert, key = _chain(tmp_path / "org", kind=kind, traditional=traditional)
    assert signing_key(cert, key, home).alg == alg
    out = tmp_path / "out.png"
    write_image(out, _picture(), label=_label(home, out, target, sign_cert=cert, sign_key=key))
    assert read_credentials(out).state == "valid"


def _swap_args(tmp_path, *extra) -> list[str]:
    """A swap whose signing check fails before any file is read."""
    src, tgt = tmp_path / "s.jpg", tmp_path / "t.jpg"
    for p in (src, tgt):
        if not p.exists():
            Image.fromarray(_picture()).save(p)
    return [
        "swap",
        "-s",
        str(src),
        "-t",
        str(tgt),
        "-o",
        str(tmp_path / "out.jpg"),
        "--swapper",
        "classical",
        "--models-dir",
        str(tmp_path / "store"),
        *map(str, extra),
    ]


def _encrypted(folder: Path, key: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(key.read_bytes(), None)
    path = folder / "locked.pem"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return path


def test_signing_problems_are_one_line_exit_3_and_nothing_written(org, tmp_path, capsys):
    other = _chain(tmp_path / "other")
    lone = _chain(tmp_path / "lone", self_signed=True)
    cert, key = org / "chain.pem", org / "key.pem"
    cases = [
        ((cert, other[1]), "key.pem: this private key does not match the certificate"),
        ((tmp_path / "nope.pem", key), "nope.pem: no such file (the signing certificate)"),
        ((key, key), "key.pem: not a PEM certificate chain"),
        ((cert, cert), "chain.pem: not a PEM private key"),
        ((cert, _encrypted(tmp_path, key)), "locked.pem: the private key is encrypted"),
        ((lone[0], lone[1]), "the C2PA library will not sign with this certificate"),
        ((tmp_path, key), "a folder, not the signing certificate"),
    ]
    for (c, k), message in cases:
        code = main(_swap_args(tmp_path, "--sign-cert", c, "--sign-key", k))
        err = capsys.readouterr().err.strip()
        assert code == 3, (message, err)
        assert err.count("\n") == 0 and message in err and "Traceback" not in err, err
        assert not (tmp_path / "out.jpg").exists()
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    code = main(_swap_args(tmp_path, "--sign-cert", cert))
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--sign-key is missing" in err
    # the web UI checks its certificate before it opens the port
    ui = ["ui", "--port", "1", "--models-dir", tmp_path / "store"]
    assert main([str(a) for a in [*ui, "--sign-cert", cert, "--sign-key", other[1]]]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "key.pem: this private key does not match" in err, err
    assert main([str(a) for a in [*ui, "--sign-cert", cert]]) == 2
    assert "--sign-key is missing" in capsys.readouterr().err


def test_a_signing_failure_at_the_end_leaves_nothing(home, target, tmp_path, monkeypatch):
    label = _label(home, tmp_path / "out.jpg", target)

    def refuse(found):
        raise c2pa.C2paError("Signature: the signer went away")

    monkeypatch.setattr(credentials, "_signer", refuse)
    for name in ("out.jpg", "out.png"):
        with pytest.raises(OutputError) as e:
            write_image(tmp_path / name, _picture(), label=label)
        assert "content credentials could not be signed (the signer went away)" in str(e.value)
        assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store", "target.jpg"]
    # A video: the writer's close signs, inside the atomic write.
    from twoface.io.atomic import atomic_path
    from twoface.io.video import open_writer, probe, read_video

    src = tmp_path / "src.mp4"
    write_clip(src, [_picture(64, 80, i) for i in range(3)])
    out, info = tmp_path / "out.mp4", probe(src)
    with pytest.raises(OutputError) as e, atomic_path(out) as tmp:
        w = open_writer(tmp, src, info, _label(home, out, target), crf=0, preset="ultrafast")
        for packet in read_video(src, info):
            w.write(packet)
        w.close()
    assert "out.mp4: the content credentials could not be signed" in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mp4", "store", "target.jpg"]


def test_jobs_carry_the_certificate_and_refuse_half_of_it():
    from twoface.jobs import job_from_json, job_to_json

    data = {
        "kind": "image",
        "sources": ["me.jpg"],
        "target": "t.jpg",
        "output": "o.jpg",
        "write": {"sign_cert": "org/chain.pem", "sign_key": "org/key.pem"},
    }
    job = job_from_json(data)
    assert (job.write.sign_cert, job.write.sign_key) == ("org/chain.pem", "org/key.pem")
    assert job_from_json(job_to_json(job)) == job
    with pytest.raises(UsageError) as e:
        job_from_json({**data, "write": {"sign_cert": "org/chain.pem"}})
    assert "sign_key is missing" in str(e.value)


@pytest.mark.slow
def test_batch_signs_every_job_with_the_command_line_certificate(org, photos, tmp_path, capsys):
    manifest = tmp_path / "jobs.jsonl"
    lines = [
        {"sources": [str(photos / "biden.jpg")], "target": str(photos / "obama.jpg"),
         "output": str(tmp_path / f"o{i}.jpg"), "models": {"swapper": "classical"}}
        for i in range(2)
    ]  # fmt: skip
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    argv = ["batch", str(manifest), "--sign-cert", str(org / "chain.pem")]
    assert main([*argv, "--sign-key", str(org / "key.pem")]) == 0
    capsys.readouterr()
    for i in range(2):
        assert _store(tmp_path / f"o{i}.jpg")[1]["signature_info"]["common_name"] == (
            "Newsroom signer"
        )


@pytest.mark.slow
def test_a_swapped_video_is_signed_with_its_audio_and_labels(photos, tmp_path, capsys):
    face = np.asarray(Image.open(photos / "obama2.jpg").convert("RGB"))
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [face_frame(face, shift=s) for s in (0, 4, 8, 12)], audio="aac")
    out = tmp_path / "out.mov"
    argv = ["swap", "-s", photos / "biden.jpg", "-t", clip, "-o", out, "--swapper", "classical"]
    home = tmp_path / "store"
    assert main([str(a) for a in [*argv, "--models-dir", home, "--preset", "ultrafast"]]) == 0
    capsys.readouterr()
    manifest = _check_manifest_loose(out, COMPOSITE_SYNTHETIC)
    assert manifest["ingredients"][0]["title"] == "clip.mp4"
    assert [k for k, *_ in _packets(out)].count("audio") > 0
    code, text = _inspect(out, capsys, "--models-dir", home)
    assert code == 0 and "[container metadata, C2PA manifest]" in text


def _check_manifest_loose(path, kind: str) -> dict:
    state, manifest, _ = _store(path)
    assert state == "Valid"
    assert _actions(manifest)[-1]["digitalSourceType"] == IPTC + kind
    return manifest


@pytest.mark.slow
def test_the_web_ui_and_a_live_recording_are_signed(photos, tmp_path, capsys):
    """Both fronts go through the same writers: the UI's download and `live --record`."""
    import time

    from starlette.testclient import TestClient

    from twoface.ui.server import Settings, create_app

    store = tmp_path / "store"
    app = create_app(Settings(port=7860, max_upload_mb=8, models_dir=str(store)))
    with TestClient(app, base_url="http://127.0.0.1:7860") as client:
        ids = [
            client.post(f"/api/upload?name={n}", content=(photos / n).read_bytes()).json()["id"]
            for n in ("biden.jpg", "obama.jpg")
        ]
        job = client.post("/api/swap", json={"sources": ids[:1], "target": ids[1]}).json()
        end = time.monotonic() + 60
        while (state := client.get(f"/api/jobs/{job['id']}").json())["state"] != "done":
            assert state["state"] in ("queued", "running") and time.monotonic() < end, state
            time.sleep(0.1)
        download = tmp_path / "ui.jpg"
        download.write_bytes(client.get(f"/api/results/{state['result']['file']}").content)
    report = read_credentials(download)
    assert report.state == "valid" and report.actions == ("c2pa.opened", "c2pa.edited")
    digest = hashlib.sha256((photos / "obama.jpg").read_bytes()).hexdigest()
    assert report.parent["sha256"] == digest  # the uploaded target, by its hash

    face = np.asarray(Image.open(photos / "obama2.jpg").convert("RGB"))
    clip = tmp_path / "camera.mp4"
    write_clip(clip, [face_frame(face)] * 4)
    record = tmp_path / "shown.mov"
    argv = ["live", "-s", photos / "biden.jpg", "--camera", clip, "--record", record]
    argv += ["--swapper", "classical", "--models-dir", store]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    report = read_credentials(record)
    assert report.state == "valid" and report.actions == ("c2pa.created",)  # no parent file
    assert report.source_type == COMPOSITE_SYNTHETIC and report.parent is None


@pytest.mark.slow
def test_no_label_on_a_video_writes_neither_label(photos, tmp_path, capsys):
    face = np.asarray(Image.open(photos / "obama2.jpg").convert("RGB"))
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [face_frame(face, shift=s) for s in (0, 4, 8)], audio="aac")
    out = tmp_path / "out.mp4"
    argv = ["swap", "-s", photos / "biden.jpg", "-t", clip, "-o", out, "--swapper", "classical"]
    argv += ["--no-label", "--preset", "ultrafast", "--models-dir", tmp_path / "store"]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    assert read_credentials(out) is None
    code, text = _inspect(out, capsys)
    assert code == 1 and "not labelled" in text
    assert not (tmp_path / "store" / "credentials").exists()  # no key made for nothing


@pytest.mark.slow
def test_several_targets_and_a_video_over_devices_are_signed(org, photos, tmp_path, capsys):
    """`swap -t A B -o DIR/` (the batch path) and `--devices cpu,cpu` (segments joined, then
    signed) with the user's certificate."""
    sign = ["--sign-cert", org / "chain.pem", "--sign-key", org / "key.pem"]
    outdir = tmp_path / "outs"
    argv = ["swap", "-s", photos / "biden.jpg", "-t", photos / "obama.jpg", photos / "mark.jpg"]
    argv += ["-o", f"{outdir}/", "--swapper", "classical", *sign]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    outs = sorted(p for p in outdir.iterdir() if not p.name.startswith("."))
    assert [p.name for p in outs] == ["mark.jpg", "obama.jpg"]
    for p in outs:
        manifest = _check_manifest_loose(p, COMPOSITE_SYNTHETIC)
        assert manifest["signature_info"]["common_name"] == "Newsroom signer"
        assert manifest["ingredients"][0]["title"] == p.name  # its own target
    face = np.asarray(Image.open(photos / "obama2.jpg").convert("RGB"))
    clip = tmp_path / "clip.mp4"
    frames = [face_frame(face, shift=s % 12) for s in range(0, 48, 2)]
    write_clip(clip, frames, audio="aac", options={"g": "6"})
    out = tmp_path / "split.mp4"
    argv = ["swap", "-s", photos / "biden.jpg", "-t", clip, "-o", out, "--swapper", "classical"]
    argv += ["--devices", "cpu,cpu", "--preset", "ultrafast", *sign]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    manifest = _check_manifest_loose(out, COMPOSITE_SYNTHETIC)
    assert manifest["signature_info"]["common_name"] == "Newsroom signer"
    assert manifest["ingredients"][0]["title"] == "clip.mp4"
    kinds = [k for k, *_ in _packets(out)]
    assert kinds.count("video") == 24 and kinds.count("audio") > 0


@pytest.mark.slow
def test_the_web_ui_signs_with_its_certificate_and_videos_come_back_as_mp4(org, photos, tmp_path):
    import time

    from starlette.testclient import TestClient

    from twoface.ui.server import Settings, create_app

    face = np.asarray(Image.open(photos / "obama2.jpg").convert("RGB"))
    clip = tmp_path / "clip.webm"
    write_clip(clip, [face_frame(face, shift=s) for s in (0, 4, 8)], codec="libvpx-vp9")
    settings = Settings(
        port=7860,
        max_upload_mb=8,
        models_dir=str(tmp_path / "store"),
        sign_cert=str(org / "chain.pem"),
        sign_key=str(org / "key.pem"),
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:7860") as client:
        src = client.post("/api/upload?name=biden.jpg", content=(photos / "biden.jpg").read_bytes())
        tgt = client.post("/api/upload?name=clip.webm", content=clip.read_bytes())
        job = client.post(
            "/api/swap", json={"sources": [src.json()["id"]], "target": tgt.json()["id"]}
        ).json()
        end = time.monotonic() + 120
        while (state := client.get(f"/api/jobs/{job['id']}").json())["state"] != "done":
            assert state["state"] in ("queued", "running") and time.monotonic() < end, state
            time.sleep(0.2)
        assert state["result"]["name"] == "swapped-clip.mp4"
        download = tmp_path / "ui.mp4"
        download.write_bytes(client.get(f"/api/results/{state['result']['file']}").content)
    report = read_credentials(download, (org / "ca.pem").read_bytes())
    assert report.state == "trusted" and report.signer == "Newsroom signer"
    assert report.parent["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert not (tmp_path / "store" / "credentials").exists()  # the install key is not made
