"""Lost object refinding from occlusion centres (OUTrack §3.2.2, Algorithm 1 step 5).

A lost track ``i`` has a Kalman-predicted box ``b~`` in the current frame. For every
current box ``b_j`` overlapping ``b~`` and every predicted occlusion centre ``p^_k`` lying
inside ``b~``, the pair is scored with the Eq. (10) Gaussian kernel

    G(O(b~, b_j), p^_k) = exp(-||p^_k - c(O)||^2 / (2 sigma_O^2)),

centred at the centre ``c(O)`` of the overlap ``O(b~, b_j)``, with ``sigma_O`` derived
from the overlap size exactly as CenterNet derives its heatmap Gaussians (which is how
the occlusion heatmap is rendered for training, Eq. 10): ``r = gaussian_radius(h, w)``
(CornerNet/CenterNet formula, min_overlap 0.7), ``sigma = diameter / 6 = (2 r + 1) / 6``.
The best pair ``(j', k')`` recovers the box with Eq. (15)-(16) when its score exceeds
``tau_o``. All functions are pure numpy.
"""

from __future__ import annotations

import numpy as np


def gaussian_radius(height, width, min_overlap: float = 0.7) -> np.ndarray:
    """CornerNet/CenterNet ``gaussian_radius`` of a ``height x width`` box (vectorised).

    The smallest of the three radii from CenterNet's ``gaussian_radius((h, w), 0.7)``,
    reproduced as published (including its ``(b + sqrt(b^2 - 4ac)) / 2`` form), so the
    kernel matches the one used to render the training heatmaps.
    """
    h = np.asarray(height, dtype=np.float64)
    w = np.asarray(width, dtype=np.float64)
    m = float(min_overlap)
    b1 = h + w
    c1 = w * h * (1 - m) / (1 + m)
    r1 = (b1 + np.sqrt(np.maximum(b1**2 - 4 * c1, 0.0))) / 2
    b2 = 2 * (h + w)
    c2 = (1 - m) * w * h
    r2 = (b2 + np.sqrt(np.maximum(b2**2 - 4 * 4 * c2, 0.0))) / 2
    a3 = 4 * m
    b3 = -2 * m * (h + w)
    c3 = (m - 1) * w * h
    r3 = (b3 + np.sqrt(np.maximum(b3**2 - 4 * a3 * c3, 0.0))) / 2
    return np.minimum(np.minimum(r1, r2), r3)


def kernel_sigma(width, height) -> np.ndarray:
    """Standard deviation of the Eq. (10) kernel for an overlap of ``width x height``.

    ``sigma = (2 r + 1) / 6`` with ``r = gaussian_radius(height, width)``: the CenterNet
    convention ``diameter = 2 r + 1``, ``sigma = diameter / 6``.
    """
    r = np.maximum(gaussian_radius(height, width), 0.0)
    return (2.0 * r + 1.0) / 6.0


def overlap_boxes(box_xyxy: np.ndarray, others_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``O(box, b_j)`` for each ``b_j``: ``([J, 4] intersections, [J] bool non-empty)``."""
    box = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
    others = np.asarray(others_xyxy, dtype=np.float64).reshape(-1, 4)
    o = np.concatenate(
        [np.maximum(box[:2], others[:, :2]), np.minimum(box[2:], others[:, 2:])], axis=1
    )
    valid = (o[:, 2] > o[:, 0]) & (o[:, 3] > o[:, 1])
    return o, valid


def kernel_score(overlaps_xyxy: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Eq. (10) kernel ``G(o_j, p_k)`` for every overlap ``o_j [J, 4]`` and point ``p_k [K, 2]``.

    Returns ``[J, K]`` scores in ``(0, 1]``: 1 when the point is the overlap's centre.
    """
    o = np.asarray(overlaps_xyxy, dtype=np.float64).reshape(-1, 4)
    p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    centers = (o[:, :2] + o[:, 2:]) / 2  # [J, 2]
    sigma = kernel_sigma(o[:, 2] - o[:, 0], o[:, 3] - o[:, 1])  # [J]
    d2 = np.sum((p[None, :, :] - centers[:, None, :]) ** 2, axis=-1)  # [J, K]
    return np.exp(-d2 / (2.0 * sigma[:, None] ** 2))


def occlusion_score_matrix(
    pred_xyxy: np.ndarray, occluders_xyxy: np.ndarray, centers_xy: np.ndarray
) -> np.ndarray:
    """``[J, K]`` scores ``G(O(b~, b_j), p^_k)`` of every occluder / centre pair (Eq. 10).

    Pairs are candidates only when the occluder overlaps the predicted box ``b~`` and the
    centre lies inside ``b~`` (borders included); other entries are 0.
    """
    pred = np.asarray(pred_xyxy, dtype=np.float64).reshape(4)
    occluders = np.asarray(occluders_xyxy, dtype=np.float64).reshape(-1, 4)
    centers = np.asarray(centers_xy, dtype=np.float64).reshape(-1, 2)
    scores = np.zeros((len(occluders), len(centers)))
    if len(occluders) == 0 or len(centers) == 0:
        return scores
    overlaps, valid = overlap_boxes(pred, occluders)
    inside = (
        (centers[:, 0] >= pred[0])
        & (centers[:, 0] <= pred[2])
        & (centers[:, 1] >= pred[1])
        & (centers[:, 1] <= pred[3])
    )
    if valid.any() and inside.any():
        scores[np.ix_(valid, inside)] = kernel_score(overlaps[valid], centers[inside])
    return scores


def best_occlusion_match(
    pred_xyxy: np.ndarray, occluders_xyxy: np.ndarray, centers_xy: np.ndarray
) -> tuple[float, int, int]:
    """Algorithm 1 line 19: ``(j', k') = argmax_{j,k} G(O(b~, b_j), p^_k)``.

    Candidates as in :func:`occlusion_score_matrix`. Returns ``(score, j', k')`` with
    indices into the given arrays, or ``(0.0, -1, -1)`` when there is no candidate pair.
    """
    scores = occlusion_score_matrix(pred_xyxy, occluders_xyxy, centers_xy)
    if scores.size == 0 or not np.any(scores > 0):
        return 0.0, -1, -1
    j, k = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[j, k]), int(j), int(k)


