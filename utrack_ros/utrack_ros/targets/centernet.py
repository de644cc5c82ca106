"""CenterNet/FairMOT detection targets plus the OUTrack occlusion targets (numpy only).

Detection targets follow FairMOT (``ltrb`` box regression); occlusion targets follow
Eq. (9)-(10) and (13) of the OUTrack paper. See ``docs/ARCHITECTURE.md`` for the contract.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._checks import as_boxes, check_nonneg_int, check_unit_interval
from .occlusion import occlusion_centers


def _check_size(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """Gaussian radius of a box of ``height x width``, as CornerNet/CenterNet.

    The smallest of the three radii for which a corner displacement keeps an IoU of at
    least ``min_overlap`` (both corners inside, both outside, one in one out). It is the
    exact CenterNet ``gaussian_radius`` formula, including its ``(b + sqrt(b^2 - 4ac)) / 2``
    root (not ``/ 2a``), so heatmaps match those of CenterNet, FairMOT and OUTrack.

    Raises:
        ValueError: negative or non-finite size, or ``min_overlap`` not in (0, 1).
    """
    h = _check_size(height, "height")
    w = _check_size(width, "width")
    ov = check_unit_interval(min_overlap, "min_overlap", closed=False)

    b1 = h + w
    c1 = w * h * (1 - ov) / (1 + ov)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2

    a2 = 4.0
    b2 = 2 * (h + w)
    c2 = (1 - ov) * w * h
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2

    a3 = 4 * ov
    b3 = -2 * ov * (h + w)
    c3 = (ov - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return float(min(r1, r2, r3))


def _gaussian_2d(radius: int) -> np.ndarray:
    """CenterNet's ``gaussian2D((d, d), sigma=d / 6)`` with ``d = 2 * radius + 1``."""
    diameter = 2 * radius + 1
    sigma = diameter / 6.0
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(offsets[None, :] ** 2 + offsets[:, None] ** 2) / (2 * sigma * sigma))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    return g


def draw_gaussian(heatmap: np.ndarray, center_xy: Sequence[float], radius: float) -> None:
    """Splat a Gaussian peak (value 1 at the centre cell) into ``heatmap`` in place.

    Same kernel as CenterNet's ``draw_umich_gaussian``: diameter ``2r + 1``, sigma
    ``diameter / 6``, combined by element-wise maximum, clipped at the borders. The
    centre cell is ``floor(center_xy)``; a centre outside the map draws only the part
    of the kernel that falls inside.

    Args:
        heatmap: ``[h, w]`` float array, modified in place.
        center_xy: ``(x, y)`` in heatmap cells.
        radius: kernel radius in cells (``int(radius)`` is used), ``>= 0``.

    Raises:
        ValueError: heatmap not a 2-D float array, centre not 2 finite numbers, or
            radius negative / not finite.
    """
    if not isinstance(heatmap, np.ndarray) or heatmap.ndim != 2:
        raise ValueError(
            f"heatmap must be a 2-D numpy array [h, w], got {type(heatmap).__name__}"
            f"{getattr(heatmap, 'shape', '')}"
        )
    if not np.issubdtype(heatmap.dtype, np.floating):
        raise ValueError(f"heatmap must have a float dtype, got {heatmap.dtype}")
    c = np.asarray(center_xy, dtype=np.float64).reshape(-1)
    if c.shape != (2,) or not np.all(np.isfinite(c)):
        raise ValueError(f"center_xy must be two finite numbers (x, y), got {center_xy!r}")
    r = int(_check_size(radius, "radius"))
    x, y = math.floor(c[0]), math.floor(c[1])
    height, width = heatmap.shape
    x0, x1 = max(x - r, 0), min(x + r + 1, width)
    y0, y1 = max(y - r, 0), min(y + r + 1, height)
    if x0 >= x1 or y0 >= y1:
        return
    g = _gaussian_2d(r)
    gx0, gy0 = x0 - (x - r), y0 - (y - r)
    patch = g[gy0 : gy0 + (y1 - y0), gx0 : gx0 + (x1 - x0)]
    region = heatmap[y0:y1, x0:x1]
    np.maximum(region, patch, out=region, casting="unsafe")


def _check_output_size(output_size: Any) -> tuple[int, int]:
    try:
        h, w = output_size
    except (TypeError, ValueError) as exc:
        raise ValueError(f"output_size must be (height, width), got {output_size!r}") from exc
    return (
        check_nonneg_int(h, "output_size height", positive=True),
        check_nonneg_int(w, "output_size width", positive=True),
    )


