import io

import numpy as np
import pytest
from PIL import Image

from twoface.cli import main
from twoface.io.image import read_image, write_image
from twoface.io.provenance import COMPOSITE_SYNTHETIC, make_label, read_label

FORMATS = ["jpg", "png", "webp", "tif", "bmp"]


@pytest.mark.parametrize("ext", FORMATS)
def test_label_round_trips(tmp_path, ext, capsys):
    img = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    out = tmp_path / f"out.{ext}"
    write_image(out, img, label=make_label(COMPOSITE_SYNTHETIC))
    label, where = read_label(out)
    assert label is not None and label.source_type == "compositeSynthetic"
    assert label.tool.startswith("twoface ") and label.operation == "face swap"
    assert where == (["sidecar XMP"] if ext == "bmp" else ["XMP", "EXIF"])
    assert main(["inspect", str(out)]) == 0
    assert "AI-generated (face swap)" in capsys.readouterr().out
    back = read_image(out).rgb
    assert back.shape == img.shape
    if ext in ("png", "tif", "bmp"):
        np.testing.assert_array_equal(back, img)  # lossless formats keep the pixels


@pytest.mark.parametrize("ext", FORMATS)
def test_unlabelled_file_exits_1(tmp_path, ext, capsys):
    out = tmp_path / f"plain.{ext}"
    write_image(out, np.zeros((8, 8, 3), np.uint8), label=None)
    assert main(["inspect", str(out)]) == 1
    assert "no synthetic-media label found" in capsys.readouterr().out


# What a plain re-save keeps (measured; README's table says the same).
PILLOW_KEEPS = {"jpg": False, "png": False, "webp": False, "tif": True}


@pytest.mark.parametrize("ext", sorted(PILLOW_KEEPS))
def test_label_after_a_plain_resave(tmp_path, ext):
    import cv2

    src = tmp_path / f"a.{ext}"
    write_image(src, np.zeros((8, 8, 3), np.uint8), label=make_label())
    by_pillow = tmp_path / f"b.{ext}"
    with Image.open(src) as im:
        im.save(by_pillow)
    assert (read_label(by_pillow)[0] is not None) == PILLOW_KEEPS[ext]
    by_opencv = tmp_path / f"c.{ext}"
    cv2.imwrite(str(by_opencv), cv2.imread(str(src)))
    assert read_label(by_opencv)[0] is None  # OpenCV's imwrite drops all metadata


def _save(tmp_path, name, im, **kw):
    p = tmp_path / name
    im.save(p, **kw)
    return p


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # white on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = _save(tmp_path, "r.jpg", Image.fromarray(arr), exif=exif.tobytes(), quality=100)
    out = read_image(p).rgb
    assert out.shape == (40, 20, 3)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # the white half is now on top


def test_grayscale_16bit_cmyk_and_palette_inputs(tmp_path):
    grey = _save(tmp_path, "g.png", Image.fromarray(np.full((10, 10), 77, np.uint8)))
    assert read_image(grey).rgb.shape == (10, 10, 3) and read_image(grey).rgb[0, 0, 0] == 77
    deep = _save(tmp_path, "d.png", Image.fromarray(np.full((10, 10), 65535, np.uint16)))
    assert read_image(deep).rgb.max() == 255
    cmyk = _save(tmp_path, "c.jpg", Image.new("CMYK", (10, 10), (0, 255, 255, 0)))
    r, g, b = read_image(cmyk).rgb[5, 5].astype(int)
    assert r > 200 and g < 60 and b < 60  # magenta+yellow = red
    pal = _save(tmp_path, "p.gif", Image.new("P", (10, 10), 3))
    assert read_image(pal).rgb.shape == (10, 10, 3)
    rgba = _save(tmp_path, "a.webp", Image.new("RGBA", (10, 10), (1, 2, 3, 100)), lossless=True)
    loaded = read_image(rgba)
    assert loaded.alpha is not None and loaded.alpha[0, 0] == 100


def test_jpeg_quality_option_changes_file_size(tmp_path):
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    write_image(tmp_path / "lo.jpg", img, quality=20)
    write_image(tmp_path / "hi.jpg", img, quality=95)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size / 2


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    out = tmp_path / "x.png"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        write_image(out, np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_bytes_are_not_needed_from_disk():
    # read_image works on what Pillow can parse; a BytesIO round trip keeps the pixels.
    b = io.BytesIO()
    Image.fromarray(np.full((4, 4, 3), 9, np.uint8)).save(b, "PNG")
    assert Image.open(io.BytesIO(b.getvalue())).size == (4, 4)
