"""Self-blended and face-warped forgeries on a real face: masks, pixels, variety."""

from __future__ import annotations


import numpy as np
import pytest



from mesonet.training.synthesize import HULLS, MaskError, hull_mask, post_process, sample_grid, synthesize  # noqa: E402




def test_landmarks_land_on_the_face_in_the_crop(face):
    crop, marks = face
    assert marks.shape == (68, 2)
    # in an aligned crop the nose tip is near the centre, the eyes above it, the chin below
    nose, eyes, chin = marks[30], marks[36:48].mean(0), marks[8]
    assert np.abs(nose - 128).max() < 30
    assert eyes[1] < nose[1] < chin[1]
    inner = marks[17:]  # brows, nose, eyes, mouth: inside the crop (the jaw may cross it)
    assert (inner > 0).all() and (inner < 256).all()


@pytest.mark.parametrize("method", ["sbi", "fwa"])
def test_forgeries_change_pixels_only_inside_their_mask(face, method):
    crop, marks = face
    rng = np.random.default_rng(0)
    supports = []
    for _ in range(12):
        forged, mask = synthesize(crop, marks, method, rng)
        assert forged.shape == crop.shape and forged.dtype == np.uint8
        assert mask.shape == (256, 256, 1) and 0 <= mask.min() and mask.max() <= 1
        support = mask[..., 0] > 0
        assert support.sum() > 0.01 * support.size  # never empty
        changed = (forged != crop).any(axis=2)
        assert changed.any()
        assert not changed[~support].any()  # outside the mask, the original pixels exactly
        supports.append(support)
    # masks vary: hull variants, deformation and blur differ from draw to draw
    areas = [s.sum() for s in supports]
    assert max(areas) > 1.3 * min(areas)


def test_every_hull_variant_covers_part_of_the_face_and_bad_landmarks_are_refused(face):
    crop, marks = face
    rng = np.random.default_rng(1)
    face_area = hull_mask(marks, 256, rng, "face").sum()
    for hull in HULLS:
        m = hull_mask(marks, 256, rng, hull)
        assert 0.05 * face_area < m.sum() < 2.0 * face_area, hull
    with pytest.raises(MaskError):
        synthesize(crop, None, "sbi", rng)  # a crop prepared without landmarks
    with pytest.raises(MaskError):
        synthesize(crop, np.full((68, 2), -500.0), "sbi", rng)  # all outside: empty mask


def test_a_pair_is_post_processed_alike(face):
    crop, marks = face
    rng = np.random.default_rng(2)
    forged, mask = synthesize(crop, marks, "sbi", rng)
    for _ in range(6):
        real, fake = post_process(crop, forged, rng)
        outside = mask[..., 0] == 0
        # same colour change, JPEG and flip for both: away from the mask (and the JPEG
        # blocks around it) the two stay within JPEG noise of each other
        if (real.astype(int) - crop).any():
            flipped = np.abs(real.astype(int) - crop[:, ::-1]).mean() < np.abs(
                real.astype(int) - crop).mean()
            keep = outside[:, ::-1] if flipped else outside
            assert np.abs(real.astype(int) - fake)[keep].mean() < 6
    grid = sample_grid([crop] * 3, [marks] * 3, "sbi", rng, n=3)
    assert grid.shape == (3 * 256, 3 * 256, 3)
