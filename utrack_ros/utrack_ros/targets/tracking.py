"""CenterTrack inputs and targets for the OTrack_ct variant (numpy only).

- :func:`render_previous_heatmap`: the one-channel heatmap of the previous frame's objects
  that CenterTrack feeds to the network (``pre_hm``), at *input* resolution: one Gaussian
  peak (value 1) per box at its centre, with CenterNet's radius of the box's input-pixel
  size (``gaussian_radius(ceil(h), ceil(w))``) and kernel (:func:`draw_gaussian`). At
  training time CenterTrack disturbs it so that the network learns not to copy it blindly:

  * ``hm_disturb``: each peak is moved by ``N(0, 1) * hm_disturb * (w, h)`` (CenterTrack
    0.05); here the normal draw is truncated at ±3 so the jitter is bounded by
    ``3 * hm_disturb * (w, h)`` (0.27 % of CenterTrack's draws fall beyond);
  * ``lost_disturb``: each object's peak is left out with this probability (0.4);
  * ``fp_disturb``: with this probability a second, false peak is added near a drawn
    object, at ``centre + N(0, 1) * 0.05 * (w, h)`` (0.1; CenterTrack's hard-coded 0.05
    jitter, also truncated at ±3, and, as there, never for a left-out object).

  With no disturbance (inference) the heatmap is exactly the previous tracks' peaks.
- :func:`tracking_targets`: the regression target of the ``tracking`` head: at each current
  object's centre, ``previous centre - current centre`` in output cells for objects present
  in both frames (matched by identity), masked elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._checks import as_boxes, check_nonneg_int, check_unit_interval
from .centernet import draw_gaussian, gaussian_radius

#: CenterTrack's hard-coded jitter of a false-positive peak, as a fraction of (w, h).
FP_JITTER = 0.05
#: Normal draws of the jitters are truncated at this many standard deviations.
JITTER_CLIP = 3.0


def render_previous_heatmap(
    boxes_xyxy: Any,
    input_size: tuple[int, int],
    *,
    rng: np.random.Generator | None = None,
    hm_disturb: float = 0.0,
    lost_disturb: float = 0.0,
    fp_disturb: float = 0.0,
) -> np.ndarray:
    """CenterTrack's previous-frame heatmap ``pre_hm`` of ``boxes_xyxy`` (input pixels).

    Boxes are clipped to the input ``[0, W] x [0, H]``; boxes of zero area after clipping
    draw nothing. Each box draws a Gaussian peak at ``floor(centre)`` with radius
    ``max(0, int(gaussian_radius(ceil(h), ceil(w))))`` (element-wise maximum of
    overlapping peaks), subject to the training disturbances of the module docstring.

    Args:
        boxes_xyxy: ``[N, 4]`` boxes ``x1, y1, x2, y2`` in input pixels (the previous frame's
            tracks at inference, its ground truth at training).
        input_size: ``(height, width)`` of the model input.
        rng: random generator; required when any disturbance is > 0. For the same seed,
            the draws do not depend on the rates (per box: two normal pairs, two uniforms).
        hm_disturb: jitter scale (fraction of the box size) of each peak, ``>= 0``.
        lost_disturb: probability of leaving an object out, in ``[0, 1]``.
        fp_disturb: probability of adding a false peak near an object, in ``[0, 1]``.

    Returns:
        float32 ``[1, H, W]`` heatmap, peaks exactly 1.
    """
    boxes = as_boxes(boxes_xyxy)
    try:
        height, width = input_size
    except (TypeError, ValueError) as exc:
        raise ValueError(f"input_size must be (height, width), got {input_size!r}") from exc
    height = check_nonneg_int(height, "input_size height", positive=True)
    width = check_nonneg_int(width, "input_size width", positive=True)
    try:
        hm_disturb = float(hm_disturb)
    except (TypeError, ValueError):
        hm_disturb = math.nan
    if not (math.isfinite(hm_disturb) and hm_disturb >= 0):
        raise ValueError(f"hm_disturb must be a finite number >= 0, got {hm_disturb!r}")
    lost_disturb = check_unit_interval(lost_disturb, "lost_disturb")
    fp_disturb = check_unit_interval(fp_disturb, "fp_disturb")
    disturbed = hm_disturb > 0 or lost_disturb > 0 or fp_disturb > 0
    if disturbed and rng is None:
        raise ValueError("render_previous_heatmap needs an rng when a disturbance is > 0")

    heatmap = np.zeros((1, height, width), dtype=np.float32)
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0.0, float(width))
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0.0, float(height))
    clipped = clipped[(clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])]
    n = len(clipped)
    if rng is not None:
        jitter = np.clip(rng.standard_normal((n, 2)), -JITTER_CLIP, JITTER_CLIP)
        lost = rng.random(n) < lost_disturb
        false_pos = rng.random(n) < fp_disturb
        fp_jitter = np.clip(rng.standard_normal((n, 2)), -JITTER_CLIP, JITTER_CLIP)
    else:
        jitter = fp_jitter = np.zeros((n, 2))
        lost = false_pos = np.zeros(n, dtype=bool)

    for k, box in enumerate(clipped):
        size = np.array([box[2] - box[0], box[3] - box[1]])
        radius = max(0, int(gaussian_radius(math.ceil(size[1]), math.ceil(size[0]))))
        centre = np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])
        if lost[k]:
            continue
        draw_gaussian(heatmap[0], centre + jitter[k] * hm_disturb * size, radius)
        if false_pos[k]:
            draw_gaussian(heatmap[0], centre + fp_jitter[k] * FP_JITTER * size, radius)
    return heatmap


def _centres(targets: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float centres ``[M, 2]`` (output cells), valid rows ``[M]`` and ids ``[M]`` of a
    :func:`~utrack_ros.targets.build_targets` dict: ``centre = cell(ind) + reg``."""
    for key in ("hm", "ind", "reg", "mask", "ids"):
        if key not in targets:
            raise ValueError(f"targets lack {key!r}: expected a build_targets() dict")
    out_w = int(np.shape(targets["hm"])[-1])
    ind = np.asarray(targets["ind"], dtype=np.int64)
    reg = np.asarray(targets["reg"], dtype=np.float64)
    cells = np.stack([ind % out_w, ind // out_w], axis=1).astype(np.float64)
    valid = np.asarray(targets["mask"]) > 0
    return cells + reg, valid, np.asarray(targets["ids"], dtype=np.int64)


def tracking_targets(
    current: Mapping[str, np.ndarray], previous: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Targets of the ``tracking`` head from two :func:`build_targets` dicts (same output size).

    For row ``k`` of ``current`` (an object, ``mask[k] = 1``) whose identity ``ids[k] >= 0``
    also appears among the valid rows of ``previous``: ``tracking[k] = c_prev - c_cur``,
    the offset from its current centre to its previous centre in output cells (centres
    are the float box centres, ``cell + reg``), and ``tracking_mask[k] = 1``. Every other
    row is 0 with mask 0 (objects new in this frame, unknown identities, unused rows).
    CenterTrack measures the offset from the integer cell; we measure it from the float
    centre, which is what the decoder adds it to.

    Returns:
        ``{"tracking": float32 [M, 2], "tracking_mask": float32 [M]}``.
    """
    cur_c, cur_valid, cur_ids = _centres(current)
    prev_c, prev_valid, prev_ids = _centres(previous)
    if np.shape(current["hm"])[-2:] != np.shape(previous["hm"])[-2:]:
        raise ValueError(
            f"current and previous targets have different output sizes "
            f"{np.shape(current['hm'])[-2:]} and {np.shape(previous['hm'])[-2:]}"
        )
    first: dict[int, int] = {}
    for k in np.flatnonzero(prev_valid & (prev_ids >= 0)):
        first.setdefault(int(prev_ids[k]), int(k))
    tracking = np.zeros((len(cur_c), 2), dtype=np.float32)
    mask = np.zeros(len(cur_c), dtype=np.float32)
    for k in np.flatnonzero(cur_valid & (cur_ids >= 0)):
        j = first.get(int(cur_ids[k]))
        if j is not None:
            tracking[k] = prev_c[j] - cur_c[k]
            mask[k] = 1.0
    return {"tracking": tracking, "tracking_mask": mask}