def refind_lost_tracks(
    pred_boxes_xyxy: np.ndarray,
    occluders_xyxy: np.ndarray,
    centers_xy: np.ndarray,
    threshold: float,
) -> list[tuple[int, np.ndarray, float]]:
    """Algorithm 1 lines 19-21 for several lost tracks at once.

    Every lost track ``i`` (predicted box ``pred_boxes_xyxy[i]``) is scored against every
    occluder / centre pair (:func:`occlusion_score_matrix`); pairs are taken greedily, best
    kernel score first, while the score is above ``threshold`` (``tau_o``). A track is
    refound at most once and each occlusion centre refinds at most one track (an Eq. (9)
    centre is the overlap of one pair of objects); an occluder may hide several tracks.

    Returns:
        ``[(i, recovered box [4] (Eq. 15-16), kernel score), ...]`` in the order found.
    """
    preds = np.asarray(pred_boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    occluders = np.asarray(occluders_xyxy, dtype=np.float64).reshape(-1, 4)
    centers = np.asarray(centers_xy, dtype=np.float64).reshape(-1, 2)
    if len(preds) == 0 or len(occluders) == 0 or len(centers) == 0:
        return []
    scores = np.stack([occlusion_score_matrix(p, occluders, centers) for p in preds])
    found: list[tuple[int, np.ndarray, float]] = []
    while True:
        i, j, k = np.unravel_index(int(np.argmax(scores)), scores.shape)
        best = float(scores[i, j, k])
        if not best > threshold:
            break
        found.append((int(i), recover_box(preds[i], occluders[j], centers[k]), best))
        scores[i] = 0.0
        scores[:, :, k] = 0.0
    return found


def recover_coordinate(a1: float, a2: float, b1: float, b2: float, z: float) -> float:
    """Eq. (16) ``F(a1, a2, b1, b2, z)``: the lost box's near edge along one axis.

    ``[a1, a2]`` is the predicted box's extent, ``[b1, b2]`` the occluder's, ``z`` the
    occlusion centre. The branch is the overlap configuration of the predicted box:
    its far edge inside the occluder (``a1 <= b1, a2 <= b2``: overlap ``[b1, a2]``), the
    box inside the occluder (overlap ``[a1, a2]``), its near edge inside the occluder
    (``a1 > b1, a2 > b2``: overlap ``[a1, b2]``); for each, the edge that puts the overlap
    centre at ``z``. Otherwise (the occluder inside the box) ``z`` says nothing: ``a1``.
    """
    if a1 <= b1 and a2 <= b2:
        return 2.0 * z - b1 - (a2 - a1)
    if a1 > b1 and a2 <= b2:
        return z - (a2 - a1) / 2.0
    if a1 > b1 and a2 > b2:
        return 2.0 * z - b2
    return a1


def recover_box(pred_xyxy, occluder_xyxy, occ_center_xy) -> np.ndarray:
    """Eq. (15): recover a lost object's box from its prediction, occluder and centre.

    The size of the predicted box ``b~`` is kept; its top-left corner is moved (per axis,
    Eq. 16) so that the centre of its overlap with the occluder ``b_j'`` falls on the
    occlusion centre ``p^_k'``.

    Args:
        pred_xyxy: ``[4]`` Kalman-predicted box ``b~`` of the lost object.
        occluder_xyxy: ``[4]`` box ``b_j'`` of the occluding object in this frame.
        occ_center_xy: ``[2]`` occlusion centre ``p^_k'``.

    Returns:
        ``[4]`` float64 recovered box ``(x1, y1, x2, y2)``.
    """
    pred = _vector(pred_xyxy, 4, "pred_xyxy")
    occ = _vector(occluder_xyxy, 4, "occluder_xyxy")
    z = _vector(occ_center_xy, 2, "occ_center_xy")
    w, h = pred[2] - pred[0], pred[3] - pred[1]
    x1 = recover_coordinate(pred[0], pred[2], occ[0], occ[2], z[0])
    y1 = recover_coordinate(pred[1], pred[3], occ[1], occ[3], z[1])
    return np.array([x1, y1, x1 + w, y1 + h], dtype=np.float64)


def _vector(value, size: int, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64).reshape(-1)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have {size} values, got shape {np.shape(value)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr
