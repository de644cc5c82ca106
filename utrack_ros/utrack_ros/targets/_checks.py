"""Input validation shared by the target builders (numpy only)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def as_boxes(boxes_xyxy: Any, name: str = "boxes_xyxy") -> np.ndarray:
    """Return ``boxes_xyxy`` as a float64 ``[N, 4]`` array, or raise ``ValueError``.

    An empty sequence (``[]``, shape ``(0,)``) is accepted as zero boxes. Boxes must be
    finite and ordered ``x1 <= x2``, ``y1 <= y2`` (zero width/height is allowed: such a
    box has zero area and is ignored by the callers).
    """
    try:
        arr = np.asarray(boxes_xyxy, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array of shape [N, 4]: {exc}") from exc
    if (arr.ndim == 1 and arr.size == 0) or (
        arr.ndim == 2 and arr.shape[0] == 0 and arr.shape[1] in (0, 4)
    ):
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, 4] (x1, y1, x2, y2), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
        raise ValueError(f"{name} must be finite; rows {bad.tolist()[:10]} contain NaN or inf")
    inverted = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if np.any(inverted):
        bad = np.flatnonzero(inverted)
        raise ValueError(
            f"{name} must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1; rows "
            f"{bad.tolist()[:10]} are inverted (were boxes given as x, y, w, h?)"
        )
    return arr


def check_nonneg_int(value: Any, name: str, *, positive: bool = False) -> int:
    """Return ``value`` as ``int`` when it is an integer >= 0 (> 0 if ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < (1 if positive else 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value}")
    return value


def check_unit_interval(value: Any, name: str, *, closed: bool = True) -> float:
    """Return ``value`` as ``float`` when finite and in [0, 1] (or (0, 1) when not closed)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    ok = (0.0 <= v <= 1.0) if closed else (0.0 < v < 1.0)
    if not math.isfinite(v) or not ok:
        rng = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{name} must be in {rng}, got {value!r}")
    return v
