"""Eq. (10) kernel scoring and Eq. (15)-(16) box recovery (utrack_ros.tracking.refind)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from utrack_ros.tracking import kernel_score, recover_box
from utrack_ros.tracking.refind import (
    best_occlusion_match,
    gaussian_radius,
    kernel_sigma,
    occlusion_score_matrix,
    overlap_boxes,
    recover_coordinate,
)

# --- Eq. (16), one axis: predicted extent [a1, a2], occluder [b1, b2], centre z ---------


def test_branch_far_edge_inside_occluder():
    # a1 <= b1 and a2 <= b2: overlap [b1, a2]; centre 8 -> a2 = 2*8 - 5 = 11, a1 = 1.
    assert recover_coordinate(0.0, 10.0, 5.0, 15.0, 8.0) == pytest.approx(1.0)


def test_branch_box_inside_occluder():
    # a1 > b1 and a2 <= b2: overlap [a1, a2]; centre 10 -> a1 = 10 - 6/2 = 7.
    assert recover_coordinate(6.0, 12.0, 5.0, 15.0, 10.0) == pytest.approx(7.0)


def test_branch_near_edge_inside_occluder():
    # a1 > b1 and a2 > b2: overlap [a1, b2]; centre 12 -> a1 = 2*12 - 15 = 9.
    assert recover_coordinate(10.0, 20.0, 5.0, 15.0, 12.0) == pytest.approx(9.0)


def test_branch_occluder_inside_box_keeps_prediction():
    # a1 <= b1 and a2 > b2: the overlap is the occluder, z says nothing -> a1 unchanged.
    assert recover_coordinate(0.0, 20.0, 5.0, 15.0, 3.0) == pytest.approx(0.0)
    assert recover_coordinate(0.0, 20.0, 5.0, 15.0, 11.0) == pytest.approx(0.0)


def test_branch_boundaries_follow_eq16():
    # a1 == b1 belongs to the "a1 <= b1" branches, a2 == b2 to the "a2 <= b2" ones.
    assert recover_coordinate(5.0, 15.0, 5.0, 15.0, 11.0) == pytest.approx(2 * 11 - 5 - 10)
    assert recover_coordinate(6.0, 15.0, 5.0, 15.0, 11.0) == pytest.approx(11 - 9 / 2)


def test_recover_box_combines_axes_and_keeps_size():
    # x: branch 1 (-> x1 = 1); y: pred [0, 20] inside occluder [-5, 30] -> y1 = z - 10 = 2.
    box = recover_box([0.0, 0.0, 10.0, 20.0], [5.0, -5.0, 15.0, 30.0], [8.0, 12.0])
    np.testing.assert_allclose(box, [1.0, 2.0, 11.0, 22.0])
    assert box.dtype == np.float64 and box.shape == (4,)


def test_recover_box_inverts_the_overlap_centre():
    """A shifted prediction in the same configuration recovers the true box exactly."""
    rng = np.random.default_rng(3)
    occluder = np.array([100.0, 50.0, 180.0, 300.0])
    for true in (
        np.array([60.0, 80.0, 120.0, 260.0]),  # far edges inside occluder (branch 1, 2)
        np.array([120.0, 70.0, 160.0, 250.0]),  # inside the occluder (branch 2)
        np.array([150.0, 100.0, 210.0, 330.0]),  # near edges inside (branch 3)
    ):
        o, _ = overlap_boxes(true, occluder[None])
        center = (o[0, :2] + o[0, 2:]) / 2
        for _ in range(5):
            pred = true + np.r_[rng.uniform(-3, 3, 2), 0, 0]
            pred[2:] = pred[:2] + (true[2:] - true[:2])
            np.testing.assert_allclose(recover_box(pred, occluder, center), true, atol=1e-9)


@pytest.mark.parametrize(
    ("pred", "occ", "center"),
    [
        ([0, 0, 10], [0, 0, 1, 1], [0, 0]),
        ([0, 0, 10, 10], [0, 0, 1, 1], [0, 0, 0]),
        ([0, 0, 10, np.nan], [0, 0, 1, 1], [0, 0]),
        (["a", "b", "c", "d"], [0, 0, 1, 1], [0, 0]),
    ],
)
def test_recover_box_rejects_bad_input(pred, occ, center):
    with pytest.raises(ValueError):
        recover_box(pred, occ, center)


# --- Eq. (10) kernel --------------------------------------------------------------------


def test_gaussian_radius_is_centernets():
    # CenterNet gaussian_radius((h=40, w=20), 0.7) by hand: r3 = (-84 + sqrt(84^2 + 4 *
    # 2.8 * 240)) / 2 = 7.3559 is the smallest of r1 = 57.55, r2 = 111.38, r3.
    assert gaussian_radius(40, 20) == pytest.approx((-84 + math.sqrt(84**2 + 2688)) / 2)
    assert gaussian_radius(40, 20) == pytest.approx(7.35585, abs=1e-4)
    assert kernel_sigma(20, 40) == pytest.approx((2 * 7.35585 + 1) / 6, abs=1e-4)


def test_kernel_score_by_hand():
    overlap = np.array([[0.0, 0.0, 20.0, 40.0]])  # centre (10, 20), 20 wide, 40 high
    sigma = (2 * 7.355851 + 1) / 6
    points = np.array([[10.0, 20.0], [12.0, 20.0], [10.0, 17.0], [30.0, 20.0]])
    expected = np.exp(-np.array([0.0, 4.0, 9.0, 400.0]) / (2 * sigma**2))
    got = kernel_score(overlap, points)
    assert got.shape == (1, 4)
    np.testing.assert_allclose(got[0], expected, rtol=1e-5, atol=1e-9)
    assert got[0, 0] == pytest.approx(1.0)
    assert got[0, 1] == pytest.approx(0.74703, abs=1e-4)  # above tau_o = 0.7
    assert got[0, 2] < 0.7  # 3 px off: below tau_o for this overlap


def test_occlusion_score_matrix_candidates():
    pred = np.array([100.0, 100.0, 140.0, 220.0])
    occluders = np.array(
        [
            [120.0, 90.0, 180.0, 260.0],  # overlaps pred: overlap [120, 100, 140, 220]
            [300.0, 100.0, 340.0, 220.0],  # does not overlap pred
        ]
    )
    centers = np.array([[130.0, 160.0], [131.0, 160.0], [90.0, 160.0]])  # last: outside
    scores = occlusion_score_matrix(pred, occluders, centers)
    assert scores.shape == (2, 3)
    assert scores[0, 0] == pytest.approx(1.0)
    assert 0.0 < scores[0, 1] < 1.0
    assert np.all(scores[1] == 0.0) and np.all(scores[:, 2] == 0.0)
    score, j, k = best_occlusion_match(pred, occluders, centers)
    assert (j, k) == (0, 0) and score == pytest.approx(1.0)
    assert best_occlusion_match(pred, occluders[1:], centers) == (0.0, -1, -1)
    assert best_occlusion_match(pred, np.zeros((0, 4)), centers) == (0.0, -1, -1)
    assert best_occlusion_match(pred, occluders, np.zeros((0, 2))) == (0.0, -1, -1)
