import numpy as np
import pytest
from conftest import rgb

from twoface.identity import identity_distance
from twoface.swap.base import SourceIdentity
from twoface.swap.classical import pick_source

BIDEN_X = 700  # in two_people.jpg obama is on the left, biden on the right (x > 700)


def test_default_picks_the_most_prominent_face(photos, swapper):
    result = swapper.swap_image(photos / "obama.jpg", photos / "group_t1.jpg")
    assert len(result.faces_found) == 6 and len(result.faces_swapped) == 1
    assert result.faces_swapped[0].area == max(f.area for f in result.faces_found)


def test_many_replaces_every_face(photos, swapper):
    assert (
        len(
            swapper.swap_image(
                photos / "obama.jpg", photos / "group_t1.jpg", many=True
            ).faces_swapped
        )
        == 6
    )
    assert (
        len(
            swapper.swap_image(
                photos / "mark.jpg", photos / "two_people.jpg", many=True
            ).faces_swapped
        )
        == 2
    )


def test_reference_selects_only_that_person(photos, swapper):
    r = swapper.swap_image(
        photos / "mark.jpg", photos / "two_people.jpg", reference=photos / "biden.jpg"
    )
    assert len(r.faces_swapped) == 1 and r.faces_swapped[0].center[0] > BIDEN_X
    r = swapper.swap_image(
        photos / "mark.jpg", photos / "two_people.jpg", reference=photos / "obama2.jpg"
    )
    assert len(r.faces_swapped) == 1 and r.faces_swapped[0].center[0] < BIDEN_X


def test_reference_in_a_group_matches_nobody_else(photos, swapper):
    # group_t1.jpg holds none of the shared people: a strict threshold matches no face.
    import pytest

    from twoface.errors import InputError

    with pytest.raises(InputError, match="none of its 6 faces matches obama.jpg"):
        swapper.swap_image(
            photos / "mark.jpg", photos / "group_t1.jpg", reference=photos / "obama.jpg"
        )


@pytest.mark.slow
def test_each_source_replaces_its_mapped_target_face(photos, swapper):
    sources = [photos / "mark.jpg", photos / "elon_musk.jpg"]
    r = swapper.swap_image(
        sources,
        photos / "two_people.jpg",
        target_faces=[photos / "biden.jpg", photos / "obama2.jpg"],
    )
    assert len(r.faces_swapped) == 2
    faces = swapper.analyse([r.image], identity=True)[0]
    mark = swapper.analyse([rgb(photos / "mark.jpg")], identity=True)[0][0].embedding
    elon = swapper.analyse([rgb(photos / "elon_musk.jpg")], identity=True)[0][0].embedding
    right = max(faces, key=lambda f: f.center[0])  # was biden -> mark
    left = min(faces, key=lambda f: f.center[0])  # was obama -> elon
    assert identity_distance(right.embedding, mark) < identity_distance(right.embedding, elon)
    assert identity_distance(left.embedding, elon) < identity_distance(left.embedding, mark)


def test_several_source_photos_combine_into_one_identity(photos, swapper):
    faces = swapper.source_faces([photos / "obama.jpg", photos / "obama2.jpg"])
    ident = SourceIdentity.combine(faces)
    np.testing.assert_allclose(
        ident.embedding, np.mean([f.face.embedding for f in faces], 0), atol=1e-6
    )
    # The combined descriptor is at least as close to a third photo as the worse single one.
    third = swapper.analyse([rgb(photos / "32bit.png")], identity=True)[0][0].embedding
    singles = [identity_distance(f.face.embedding, third) for f in faces]
    assert identity_distance(ident.embedding, third) <= max(singles)
    # Per target face the classical engine uses the photo whose pose fits best: the same photo.
    target = swapper.analyse([rgb(photos / "obama2.jpg")])[0][0]
    assert pick_source(ident, target).origin.endswith("obama2.jpg")
    r = swapper.swap_image([photos / "obama.jpg", photos / "obama2.jpg"], photos / "biden.jpg")
    assert len(r.faces_swapped) == 1


def test_assign_swaps_exactly_the_faces_asked_for(swapper, photos):
    from twoface.errors import UsageError

    target = rgb(photos / "two_people.jpg").astype(int)
    result = swapper.swap_image(photos / "obama.jpg", photos / "two_people.jpg", assign=[(1, 0)])
    diff = np.abs(result.image.astype(int) - target).max(2)
    assert diff[25:227, 235:384].max() == 0  # face 0: untouched, to the bit
    assert (diff[50:257, 789:937] > 30).sum() > 800  # face 1: swapped
    assert len(result.faces_swapped) == 1
    with pytest.raises(UsageError, match="face 2 asked for, but the target has 2 face"):
        swapper.swap_image(photos / "obama.jpg", photos / "two_people.jpg", assign=[(2, 0)])
    with pytest.raises(UsageError, match="source 1 asked for, but 1 source photo"):
        swapper.swap_image(photos / "obama.jpg", photos / "two_people.jpg", assign=[(0, 1)])
    with pytest.raises(UsageError, match="without many, a reference or target faces"):
        swapper.swap_image(
            photos / "obama.jpg", photos / "two_people.jpg", assign=[(0, 0)], many=True
        )
