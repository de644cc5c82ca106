"""Occlusion annotations from boxes: Eq. (9) of the OUTrack paper (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_boxes, check_unit_interval


def occlusion_centers(boxes_xyxy: Any, tau: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Valid occlusions between the objects of one frame, Eq. (9).

    For every pair ``i < j`` the overlap ``o_ij = (max x1, max y1, min x2, min y2)`` is
    valid when ``A(o_ij) / min(A(b_i), A(b_j)) > tau`` (strictly). Pairs whose overlap is
    empty, and pairs with a zero-area box, never produce an occlusion. The occlusion
    centre is the midpoint of ``o_ij`` (the ``p_ij`` of Eq. (10)).

    Args:
        boxes_xyxy: ``[N, 4]`` boxes ``x1, y1, x2, y2`` (any unit; pixels by convention).
        tau: validity threshold of Eq. (9), in ``[0, 1]`` (paper default 0.7).

    Returns:
        ``(centers [K, 2], overlaps_xyxy [K, 4])`` float64, in the units of the input,
        ordered by ``(i, j)`` lexicographically; ``(0, 2)`` / ``(0, 4)`` arrays when none.

    Raises:
        ValueError: boxes not ``[N, 4]``, not finite, or inverted; ``tau`` not in [0, 1].
    """
    boxes = as_boxes(boxes_xyxy)
    tau = check_unit_interval(tau, "tau")
    n = boxes.shape[0]
    empty = (np.zeros((0, 2), dtype=np.float64), np.zeros((0, 4), dtype=np.float64))
    if n < 2:
        return empty
    ii, jj = np.triu_indices(n, k=1)
    bi, bj = boxes[ii], boxes[jj]
    ox1 = np.maximum(bi[:, 0], bj[:, 0])
    oy1 = np.maximum(bi[:, 1], bj[:, 1])
    ox2 = np.minimum(bi[:, 2], bj[:, 2])
    oy2 = np.minimum(bi[:, 3], bj[:, 3])
    ow = ox2 - ox1
    oh = oy2 - oy1
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    min_area = np.minimum(areas[ii], areas[jj])
    has_overlap = (ow > 0) & (oh > 0) & (min_area > 0)
    ratio = np.zeros_like(min_area)
    np.divide(ow * oh, min_area, out=ratio, where=has_overlap)
    valid = has_overlap & (ratio > tau)
    if not np.any(valid):
        return empty
    overlaps = np.stack([ox1, oy1, ox2, oy2], axis=1)[valid]
    centers = np.stack(
        [(overlaps[:, 0] + overlaps[:, 2]) / 2.0, (overlaps[:, 1] + overlaps[:, 3]) / 2.0],
        axis=1,
    )
    return centers, overlaps
