"""Datasets and MOTChallenge / CrowdHuman I/O."""

from utrack_ros.data.mot import (
    DISTRACTOR_CLASSES,
    PEDESTRIAN,
    MOTDetections,
    MOTGroundTruth,
    MOTSequence,
    SeqInfo,
    half_split,
    load_mot_det,
    load_mot_gt,
    parse_frame_range,
    read_mot_results,
    read_seqinfo,
    write_mot_results,
)

__all__ = [
    "DISTRACTOR_CLASSES",
    "PEDESTRIAN",
    "MOTDetections",
    "MOTGroundTruth",
    "MOTSequence",
    "SeqInfo",
    "half_split",
    "load_mot_det",
    "load_mot_gt",
    "parse_frame_range",
    "read_mot_results",
    "read_seqinfo",
    "write_mot_results",
]
