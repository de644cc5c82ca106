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

# Training data (augmentation, CrowdHuman, frame pairs, centertrack samples). Loaded on first
# use (PEP 562) so that reading MOT files does not import torch.
_LAZY = {
    "AugmentConfig": "augment",
    "AugmentResult": "augment",
    "augment_frame": "augment",
    "transform_boxes": "augment",
    "CenterTrackDataset": "centertrack",
    "PreHeatmapConfig": "centertrack",
    "build_centertrack_dataset": "centertrack",
    "collate_centertrack": "centertrack",
    "CrowdHumanImages": "crowdhuman",
    "CrowdHumanRecord": "crowdhuman",
    "read_crowdhuman_odgt": "crowdhuman",
    "ImagePairDataset": "pairs",
    "ImageSource": "pairs",
    "MixedPairDataset": "pairs",
    "PairSpec": "pairs",
    "VideoPairDataset": "pairs",
    "build_training_dataset": "pairs",
    "collate_pairs": "pairs",
    "resolve_frames": "pairs",
}
__all__ += sorted(_LAZY)


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'utrack_ros.data' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"utrack_ros.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
