"""Hand-computed checks of the training targets (Eq. 9-10, 13; CenterNet/FairMOT)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from utrack_ros.targets import build_targets, draw_gaussian, gaussian_radius, occlusion_centers

# ----------------------------------------------------------------------------- Eq. (9)


def test_occlusion_nested_small_inside_big_is_valid():
    # The small box lies entirely inside the big one: A(o) / min(A) = 400 / 400 = 1 > 0.7.
    centers, overlaps = occlusion_centers(np.array([[0, 0, 100, 100], [10, 10, 30, 30.0]]))
    np.testing.assert_array_equal(overlaps, [[10, 10, 30, 30]])
    np.testing.assert_array_equal(centers, [[20, 20]])


def test_occlusion_side_by_side_small_overlap_is_invalid():
    # Overlap (8, 0, 10, 10): 20 / min(100, 100) = 0.2 <= 0.7.
    centers, overlaps = occlusion_centers(np.array([[0, 0, 10, 10], [8, 0, 18, 10.0]]))
    assert centers.shape == (0, 2) and overlaps.shape == (0, 4)
    assert centers.dtype.kind == "f" and overlaps.dtype.kind == "f"


def test_occlusion_threshold_is_strict():
    # Overlap (3, 0, 10, 10): 70 / 100 = 0.7 exactly -> not valid at tau = 0.7 (strict).
    boxes = np.array([[0, 0, 10, 10], [3, 0, 13, 10.0]])
    assert occlusion_centers(boxes, tau=0.7)[0].shape == (0, 2)
    centers, overlaps = occlusion_centers(boxes, tau=0.69)
    np.testing.assert_array_equal(overlaps, [[3, 0, 10, 10]])
    np.testing.assert_array_equal(centers, [[6.5, 5]])


def test_occlusion_min_area_uses_smaller_box_and_pairs_are_ordered():
    # b0 big, b1 = 10x10 half covered by b0 (50/100 = 0.5), b2 inside b0 (1.0),
    # b1-b2 do not overlap. Only (0, 2) is valid at tau=0.7; (0, 1) and (0, 2) at tau=0.4.
    boxes = np.array([[0, 0, 20, 20], [15, 0, 25, 10], [2, 2, 6, 6.0]])
    c, o = occlusion_centers(boxes)
    np.testing.assert_array_equal(o, [[2, 2, 6, 6]])
    np.testing.assert_array_equal(c, [[4, 4]])
    c, o = occlusion_centers(boxes, tau=0.4)
    np.testing.assert_array_equal(o, [[15, 0, 20, 10], [2, 2, 6, 6]])
    np.testing.assert_array_equal(c, [[17.5, 5], [4, 4]])


def test_occlusion_zero_area_box_never_occludes():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 5, 8], [5, 5, 5, 5.0]])  # line and point inside
    c, o = occlusion_centers(boxes, tau=0.0)
    assert c.shape == (0, 2) and o.shape == (0, 4)


@pytest.mark.parametrize("boxes", [np.zeros((0, 4)), [], np.array([[0, 0, 5, 5.0]])])
def test_occlusion_fewer_than_two_boxes(boxes):
    c, o = occlusion_centers(boxes)
    assert c.shape == (0, 2) and o.shape == (0, 4)


@pytest.mark.parametrize(
    ("boxes", "match"),
    [
        (np.array([[0, 0, np.nan, 1.0]]), "finite"),
        (np.array([[0, 0, np.inf, 1.0]]), "finite"),
        (np.zeros((2, 3)), r"\[N, 4\]"),
        (np.zeros(4), r"\[N, 4\]"),
        (np.array([[10, 0, 0, 10.0]]), "inverted"),
    ],
)
def test_occlusion_rejects_bad_boxes(boxes, match):
    with pytest.raises(ValueError, match=match):
        occlusion_centers(boxes)


@pytest.mark.parametrize("tau", [-0.1, 1.5, float("nan"), "high"])
def test_occlusion_rejects_bad_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        occlusion_centers(np.zeros((0, 4)), tau=tau)


# ------------------------------------------------------------------- CenterNet helpers


def test_gaussian_radius_hand_value():
    # h = w = 10, overlap 0.7. CenterNet's three roots, (b + sqrt(b^2 - 4ac)) / 2:
    # r1: b = 20, c = 100 * 0.3 / 1.7            -> (20 + sqrt(400 - 4 * 17.647)) / 2 = 19.07
    # r2: a = 4, b = 40, c = 30                   -> (40 + sqrt(1600 - 480)) / 2       = 36.73
    # r3: a = 2.8, b = -28, c = -30               -> (-28 + sqrt(784 + 336)) / 2       = 2.733
    r3 = (-28 + math.sqrt(784 + 336)) / 2
    assert gaussian_radius(10, 10) == pytest.approx(r3, rel=1e-12)
    assert gaussian_radius(10, 10) == pytest.approx(2.7332005, abs=1e-6)
    assert gaussian_radius(0, 0) == 0.0


def test_gaussian_radius_rejects_bad_input():
    with pytest.raises(ValueError, match="height"):
        gaussian_radius(-1, 5)
    with pytest.raises(ValueError, match="min_overlap"):
        gaussian_radius(5, 5, min_overlap=1.0)


def test_draw_gaussian_hand_values_and_max():
    hm = np.zeros((5, 5), dtype=np.float32)
    draw_gaussian(hm, (2, 2), 1)
    # diameter 3, sigma = 0.5: neighbours exp(-1 / 0.5) = e^-2, diagonals e^-4.
    e2, e4 = math.exp(-2), math.exp(-4)
    expected = np.zeros((5, 5))
    expected[1:4, 1:4] = [[e4, e2, e4], [e2, 1, e2], [e4, e2, e4]]
    np.testing.assert_allclose(hm, expected, rtol=1e-6)
    # Element-wise max, not sum: a second overlapping peak keeps 1 at its own centre
    # and never exceeds 1 anywhere.
    draw_gaussian(hm, (3, 2), 1)
    assert hm[2, 2] == 1 and hm[2, 3] == 1 and hm.max() == 1
    assert hm[2, 1] == pytest.approx(e2) and hm[2, 4] == pytest.approx(e2)


def test_draw_gaussian_clips_at_border_and_outside():
    hm = np.zeros((4, 4), dtype=np.float32)
    draw_gaussian(hm, (0, 3.7), 2)  # floor -> cell (0, 3): corner
    assert hm[3, 0] == 1
    sigma = 5 / 6
    assert hm[3, 2] == pytest.approx(math.exp(-4 / (2 * sigma**2)), rel=1e-6)
    assert hm[0, 3] == 0  # outside the 5x5 kernel footprint
    hm2 = np.zeros((4, 4), dtype=np.float32)
    draw_gaussian(hm2, (-10, -10), 2)  # entirely outside: nothing drawn
    assert not hm2.any()
    draw_gaussian(hm2, (4, 1), 1)  # centre one cell right of the map: last column drawn
    assert hm2[1, 3] == pytest.approx(math.exp(-2), rel=1e-6) and hm2[1, 2] == 0
    with pytest.raises(ValueError, match="radius"):
        draw_gaussian(hm2, (1, 1), -1)
    with pytest.raises(ValueError, match="2-D"):
        draw_gaussian(np.zeros((1, 4, 4), np.float32), (1, 1), 1)


# ------------------------------------------------------------------------ build_targets


def test_build_targets_known_box():
    # Input 32 x 32 (output 8 x 8, stride 4). Box (5, 9, 19, 27) -> /4 = (1.25, 2.25, 4.75,
    # 6.75); centre (12, 18) / 4 = (3.0, 4.5); ct_int = (3, 4).
    t = build_targets(np.array([[5, 9, 19, 27.0]]), (8, 8), ids=[7], max_objects=4)
    assert t["ind"][0] == 4 * 8 + 3 == 35
    np.testing.assert_allclose(t["reg"][0], [0.0, 0.5])
    # ltrb from the float centre: (3 - 1.25, 4.5 - 2.25, 4.75 - 3, 6.75 - 4.5)
    np.testing.assert_allclose(t["wh"][0], [1.75, 2.25, 1.75, 2.25])
    np.testing.assert_array_equal(t["mask"], [1, 0, 0, 0])
    np.testing.assert_array_equal(t["ids"], [7, -1, -1, -1])
    # radius: gaussian_radius(4.5, 3.5) = 1.078 -> 1; sigma = 3 / 6 -> neighbour e^-2.
    assert t["hm"][0, 4, 3] == 1
    assert t["hm"][0, 4, 4] == pytest.approx(math.exp(-2), rel=1e-6)
    assert t["hm"][0, 3, 2] == pytest.approx(math.exp(-4), rel=1e-6)
    assert t["hm"][0, 4, 5] == 0 and t["hm"][0, 2, 3] == 0
    assert np.count_nonzero(t["hm"]) == 9
    # One box: no occlusion.
    assert not t["occ"].any() and not t["occ_mask"].any()


def test_build_targets_dtypes_and_fixed_shapes():
    for boxes in (np.zeros((0, 4)), np.array([[0, 0, 8, 8.0], [4, 4, 12, 12.0]])):
        t = build_targets(boxes, (6, 10), max_objects=5, max_occlusions=3)
        expected = {
            "hm": ((1, 6, 10), np.float32),
            "wh": ((5, 4), np.float32),
            "reg": ((5, 2), np.float32),
            "ind": ((5,), np.int64),
            "mask": ((5,), np.float32),
            "ids": ((5,), np.int64),
            "occ": ((1, 6, 10), np.float32),
            "occ_off": ((3, 2), np.float32),
            "occ_ind": ((3,), np.int64),
            "occ_mask": ((3,), np.float32),
        }
        assert set(t) == set(expected)
        for key, (shape, dtype) in expected.items():
            assert t[key].shape == shape and t[key].dtype == dtype, key


def test_build_targets_occlusion_targets():
    # Big box covers the whole 32 x 32 input; small (9, 9, 19, 19) inside -> overlap is the
    # small box, centre (14, 14) / 4 = (3.5, 3.5): cell (3, 3), offset (0.5, 0.5), ind 27.
    # Overlap size 2.5 x 2.5 cells -> gaussian_radius = 0.68 -> radius 0: single peak.
    t = build_targets(np.array([[0, 0, 32, 32], [9, 9, 19, 19.0]]), (8, 8), max_occlusions=4)
    np.testing.assert_array_equal(t["occ_mask"], [1, 0, 0, 0])
    assert t["occ_ind"][0] == 3 * 8 + 3
    np.testing.assert_allclose(t["occ_off"][0], [0.5, 0.5])
    assert t["occ"][0, 3, 3] == 1 and np.count_nonzero(t["occ"]) == 1


def test_build_targets_occlusion_radius_from_overlap_size():
    # Overlap (0, 0, 40, 40) px = 10 x 10 cells -> radius int(2.733) = 2 -> 5 x 5 footprint
    # (corners of the 5x5 kernel are > eps, so 25 non-zero cells).
    t = build_targets(np.array([[0, 0, 40, 40], [0, 0, 40, 42.0]]), (16, 16))
    c = 40 / 2 / 4  # centre 20 px -> cell 5.0
    assert t["occ"][0, int(c), int(c)] == 1
    assert np.count_nonzero(t["occ"]) == 25
    sigma = 5 / 6
    assert t["occ"][0, 5, 7] == pytest.approx(math.exp(-4 / (2 * sigma**2)), rel=1e-6)


def test_build_targets_clips_and_drops_degenerate_boxes():
    boxes = np.array(
        [
            [-10, -10, 8, 8],  # clipped to (0, 0, 8, 8): centre (1, 1) cells
            [40, 40, 50, 50],  # fully outside the 32 x 32 input -> zero area -> dropped
            [5, 5, 5, 10],  # zero width -> dropped
            [24, 28, 40, 40],  # clipped to (24, 28, 32, 32): centre (28, 30) / 4 = (7, 7.5)
        ]
    )
    t = build_targets(boxes, (8, 8), ids=[3, 4, 5, 6], max_objects=6)
    np.testing.assert_array_equal(t["mask"], [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(t["ids"][:2], [3, 6])
    np.testing.assert_array_equal(t["ind"][:2], [1 * 8 + 1, 7 * 8 + 7])
    np.testing.assert_allclose(t["wh"][0], [1, 1, 1, 1])
    np.testing.assert_allclose(t["wh"][1], [1, 0.5, 1, 0.5])
    np.testing.assert_allclose(t["reg"][1], [0, 0.5])
    assert t["ind"].max() < 64
    assert np.all(np.isfinite(t["hm"])) and t["hm"].max() == 1


def test_build_targets_empty_and_all_dropped():
    for boxes in (np.zeros((0, 4)), [], np.array([[100, 100, 120, 130.0]])):
        t = build_targets(boxes, (8, 8), max_objects=3, max_occlusions=2)
        assert not t["hm"].any() and not t["mask"].any() and not t["occ"].any()
        np.testing.assert_array_equal(t["ids"], [-1, -1, -1])


def test_build_targets_truncates_objects_and_occlusions():
    # Three nested boxes -> 3 valid occlusions; keep only 2 objects / 1 occlusion.
    boxes = np.array([[0, 0, 32, 32], [4, 4, 20, 20], [8, 8, 12, 12.0]])
    t = build_targets(boxes, (8, 8), max_objects=2, max_occlusions=1)
    assert t["mask"].sum() == 2 and t["occ_mask"].sum() == 1
    t0 = build_targets(boxes, (8, 8), max_objects=0, max_occlusions=0)
    assert t0["wh"].shape == (0, 4) and t0["occ_off"].shape == (0, 2)
    assert not t0["hm"].any() and not t0["occ"].any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"boxes_xyxy": np.array([[0, 0, np.nan, 4.0]])}, "finite"),
        ({"boxes_xyxy": np.zeros((2, 5))}, r"\[N, 4\]"),
        ({"ids": [1, 2, 3]}, "ids"),
        ({"ids": [1.5]}, "integers"),
        ({"ids": [-2]}, ">= -1"),
        ({"output_size": (0, 8)}, "output_size"),
        ({"output_size": 8}, "output_size"),
        ({"stride": 0}, "stride"),
        ({"max_objects": -1}, "max_objects"),
        ({"occlusion_tau": 2.0}, "occlusion_tau"),
    ],
)
def test_build_targets_validation(kwargs, match):
    args = {"boxes_xyxy": np.array([[0, 0, 4, 4.0]]), "output_size": (8, 8)}
    args.update(kwargs)
    boxes, size = args.pop("boxes_xyxy"), args.pop("output_size")
    with pytest.raises(ValueError, match=match):
        build_targets(boxes, size, **args)


def test_targets_package_does_not_import_torch():
    code = "import sys, utrack_ros.targets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
