"""Training augmentation of one frame and its boxes (numpy / OpenCV only).

One frame goes through, in this order:

1. **letterbox** to the model input size with :class:`utrack_ros.preprocess.Letterbox`
   (the exact preprocessing of inference: aspect kept, grey padding);
2. **HSV colour jitter** of the image content (the grey padding is left as inference sees it);
3. one **random affine** of the letterboxed canvas about its centre (scale jitter,
   translation, optional rotation), followed by an optional **horizontal flip**, applied
   with a single ``cv2.warpAffine`` (areas moved in from outside are filled with the
   letterbox grey).

Box geometry uses *continuous* pixel coordinates (a box ``x1, x2`` covers the pixels whose
centres lie between its edges; the image spans ``[0, W]``), the convention of
:class:`Letterbox` and ``cv2.resize``. The warp matrix is converted to OpenCV's
pixel-index convention, so image and boxes move together to sub-pixel precision (a flip
maps ``x`` to ``W - x`` for boxes and pixel ``i`` to ``W - 1 - i`` for the image).

Boxes are first clipped to the source frame (ground truth often extends past the image),
then their 4 corners are transformed and the enclosing axis-aligned box is taken (with a
rotation this box is larger than the object, as in FairMOT/YOLO). The result is clipped to
the input canvas; a box is dropped when the clipped area is less than
``min_area_ratio`` of the transformed area, or when its width or height in input pixels is
below ``min_size``. :attr:`AugmentResult.keep` lists the surviving input rows, so ids and
other per-box attributes follow.

``config=None`` (augment=False) is the deterministic validation path: letterbox only,
boxes clipped and filtered by the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import cv2
import numpy as np

from utrack_ros.preprocess import PAD_VALUE, Letterbox


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation of a training frame (defaults follow FairMOT's ``random_affine``).

    Attributes:
        scale: ``(low, high)`` range of the uniform scale factor applied about the input
            centre after letterboxing; ``1.0`` keeps the letterbox scale. ``0 < low <= high``.
        translate: maximal translation as a fraction of the input width (x) and height (y);
            the shift is uniform in ``[-translate, translate]``. In ``[0, 1)``.
        rotation_deg: maximal absolute rotation in degrees, uniform in
            ``[-rotation_deg, rotation_deg]``; ``0`` (default) turns rotation off, since
            rotated boxes enclose background. In ``[0, 180]``.
        flip_prob: probability of a horizontal flip. In ``[0, 1]``.
        hsv_h: maximal hue shift as a fraction of the hue circle. In ``[0, 0.5]``.
        hsv_s: saturation gain drawn uniformly from ``1 ± hsv_s``. In ``[0, 1)``.
        hsv_v: value (brightness) gain drawn uniformly from ``1 ± hsv_v``. In ``[0, 1)``.
        min_area_ratio: a box is kept when at least this fraction of its transformed area
            remains inside the input after clipping. In ``[0, 1]``.
        min_size: a kept box must be at least this wide and high in input pixels (``>= 0``).
    """

    scale: tuple[float, float] = (0.5, 1.2)
    translate: float = 0.1
    rotation_deg: float = 0.0
    flip_prob: float = 0.5
    hsv_h: float = 0.0
    hsv_s: float = 0.5
    hsv_v: float = 0.5
    min_area_ratio: float = 0.25
    min_size: float = 2.0

    def __post_init__(self) -> None:
        try:
            low, high = (float(v) for v in self.scale)
        except (TypeError, ValueError):
            raise ValueError(
                f"AugmentConfig.scale must be a (low, high) pair of numbers, got {self.scale!r}"
            ) from None
        if not (0.0 < low <= high and math.isfinite(high)):
            raise ValueError(
                f"AugmentConfig.scale must satisfy 0 < low <= high, got {self.scale!r}"
            )
        object.__setattr__(self, "scale", (low, high))
        ranges = {
            "translate": (0.0, 1.0, False),
            "rotation_deg": (0.0, 180.0, True),
            "flip_prob": (0.0, 1.0, True),
            "hsv_h": (0.0, 0.5, True),
            "hsv_s": (0.0, 1.0, False),
            "hsv_v": (0.0, 1.0, False),
            "min_area_ratio": (0.0, 1.0, True),
            "min_size": (0.0, math.inf, False),
        }
        for name, (lo, hi, hi_inclusive) in ranges.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"AugmentConfig.{name} must be a number, got {value!r}")
            value = float(value)
            ok = lo <= value and (value <= hi if hi_inclusive else value < hi)
            if not ok or math.isnan(value):
                bracket = "]" if hi_inclusive else ")"
                raise ValueError(
                    f"AugmentConfig.{name} must lie in [{lo:g}, {hi:g}{bracket}, got {value!r}"
                )
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AugmentConfig:
        """Build from a mapping (e.g. YAML); unknown keys are a ValueError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown AugmentConfig field(s) {unknown}; expected some of {sorted(known)}"
            )
        kwargs = dict(values)
        if "scale" in kwargs and isinstance(kwargs["scale"], list):
            kwargs["scale"] = tuple(kwargs["scale"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/checkpoint friendly)."""
        out = asdict(self)
        out["scale"] = list(self.scale)
        return out