def _check_ids(ids: Any, n: int) -> np.ndarray:
    if ids is None:
        return np.full(n, -1, dtype=np.int64)
    arr = np.asarray(ids)
    if arr.size == 0 and n == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"ids must have shape [N] = [{n}] (one per box), got {arr.shape}")
    integral = np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating)
        and bool(np.all(np.isfinite(arr) & (arr == np.round(arr))))
    )
    if not integral:
        raise ValueError(f"ids must be integers (-1 = unknown), got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any(arr < -1):
        raise ValueError(f"ids must be >= -1 (-1 = unknown), got min {int(arr.min())}")
    return arr


def _cell(center: np.ndarray, h: int, w: int) -> tuple[int, int]:
    """Integer cell ``floor(center)`` clamped into the ``h x w`` map."""
    x = min(max(math.floor(center[0]), 0), w - 1)
    y = min(max(math.floor(center[1]), 0), h - 1)
    return x, y


def build_targets(
    boxes_xyxy: Any,
    output_size: tuple[int, int],
    *,
    ids: Any = None,
    stride: int = 4,
    max_objects: int = 500,
    max_occlusions: int = 500,
    occlusion_tau: float = 0.7,
) -> dict[str, np.ndarray]:
    """Training targets of one image: CenterNet/FairMOT detection + occlusion, Eq. (9)-(13).

    Boxes (input pixels, ``x1, y1, x2, y2``) are clipped to the input
    ``(output_size * stride)``; boxes of zero area after clipping are dropped and the rest
    are truncated to ``max_objects``. For each kept box, in output cells:
    ``ct = box centre / stride`` (float), ``ct_int = floor(ct)``;
    ``hm`` gets a Gaussian at ``ct_int`` of radius
    ``max(0, int(gaussian_radius(h / stride, w / stride)))``; ``wh`` is the FairMOT
    ``ltrb`` distance from ``ct`` to the left, top, right and bottom edges; ``reg = ct -
    ct_int``; ``ind = y * w + x``; ``mask = 1``; ``ids`` the identity (-1 unknown).

    Occlusions (Eq. 9) are computed on all kept, clipped boxes (before truncation to
    ``max_objects``) and truncated to ``max_occlusions``. Each overlap ``o_ij`` draws a
    Gaussian into ``occ`` (Eq. 10) at ``floor(p_ij / stride)`` with the radius of the
    overlap's size in output cells; ``occ_off = p_ij / stride - floor(p_ij / stride)``
    is the target of Eq. (13) at ``occ_ind``; ``occ_mask`` marks the valid rows.

    Returns:
        dict of numpy arrays with fixed shapes (``M = max_objects``,
        ``Mo = max_occlusions``): ``hm`` float32 [1, h, w], ``wh`` float32 [M, 4],
        ``reg`` float32 [M, 2], ``ind`` int64 [M], ``mask`` float32 [M], ``ids`` int64 [M]
        (-1 unknown and in unused rows), ``occ`` float32 [1, h, w], ``occ_off`` float32
        [Mo, 2], ``occ_ind`` int64 [Mo], ``occ_mask`` float32 [Mo].

    Raises:
        ValueError: boxes not a finite ``[N, 4]`` array or inverted, ids not ``[N]``
            integers >= -1, or invalid sizes / limits / threshold.
    """
    boxes = as_boxes(boxes_xyxy)
    out_h, out_w = _check_output_size(output_size)
    stride = check_nonneg_int(stride, "stride", positive=True)
    max_objects = check_nonneg_int(max_objects, "max_objects")
    max_occlusions = check_nonneg_int(max_occlusions, "max_occlusions")
    tau = check_unit_interval(occlusion_tau, "occlusion_tau")
    obj_ids = _check_ids(ids, boxes.shape[0])

    in_w, in_h = out_w * stride, out_h * stride
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0.0, float(in_w))
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0.0, float(in_h))
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    clipped, obj_ids = clipped[keep], obj_ids[keep]

    hm = np.zeros((1, out_h, out_w), dtype=np.float32)
    wh = np.zeros((max_objects, 4), dtype=np.float32)
    reg = np.zeros((max_objects, 2), dtype=np.float32)
    ind = np.zeros((max_objects,), dtype=np.int64)
    mask = np.zeros((max_objects,), dtype=np.float32)
    ids_out = np.full((max_objects,), -1, dtype=np.int64)

    for k, box in enumerate(clipped[:max_objects]):
        b = box / stride
        ct = np.array([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0])
        x, y = _cell(ct, out_h, out_w)
        radius = max(0, int(gaussian_radius(b[3] - b[1], b[2] - b[0])))
        draw_gaussian(hm[0], (x, y), radius)
        wh[k] = (ct[0] - b[0], ct[1] - b[1], b[2] - ct[0], b[3] - ct[1])
        reg[k] = (ct[0] - x, ct[1] - y)
        ind[k] = y * out_w + x
        mask[k] = 1.0
        ids_out[k] = obj_ids[k]

    occ = np.zeros((1, out_h, out_w), dtype=np.float32)
    occ_off = np.zeros((max_occlusions, 2), dtype=np.float32)
    occ_ind = np.zeros((max_occlusions,), dtype=np.int64)
    occ_mask = np.zeros((max_occlusions,), dtype=np.float32)
    if max_occlusions > 0:
        centers, overlaps = occlusion_centers(clipped, tau=tau)
        for k in range(min(centers.shape[0], max_occlusions)):
            pc = centers[k] / stride
            o = overlaps[k] / stride
            x, y = _cell(pc, out_h, out_w)
            radius = max(0, int(gaussian_radius(o[3] - o[1], o[2] - o[0])))
            draw_gaussian(occ[0], (x, y), radius)
            occ_off[k] = (pc[0] - x, pc[1] - y)
            occ_ind[k] = y * out_w + x
            occ_mask[k] = 1.0

    return {
        "hm": hm,
        "wh": wh,
        "reg": reg,
        "ind": ind,
        "mask": mask,
        "ids": ids_out,
        "occ": occ,
        "occ_off": occ_off,
        "occ_ind": occ_ind,
        "occ_mask": occ_mask,
    }
