"""The joint detector of OUTrack (paper §3.3, Fig. 5; §4.1) and its decoding / export.

``build_model(cfg)`` -> :class:`JointDetector`, whose ``forward(images)`` returns the head
maps ``hm, wh, reg, id[, occ, occ_off]`` at output stride :data:`STRIDE` (heatmaps as
logits); :func:`decode` turns them into boxes, scores, unit Re-ID embeddings and occlusion
centres in input pixels; :func:`export_onnx` / :func:`check_onnx` write and verify ONNX.
Backbones: ``mobilenetv2`` (light, FPN neck) and ``dla34`` (the paper's, DLAUp + IDAUp).
This package never imports :mod:`utrack_ros.tracking`.
"""

from .config import BACKBONES, STRIDE, ModelConfig
from .decode import Decoded, decode, heatmap_nms
from .detector import (
    JointDetector,
    build_model,
    load_checkpoint,
    model_from_checkpoint,
    resolve_config,
)
from .export import OnnxCheck, check_onnx, export_onnx

__all__ = [
    "BACKBONES",
    "STRIDE",
    "Decoded",
    "JointDetector",
    "ModelConfig",
    "OnnxCheck",
    "build_model",
    "check_onnx",
    "decode",
    "export_onnx",
    "heatmap_nms",
    "load_checkpoint",
    "model_from_checkpoint",
    "resolve_config",
]