@dataclass
class AugmentResult:
    """One augmented frame.

    Attributes:
        image: uint8 BGR ``[H, W, 3]`` at the model input size.
        boxes: float64 ``[K, 4]`` kept boxes, ``x1, y1, x2, y2`` input pixels, inside the image.
        keep: int64 ``[K]`` row indices of the kept boxes in the input ``boxes_xyxy``.
        matrix: float64 ``[2, 3]`` affine map frame pixels -> input pixels (continuous
            coordinates): ``p_in = matrix @ [x, y, 1]``.
        flipped: whether a horizontal flip was applied (part of ``matrix``).
    """

    image: np.ndarray
    boxes: np.ndarray
    keep: np.ndarray
    matrix: np.ndarray
    flipped: bool = False


def resolve_augment(
    augment: AugmentConfig | Mapping[str, Any] | bool | None,
) -> AugmentConfig | None:
    """Normalise the ways callers name augmentation.

    ``True`` -> default :class:`AugmentConfig`; ``False``/``None`` -> ``None`` (letterbox
    only); a mapping -> :meth:`AugmentConfig.from_dict`; a config is returned as is.
    """
    if augment is None or augment is False:
        return None
    if augment is True:
        return AugmentConfig()
    if isinstance(augment, AugmentConfig):
        return augment
    if isinstance(augment, Mapping):
        return AugmentConfig.from_dict(augment)
    raise ValueError(
        f"augment must be an AugmentConfig, a mapping of its fields, True or False; "
        f"got {type(augment).__name__}"
    )


def check_input_size(input_size: Any) -> tuple[int, int]:
    """Validate a model input size ``(height, width)``: positive multiples of 32."""
    try:
        h, w = (int(v) for v in input_size)
        valid = [float(v) for v in input_size] == [h, w]
    except (TypeError, ValueError):
        valid = False
    if not valid or h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(
            f"input_size must be (height, width), positive multiples of 32; got {input_size!r}"
        )
    return h, w


def _letterbox_matrix(lb: Letterbox) -> np.ndarray:
    return np.array([[lb.scale, 0.0, lb.pad_x], [0.0, lb.scale, lb.pad_y], [0.0, 0.0, 1.0]])


