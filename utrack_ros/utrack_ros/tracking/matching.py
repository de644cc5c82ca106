"""Association costs and assignment: small pure functions in the style of ByteTrack's
``yolox/tracker/matching.py`` (and FairMOT's ``tracker/matching.py``).

Every cost is a *distance* (lower is better) in a ``[num_tracks, num_detections]`` matrix;
:func:`linear_assignment` keeps pairs whose cost is at most a threshold.
"""

from __future__ import annotations

import lap
import numpy as np

from utrack_ros.tracking.kalman import CHI2INV95


def box_area(boxes_xyxy: np.ndarray) -> np.ndarray:
    """Areas of ``[..., 4]`` boxes (0 for empty or inverted boxes)."""
    b = np.asarray(boxes_xyxy, dtype=np.float64)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union ``[N, M]`` of ``[N, 4]`` and ``[M, 4]`` xyxy boxes."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def iou_distance(track_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
    """``1 - IoU`` ``[N, M]`` (ByteTrack ``iou_distance``)."""
    return 1.0 - iou_matrix(track_boxes, det_boxes)


def normalize_rows(features: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm; all-zero rows stay zero."""
    f = np.asarray(features, dtype=np.float64)
    norm = np.linalg.norm(f, axis=-1, keepdims=True)
    return f / np.maximum(norm, 1e-12)


def embedding_distance(track_features: np.ndarray, det_features: np.ndarray) -> np.ndarray:
    """Cosine distance ``[N, M]`` clipped to ``>= 0`` (FairMOT ``embedding_distance``).

    Features need not be normalised; an all-zero feature is at distance 1 from everything.
    """
    t = normalize_rows(np.asarray(track_features, dtype=np.float64))
    d = normalize_rows(np.asarray(det_features, dtype=np.float64))
    if t.shape[0] == 0 or d.shape[0] == 0:
        return np.zeros((t.shape[0], d.shape[0]))
    return np.clip(1.0 - t @ d.T, 0.0, None)


def fuse_motion(
    cost: np.ndarray,
    gating_distance: np.ndarray,
    lambda_: float = 0.98,
    gating_threshold: float = CHI2INV95[4],
) -> np.ndarray:
    """FairMOT ``fuse_motion``: gate and blend an appearance cost with Kalman distances.

    ``cost = lambda_ * cost + (1 - lambda_) * gating_distance``, then ``inf`` wherever the
    squared Mahalanobis distance exceeds ``gating_threshold`` (chi-square 95 %, 4 dof).
    """
    cost = np.asarray(cost, dtype=np.float64)
    gating_distance = np.asarray(gating_distance, dtype=np.float64)
    if cost.shape != gating_distance.shape:
        raise ValueError(f"cost {cost.shape} and gating {gating_distance.shape} differ")
    fused = lambda_ * cost + (1.0 - lambda_) * gating_distance
    fused[gating_distance > gating_threshold] = np.inf
    return fused


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost assignment (``lap.lapjv``) keeping pairs with ``cost <= thresh``.

    Returns ``matches [K, 2]`` (row, column), unmatched rows and unmatched columns,
    each as sorted int arrays.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(n), np.arange(m)
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
    rows = np.flatnonzero(x >= 0)
    cols = x[rows].astype(np.int64)
    ok = cost[rows, cols] <= thresh
    matches = np.stack([rows[ok], cols[ok]], axis=1).astype(np.int64)
    unmatched_rows = np.setdiff1d(np.arange(n), matches[:, 0])
    unmatched_cols = np.setdiff1d(np.arange(m), matches[:, 1])
    return matches, unmatched_rows, unmatched_cols
