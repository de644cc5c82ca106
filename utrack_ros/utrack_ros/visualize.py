"""Annotated frames: track boxes with ids, re-found boxes drawn differently, occlusion centres.

Shared by ``utrack track --video`` and the ROS node's debug image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

REFOUND_COLOR = (0, 0, 255)  # red (BGR): boxes recovered from an occlusion centre (Eq. 15)
OCCLUSION_COLOR = (0, 255, 255)  # yellow crosses: predicted occlusion centres


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread colour per id (golden-ratio hue)."""
    hue = int((track_id * 0.61803398875 % 1.0) * 179)
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _dashed_rectangle(image: np.ndarray, p1: tuple[int, int], p2: tuple[int, int],
                      color: tuple[int, int, int], thickness: int = 2, dash: int = 6) -> None:
    (x1, y1), (x2, y2) = p1, p2
    for x in range(x1, x2, 2 * dash):
        cv2.line(image, (x, y1), (min(x + dash, x2), y1), color, thickness)
        cv2.line(image, (x, y2), (min(x + dash, x2), y2), color, thickness)
    for y in range(y1, y2, 2 * dash):
        cv2.line(image, (x1, y), (x1, min(y + dash, y2)), color, thickness)
        cv2.line(image, (x2, y), (x2, min(y + dash, y2)), color, thickness)


def draw_tracks(
    image_bgr: np.ndarray,
    tracks: Sequence[Any],
    occlusion_centers: np.ndarray | None = None,
    copy: bool = True,
) -> np.ndarray:
    """Draw tracks (solid box + id; re-found: dashed red box + id) and occlusion centres.

    ``tracks`` are objects with ``track_id``, ``box_xyxy`` and ``state`` ("tracked" or
    "refound"), as :class:`utrack_ros.tracking.Track`.
    """
    canvas = image_bgr.copy() if copy else image_bgr
    for track in tracks:
        x1, y1, x2, y2 = (int(round(v)) for v in track.box_xyxy)
        refound = getattr(track, "state", "tracked") == "refound"
        color = REFOUND_COLOR if refound else track_color(int(track.track_id))
        if refound:
            _dashed_rectangle(canvas, (x1, y1), (x2, y2), color)
        else:
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
        label = f"{int(track.track_id)}" + (" R" if refound else "")
        cv2.putText(canvas, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    color, 2, cv2.LINE_AA)
    if occlusion_centers is not None:
        for x, y in np.asarray(occlusion_centers, dtype=np.float64).reshape(-1, 2):
            cv2.drawMarker(canvas, (int(round(x)), int(round(y))), OCCLUSION_COLOR,
                           cv2.MARKER_TILTED_CROSS, 10, 2)
    return canvas