def _random_canvas_matrix(
    cfg: AugmentConfig, input_size: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """3x3 continuous-coordinate affine of the canvas: scale/rotate about the centre,
    translate, then (maybe) flip."""
    h, w = input_size
    scale = rng.uniform(cfg.scale[0], cfg.scale[1])
    angle = math.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    tx = rng.uniform(-cfg.translate, cfg.translate) * w
    ty = rng.uniform(-cfg.translate, cfg.translate) * h
    flip = bool(rng.random() < cfg.flip_prob)
    cx, cy = w / 2.0, h / 2.0
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    # p' = R S (p - c) + c + t   (y axis points down: positive angle turns clockwise on screen)
    m = np.array(
        [
            [cos, -sin, cx + tx - cos * cx + sin * cy],
            [sin, cos, cy + ty - sin * cx - cos * cy],
            [0.0, 0.0, 1.0],
        ]
    )
    if flip:
        m = np.array([[-1.0, 0.0, w], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ m
    return m, flip


def _hsv_jitter(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> None:
    """In-place HSV jitter of a uint8 BGR image (a view is fine)."""
    if cfg.hsv_h == 0 and cfg.hsv_s == 0 and cfg.hsv_v == 0:
        return
    dh = rng.uniform(-cfg.hsv_h, cfg.hsv_h) * 180.0
    gs = 1.0 + rng.uniform(-cfg.hsv_s, cfg.hsv_s)
    gv = 1.0 + rng.uniform(-cfg.hsv_v, cfg.hsv_v)
    x = np.arange(256, dtype=np.float64)
    lut_h = np.mod(np.round(x + dh), 180).astype(np.uint8)
    lut_s = np.clip(np.round(x * gs), 0, 255).astype(np.uint8)
    lut_v = np.clip(np.round(x * gv), 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2HSV)
    hch, sch, vch = cv2.split(hsv)
    hsv = cv2.merge((cv2.LUT(hch, lut_h), cv2.LUT(sch, lut_s), cv2.LUT(vch, lut_v)))
    image[...] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def transform_boxes(
    boxes_xyxy: np.ndarray,
    matrix: np.ndarray,
    frame_size: tuple[int, int],
    output_size: tuple[int, int],
    *,
    min_area_ratio: float = 0.25,
    min_size: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Map boxes by an affine ``matrix`` ([2,3] or [3,3]) and filter them.

    Boxes are clipped to the source ``frame_size`` (h, w) first, their 4 corners mapped,
    the enclosing box clipped to ``output_size`` (h, w). Returns ``(boxes [K,4], keep [K])``.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    m = np.asarray(matrix, dtype=np.float64)[:2]
    fh, fw = frame_size
    oh, ow = output_size
    src = boxes.copy()
    src[:, [0, 2]] = np.clip(src[:, [0, 2]], 0.0, fw)
    src[:, [1, 3]] = np.clip(src[:, [1, 3]], 0.0, fh)
    valid = (src[:, 2] > src[:, 0]) & (src[:, 3] > src[:, 1]) & np.all(np.isfinite(boxes), axis=1)
    idx = np.flatnonzero(valid)
    src = src[idx]
    corners = np.stack(
        [src[:, [0, 1]], src[:, [2, 1]], src[:, [0, 3]], src[:, [2, 3]]], axis=1
    )  # [n, 4, 2]
    mapped = corners @ m[:, :2].T + m[:, 2]
    out = np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=1)
    area = (out[:, 2] - out[:, 0]) * (out[:, 3] - out[:, 1])
    clipped = out.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0.0, ow)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0.0, oh)
    cw = clipped[:, 2] - clipped[:, 0]
    ch = clipped[:, 3] - clipped[:, 1]
    ok = (cw > 0) & (ch > 0) & (cw >= min_size) & (ch >= min_size)
    ok &= cw * ch >= min_area_ratio * area
    return clipped[ok], idx[ok].astype(np.int64)


def augment_frame(
    image_bgr: np.ndarray,
    boxes_xyxy: np.ndarray,
    input_size: tuple[int, int],
    config: AugmentConfig | None = None,
    rng: np.random.Generator | None = None,
) -> AugmentResult:
    """Letterbox (and, with a ``config``, randomly augment) one frame and its boxes.

    Args:
        image_bgr: uint8 ``H x W x 3`` BGR frame.
        boxes_xyxy: ``[N, 4]`` boxes in frame pixels.
        input_size: model input ``(height, width)``.
        config: :class:`AugmentConfig`, or ``None`` for the deterministic letterbox-only path
            (boxes still clipped/filtered with the default ``min_area_ratio``/``min_size``).
        rng: random generator (required when ``config`` is given).
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(
            f"expected a uint8 HxWx3 BGR image, got {image_bgr.dtype} {image_bgr.shape}"
        )
    ih, iw = int(input_size[0]), int(input_size[1])
    fh, fw = image_bgr.shape[:2]
    lb = Letterbox.fit((fh, fw), (ih, iw))
    canvas = lb.apply(image_bgr)
    lmat = _letterbox_matrix(lb)
    defaults = AugmentConfig()
    if config is None:
        boxes, keep = transform_boxes(
            boxes_xyxy,
            lmat,
            (fh, fw),
            (ih, iw),
            min_area_ratio=defaults.min_area_ratio,
            min_size=defaults.min_size,
        )
        return AugmentResult(canvas, boxes, keep, lmat[:2].copy(), False)
    if rng is None:
        raise ValueError("augment_frame needs an rng (numpy Generator) when config is given")

    top, left = int(lb.pad_y), int(lb.pad_x)
    new_h, new_w = round(fh * lb.scale), round(fw * lb.scale)
    _hsv_jitter(canvas[top : top + new_h, left : left + new_w], config, rng)

    g, flipped = _random_canvas_matrix(config, (ih, iw), rng)
    # continuous -> pixel-index convention: p_idx = p_cont - 0.5
    shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    unshift = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    g_idx = (unshift @ g @ shift)[:2]
    image = cv2.warpAffine(
        canvas,
        g_idx,
        (iw, ih),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(PAD_VALUE, PAD_VALUE, PAD_VALUE),
    )
    total = g @ lmat
    boxes, keep = transform_boxes(
        boxes_xyxy,
        total,
        (fh, fw),
        (ih, iw),
        min_area_ratio=config.min_area_ratio,
        min_size=config.min_size,
    )
    return AugmentResult(image, boxes, keep, total[:2].copy(), flipped)
