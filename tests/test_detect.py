import cv2
import numpy as np
import pytest
from conftest import EXPECTED_FACES, rgb

from twoface.detect import create_detector
from twoface.geometry import interocular


@pytest.mark.parametrize("name", ["retinaface", "dlib-hog"])
@pytest.mark.slow
def test_detectors_find_every_face_of_the_shared_photos(photos, name):
    det = create_detector(name)
    counts = {f: len(det.detect([rgb(photos / f)])[0]) for f in EXPECTED_FACES}
    assert counts == EXPECTED_FACES


def test_batch_of_frames_of_different_sizes_gives_per_frame_results(photos):
    det = create_detector("retinaface")
    names = ["two_people.jpg", "group_t1.jpg", "obama_partial_face.jpg"]
    batched = det.detect([rgb(photos / n) for n in names])
    assert [len(b) for b in batched] == [2, 6, 1]
    single = det.detect([rgb(photos / "two_people.jpg")])[0]
    np.testing.assert_allclose(batched[0][0].box, single[0].box, atol=1.0)


def test_keypoints_are_in_image_order_and_inside_the_box(photos):
    face = create_detector("retinaface").detect([rgb(photos / "obama.jpg")])[0][0]
    left_eye, right_eye, nose, mouth_l, mouth_r = face.kps
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_l[0] < mouth_r[0] and nose[1] < mouth_l[1]
    x1, y1, x2, y2 = face.box
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.kps)


def test_no_face_in_a_blank_image():
    det = create_detector("retinaface")
    assert det.detect([np.full((480, 640, 3), 128, np.uint8)]) == [[]]


@pytest.mark.parametrize("angle,scale", [(25.0, 0.8), (-15.0, 1.3), (0.0, 0.6)])
def test_landmarks_follow_a_known_rotation_and_scale(photos, swapper, angle, scale):
    img = rgb(photos / "obama.jpg")
    base = swapper.analyse([img])[0][0].landmarks
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    moved = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    found = swapper.analyse([moved])[0]
    expected = base @ m[:, :2].T + m[:, 2]
    lm = min(found, key=lambda f: np.abs(f.landmarks - expected).mean()).landmarks
    err = np.linalg.norm(lm - expected, axis=1).mean() / interocular(expected)
    assert err < 0.06, f"mean landmark error {err:.3f} of the inter-ocular distance"
