"""Augmentation: image and boxes move together, flip, letterbox, clipping and dropping."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from utrack_ros.data.augment import (
    AugmentConfig,
    augment_frame,
    check_input_size,
    resolve_augment,
    transform_boxes,
)
from utrack_ros.preprocess import PAD_VALUE, Letterbox

INPUT = (256, 320)


def _rect_image(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    image = np.zeros((h, w, 3), dtype=np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255  # pixels x1 .. x2-1 = continuous [x1, x2]
    return image


def _bright_extent(image: np.ndarray, thresh: int = 200) -> tuple[int, int, int, int] | None:
    """Continuous extent [x1, x2] x [y1, y2] of the pixels brighter than thresh."""
    ys, xs = np.nonzero(image.min(axis=2) > thresh)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


GEOMETRY_ONLY = dict(hsv_h=0.0, hsv_s=0.0, hsv_v=0.0)


@pytest.mark.parametrize("seed", range(8))
def test_box_follows_filled_rectangle(seed: int) -> None:
    box = (150, 90, 260, 300)
    image = _rect_image(480, 640, box)
    cfg = AugmentConfig(scale=(0.6, 1.4), translate=0.15, flip_prob=0.5, **GEOMETRY_ONLY)
    res = augment_frame(image, np.array([box], float), INPUT, cfg, np.random.default_rng(seed))
    assert res.image.shape == (*INPUT, 3) and res.image.dtype == np.uint8
    extent = _bright_extent(res.image)
    if len(res.keep) == 0:
        # dropped only when most of it left the canvas
        moved = transform_boxes(
            np.array([box], float), res.matrix, (480, 640), INPUT, min_area_ratio=0.0, min_size=0.0
        )[0]
        full = (res.matrix[:, :2] @ np.array([[box[0], box[2]], [box[1], box[3]]])).T
        area = abs(np.prod(full[1] - full[0]))
        assert len(moved) == 0 or np.prod(moved[0, 2:] - moved[0, :2]) < 0.25 * area
        return
    assert extent is not None
    b = res.boxes[0]
    # the box encloses the rectangle's pixels and is tight (no rotation) to interpolation
    assert b[0] <= extent[0] + 1 and b[1] <= extent[1] + 1
    assert b[2] >= extent[2] - 1 and b[3] >= extent[3] - 1
    assert np.allclose(b, extent, atol=1.5)


@pytest.mark.parametrize("seed", range(4))
def test_rotated_box_encloses_rectangle(seed: int) -> None:
    box = (250, 150, 380, 330)
    image = _rect_image(480, 640, box)
    cfg = AugmentConfig(scale=(0.8, 1.0), translate=0.05, rotation_deg=20, **GEOMETRY_ONLY)
    res = augment_frame(image, np.array([box], float), INPUT, cfg, np.random.default_rng(seed))
    assert len(res.keep) == 1
    extent = _bright_extent(res.image)
    b = res.boxes[0]
    assert b[0] <= extent[0] + 1 and b[1] <= extent[1] + 1
    assert b[2] >= extent[2] - 1 and b[3] >= extent[3] - 1


def test_flip_is_exact_mirror() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 20.0, 60.0, 120.0], [200.5, 30.0, 300.0, 200.0]])
    cfg = AugmentConfig(scale=(1, 1), translate=0.0, flip_prob=1.0, **GEOMETRY_ONLY)
    res = augment_frame(image, boxes, INPUT, cfg, np.random.default_rng(1))
    plain = augment_frame(image, boxes, INPUT)
    assert res.flipped
    np.testing.assert_array_equal(res.image, cv2.flip(plain.image, 1))
    w = INPUT[1]
    expected = plain.boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [w, 0, w, 0]
    np.testing.assert_allclose(res.boxes, expected, atol=1e-9)
    np.testing.assert_array_equal(res.keep, [0, 1])


def test_letterbox_path_round_trip() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(576, 768, 3), dtype=np.uint8)
    boxes = np.array([[-20.0, 100.0, 40.0, 260.0], [300.0, 200.0, 350.0, 330.0]])
    res = augment_frame(image, boxes, (384, 512))
    lb = Letterbox.fit((576, 768), (384, 512))
    np.testing.assert_array_equal(res.image, lb.apply(image))
    assert not res.flipped
    np.testing.assert_allclose(
        res.matrix, [[lb.scale, 0, lb.pad_x], [0, lb.scale, lb.pad_y]], atol=1e-12
    )
    clipped = boxes.copy()
    clipped[0, 0] = 0.0  # clipped to the frame before mapping
    np.testing.assert_allclose(lb.boxes_to_frame(res.boxes), clipped, atol=1e-9)
    np.testing.assert_array_equal(res.keep, [0, 1])


def test_letterbox_path_with_padding_and_matrix_maps_points() -> None:
    image = np.zeros((300, 900, 3), dtype=np.uint8)  # wide: pads top and bottom
    res = augment_frame(image, np.zeros((0, 4)), (384, 512))
    lb = Letterbox.fit((300, 900), (384, 512))
    assert lb.pad_y > 0
    assert (res.image[: int(lb.pad_y)] == PAD_VALUE).all()
    assert res.boxes.shape == (0, 4) and res.keep.shape == (0,)


def test_hsv_jitter_leaves_padding_grey() -> None:
    image = np.full((300, 900, 3), (40, 120, 200), dtype=np.uint8)
    cfg = AugmentConfig(scale=(1, 1), translate=0.0, flip_prob=0.0, hsv_h=0.1, hsv_s=0.5, hsv_v=0.5)
    lb = Letterbox.fit((300, 900), (384, 512))
    changed = False
    for seed in range(5):
        res = augment_frame(image, np.zeros((0, 4)), (384, 512), cfg, np.random.default_rng(seed))
        assert (res.image[: int(lb.pad_y) - 1] == PAD_VALUE).all()
        centre = res.image[192, 256]
        changed |= not np.array_equal(centre, [40, 120, 200])
    assert changed


def test_clipping_and_dropping_rules() -> None:
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    boxes = np.array(
        [
            [-50.0, 10.0, 50.0, 50.0],  # half outside the *source*: clipped, kept
            [90.0, 10.0, 130.0, 50.0],  # 25 % inside the canvas (w=100): kept at 0.25
            [95.0, 10.0, 135.0, 50.0],  # 12.5 % inside: dropped
            [200.0, 10.0, 240.0, 50.0],  # outside: dropped
            [20.0, 20.0, 20.0, 40.0],  # degenerate: dropped
            [30.0, 30.0, 31.0, 60.0],  # 1 px wide < min_size 2: dropped
            [10.0, 60.0, 40.0, 90.0],  # inside: kept
        ]
    )
    out, keep = transform_boxes(
        boxes, identity, (100, 300), (100, 100), min_area_ratio=0.25, min_size=2.0
    )
    np.testing.assert_array_equal(keep, [0, 1, 6])
    np.testing.assert_allclose(out[0], [0, 10, 50, 50])
    np.testing.assert_allclose(out[1], [90, 10, 100, 50])
    np.testing.assert_allclose(out[2], boxes[6])


def test_keep_indices_follow_ids_under_translation() -> None:
    rng = np.random.default_rng(3)
    h, w = 480, 640
    xs = np.linspace(10, 600, 12)
    boxes = np.stack([xs, np.full(12, 200.0), xs + 30, np.full(12, 290.0)], axis=1)
    ids = np.arange(100, 112)
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    cfg = AugmentConfig(scale=(1.3, 1.4), translate=0.2, flip_prob=0.5)
    for seed in range(6):
        res = augment_frame(image, boxes, INPUT, cfg, np.random.default_rng(seed))
        kept_ids = ids[res.keep]
        centres = (boxes[res.keep, :2] + boxes[res.keep, 2:]) / 2
        mapped = centres @ res.matrix[:, :2].T + res.matrix[:, 2]
        # a kept box that was not clipped is centred on its mapped centre
        b = res.boxes
        inside = (b[:, 0] > 0) & (b[:, 1] > 0) & (b[:, 2] < INPUT[1]) & (b[:, 3] < INPUT[0])
        assert inside.sum() >= 2
        got = (b[:, :2] + b[:, 2:]) / 2
        np.testing.assert_allclose(got[inside], mapped[inside], atol=1e-6)
        assert len(set(kept_ids.tolist())) == len(kept_ids)


def test_same_seed_same_result_and_rng_required() -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    boxes = np.array([[50.0, 50.0, 120.0, 180.0]])
    a = augment_frame(image, boxes, INPUT, AugmentConfig(), np.random.default_rng(7))
    b = augment_frame(image, boxes, INPUT, AugmentConfig(), np.random.default_rng(7))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    with pytest.raises(ValueError, match="rng"):
        augment_frame(image, boxes, INPUT, AugmentConfig())
    with pytest.raises(ValueError, match="uint8"):
        augment_frame(image.astype(np.float32), boxes, INPUT)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"scale": (1.2, 0.5)}, "scale"),
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"scale": "big"}, "scale"),
        ({"translate": 1.0}, "translate"),
        ({"rotation_deg": -1}, "rotation_deg"),
        ({"flip_prob": 1.5}, "flip_prob"),
        ({"hsv_h": 0.6}, "hsv_h"),
        ({"hsv_s": 1.0}, "hsv_s"),
        ({"hsv_v": float("nan")}, "hsv_v"),
        ({"min_area_ratio": 2.0}, "min_area_ratio"),
        ({"min_size": -1}, "min_size"),
        ({"flip_prob": True}, "flip_prob"),
    ],
)
def test_config_validation_names_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"AugmentConfig.{field}"):
        AugmentConfig(**kwargs)


def test_config_from_dict_and_resolve() -> None:
    cfg = AugmentConfig.from_dict({"scale": [0.7, 1.1], "flip_prob": 0})
    assert cfg.scale == (0.7, 1.1) and cfg.flip_prob == 0.0
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown AugmentConfig field"):
        AugmentConfig.from_dict({"scales": [1, 2]})
    assert resolve_augment(True) == AugmentConfig()
    assert resolve_augment(False) is None and resolve_augment(None) is None
    assert resolve_augment({"translate": 0.2}).translate == 0.2
    with pytest.raises(ValueError, match="augment must be"):
        resolve_augment("yes")


def test_check_input_size() -> None:
    assert check_input_size([384, 512]) == (384, 512)
    for bad in [(384, 500), (0, 32), (32,), "384x512", (32.5, 64)]:
        with pytest.raises(ValueError, match="input_size"):
            check_input_size(bad)
