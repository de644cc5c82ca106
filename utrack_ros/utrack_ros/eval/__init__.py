"""Evaluation: CLEAR MOT / IDF1 / HOTA on MOTChallenge ground truth, Re-ID R1 / mAP.

Ratios are percentages (0-100); see :mod:`utrack_ros.eval.mot_metrics` for the
MOTChallenge preprocessing and conventions (MOTP = mean IoU of matches, TrackEval's).
"""

from utrack_ros.eval.mot_metrics import (
    COUNT_KEYS,
    DEFAULT_COLUMNS,
    OVERALL,
    PERCENT_KEYS,
    box_iou_xywh,
    evaluate_many,
    evaluate_sequence,
    format_table,
    resolve_gt,
)
from utrack_ros.eval.reid import reid_metrics, split_queries_gallery

__all__ = [
    "COUNT_KEYS",
    "DEFAULT_COLUMNS",
    "OVERALL",
    "PERCENT_KEYS",
    "box_iou_xywh",
    "evaluate_many",
    "evaluate_sequence",
    "format_table",
    "reid_metrics",
    "resolve_gt",
    "split_queries_gallery",
]
