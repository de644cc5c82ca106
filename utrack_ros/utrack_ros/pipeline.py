"""Image in, tracks out: letterbox -> JointDetector -> decode -> OUTracker (DESIGN §1).

The ROS node, the bag tools and ``utrack track`` all drive this one class, frame by frame.

A ``variant="centertrack"`` model (OTrack_ct) runs with :class:`CenterTrackTracker`
instead: the pipeline keeps the previous letterboxed input and renders the previous-frame
heatmap from its last output tracks (score >= ``CenterTrackConfig.pre_thresh``, input
pixels), feeds both to the model with the current image (CenterTrack's first frame: the
current image and an empty heatmap), and passes the decoded tracking offsets to the tracker.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utrack_ros.model import ModelConfig, build_model, decode
from utrack_ros.preprocess import Letterbox, normalize_image
from utrack_ros.resources import default_weights_path
from utrack_ros.targets import render_previous_heatmap
from utrack_ros.tracking import (
    CenterTrackConfig,
    CenterTrackTracker,
    OUTracker,
    Track,
    TrackerConfig,
)
from utrack_ros.tracking.matching import iou_matrix

LOGGER = logging.getLogger(__name__)


@dataclass
class Detections:
    """The detector's output for one frame, in frame pixels."""

    boxes: np.ndarray  # float [k, 4] x1, y1, x2, y2
    scores: np.ndarray  # float [k]
    embeddings: np.ndarray | None  # float32 [k, D], L2-normalised; None without Re-ID head
    offsets: np.ndarray | None = None  # float [k, 2] tracking offsets (centertrack variant)


@dataclass
class FrameResult:
    """What :meth:`TrackingPipeline.step` returns for one frame."""

    tracks: list[Track]
    detections: Detections
    occlusion_centers: np.ndarray  # float [m, 2] frame pixels
    occlusion_scores: np.ndarray  # float [m]
    timestamp: float | None = None
    model_time_s: float = 0.0
    total_time_s: float = 0.0


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cuda"`` when available, else CPU with a logged warning; ``"cpu"`` as is."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        LOGGER.warning("device %s requested but CUDA is not available: running on CPU", device)
        return torch.device("cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


def public_detection_filter(
    boxes: np.ndarray,
    public_boxes: np.ndarray,
    track_boxes: np.ndarray,
    iou_threshold: float = 0.5,
) -> np.ndarray:
    """MOTChallenge public-detection setting (CenterTrack/FairMOT practice, paper §4.4).

    A model detection is kept when it overlaps a given public detection (IoU ≥
    ``iou_threshold``) or continues an existing track (IoU ≥ ``iou_threshold`` with a track's
    last box): new tracks can only start from public detections. Returns a bool mask [k].
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keep = np.zeros(len(boxes), dtype=bool)
    for ref in (public_boxes, track_boxes):
        ref = np.asarray(ref, dtype=np.float64).reshape(-1, 4)
        if len(boxes) and len(ref):
            keep |= iou_matrix(boxes, ref).max(axis=1) >= iou_threshold
    return keep


@dataclass
class PipelineConfig:
    """Inference settings of :class:`TrackingPipeline` (the tracker has its own config).

    Attributes:
        input_size: model input (height, width), multiples of 32; the frame is letterboxed.
        det_threshold: detections below this heatmap score are not passed to the tracker.
        occ_threshold: occlusion centres below this score are dropped (DESIGN §4: 0.1).
        max_objects: top-K centres decoded per frame.
        max_occlusions: top-K occlusion centres decoded per frame.
        frame_rate: nominal camera rate (Hz) for the tracker's time step and buffer.
        half: fp16 inference on CUDA (ignored on CPU).
        use_embeddings: pass the Re-ID embeddings to the tracker. ``False`` tracks by motion
            (IoU) only, FairMOT without Re-ID (paper Table 1, first row);
            :meth:`TrackingPipeline.from_checkpoint` sets it ``False`` for a checkpoint
            trained with ``loss.reid: none``, whose ``id`` head is untrained.

    Small or oddly shaped boxes are filtered by the tracker (``TrackerConfig.min_box_area``).
    """

    input_size: tuple[int, int] = (384, 512)
    det_threshold: float = 0.4
    occ_threshold: float = 0.1
    max_objects: int = 500
    max_occlusions: int = 100
    frame_rate: float = 30.0
    half: bool = False
    use_embeddings: bool = True

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.input_size)
        if h <= 0 or w <= 0 or h % 32 or w % 32:
            raise ValueError(f"input_size must be positive multiples of 32, got {self.input_size}")
        self.input_size = (h, w)
        for name in ("det_threshold", "occ_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.max_objects < 1 or self.max_occlusions < 0:
            raise ValueError("max_objects must be ≥ 1 and max_occlusions ≥ 0")
        if self.frame_rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {self.frame_rate}")


class TrackingPipeline:
    """Runs the OUTrack model and tracker on one frame at a time.

    Args:
        model: a :class:`~utrack_ros.model.JointDetector` (weights loaded).
        config: inference settings.
        tracker_config: the tracker's thresholds (defaults: DESIGN §4). For a centertrack
            model a :class:`~utrack_ros.tracking.CenterTrackConfig`; a
            :class:`TrackerConfig` or a mapping is translated by
            :meth:`CenterTrackConfig.from_settings`.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; CUDA falls back to CPU with a warning.

    Attributes:
        variant: the model's variant, ``"fairmot"`` or ``"centertrack"``.
        tracker: :class:`OUTracker` or, for centertrack, :class:`CenterTrackTracker`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: PipelineConfig | None = None,
        tracker_config: TrackerConfig | CenterTrackConfig | Mapping[str, Any] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.config = config or PipelineConfig()
        self.device = resolve_device(device)
        self.half = bool(self.config.half and self.device.type == "cuda")
        self.model = model.to(self.device).eval()
        if self.half:
            self.model = self.model.half()
        self.variant = str(getattr(getattr(model, "config", None), "variant", "fairmot"))
        self.tracker: OUTracker | CenterTrackTracker
        if self.variant == "centertrack":
            if tracker_config is None or isinstance(tracker_config, CenterTrackConfig):
                ct_config = tracker_config or CenterTrackConfig()
            elif isinstance(tracker_config, TrackerConfig):
                ct_config = CenterTrackConfig.from_settings(tracker_config.to_dict())
            else:
                ct_config = CenterTrackConfig.from_settings(tracker_config)
            self.tracker_config: TrackerConfig | CenterTrackConfig = ct_config
            self.tracker = CenterTrackTracker(ct_config, frame_rate=self.config.frame_rate)
        else:
            if isinstance(tracker_config, CenterTrackConfig):
                raise ValueError(
                    "a CenterTrackConfig needs a centertrack-variant model; this model is "
                    f"{self.variant!r} (give a TrackerConfig)"
                )
            if isinstance(tracker_config, Mapping):
                tracker_config = TrackerConfig.from_dict(dict(tracker_config))
            self.tracker_config = tracker_config or TrackerConfig()
            self.tracker = OUTracker(self.tracker_config, frame_rate=self.config.frame_rate)
        self.model_time_s = 0.0
        self._letterbox: Letterbox | None = None
        self._last_tracks: list[Track] = []
        self._input: torch.Tensor | None = None  # the last letterboxed, normalised input
        self._prev_input: torch.Tensor | None = None  # centertrack: previous frame's input

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        **overrides: Any,
    ) -> TrackingPipeline:
        """Load a training checkpoint (``path=None``: the shipped default model).

        ``overrides`` may name any :class:`PipelineConfig` field (``input_size``,
        ``det_threshold``, ``frame_rate``, ...) or :class:`~utrack_ros.tracking.TrackerConfig`
        field (``refind``, ``track_buffer``, ...); unknown names raise ``ValueError``.
        The tracker follows the checkpoint's model variant: a centertrack checkpoint gets a
        :class:`~utrack_ros.tracking.CenterTrackTracker`, whose settings may also name
        :class:`~utrack_ros.tracking.CenterTrackConfig` fields (``max_age``,
        ``pre_thresh``); TrackerConfig names are translated by
        :meth:`CenterTrackConfig.from_settings` (so the node's ``tracker.*`` parameters work
        for both variants).
        """
        path = Path(path) if path is not None else default_weights_path()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} not found")
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
            raise ValueError(
                f"{path} is not a utrack_ros checkpoint (a dict with 'model' and 'model_config')"
            )
        model_config = ModelConfig.from_dict(dict(checkpoint.get("model_config") or {}))
        model_config = dataclasses.replace(model_config, pretrained=None)
        model = build_model(model_config)
        model.load_state_dict(checkpoint["model"])

        pipeline_fields = {f.name for f in dataclasses.fields(PipelineConfig)}
        tracker_fields = {f.name for f in dataclasses.fields(TrackerConfig)}
        centertrack = model_config.variant == "centertrack"
        if centertrack:
            tracker_fields |= {f.name for f in dataclasses.fields(CenterTrackConfig)}
        unknown = set(overrides) - pipeline_fields - tracker_fields
        if unknown:
            raise ValueError(
                f"unknown pipeline/tracker setting(s) {sorted(unknown)}; expected names of "
                "PipelineConfig or "
                + ("TrackerConfig / CenterTrackConfig" if centertrack else "TrackerConfig")
            )
        pipeline_kwargs: dict[str, Any] = {"input_size": tuple(model_config.input_size)}
        loss_config = (checkpoint.get("training_config") or {}).get("loss") or {}
        if loss_config.get("reid") == "none" and not centertrack:
            pipeline_kwargs["use_embeddings"] = False  # the id head was never trained
        pipeline_kwargs.update(dict(checkpoint.get("pipeline_config") or {}))
        pipeline_kwargs.update({k: v for k, v in overrides.items() if k in pipeline_fields})
        tracker_kwargs = dict(checkpoint.get("tracker_config") or {})
        tracker_kwargs.update({k: v for k, v in overrides.items() if k in tracker_fields})
        tracker_config = (
            CenterTrackConfig.from_settings(tracker_kwargs)
            if centertrack
            else TrackerConfig(**tracker_kwargs)
        )
        return cls(model, PipelineConfig(**pipeline_kwargs), tracker_config, device=device)

    # ------------------------------------------------------------------ inference
    def reset(self) -> None:
        """Forget every track (and, centertrack, the previous frame); ids start again at 1."""
        self.tracker.reset()
        self._last_tracks = []
        self._input = self._prev_input = None

    def _letterbox_for(self, frame_shape: tuple[int, int]) -> Letterbox:
        lb = self._letterbox
        if lb is None or lb.frame_size != frame_shape:
            lb = Letterbox.fit(frame_shape, self.config.input_size)
            self._letterbox = lb
        return lb

    @torch.inference_mode()
    def detect(self, image_bgr: np.ndarray) -> tuple[Detections, np.ndarray, np.ndarray]:
        """Run the model: detections and occlusion centres (scores) in frame pixels."""
        image_bgr = validate_image(image_bgr)
        lb = self._letterbox_for(image_bgr.shape[:2])
        tensor = torch.from_numpy(normalize_image(lb.apply(image_bgr)))[None].to(self.device)
        if self.half:
            tensor = tensor.half()
        self._input = tensor
        inputs = [tensor]
        if self.variant == "centertrack":
            pre_hm = torch.from_numpy(self.previous_heatmap(lb))[None].to(self.device, tensor.dtype)
            inputs += [tensor if self._prev_input is None else self._prev_input, pre_hm]
        start = time.perf_counter()
        outputs = self.model(*inputs)
        decoded = decode(
            {k: v.float() for k, v in outputs.items()},
            max_objects=self.config.max_objects,
            det_threshold=self.config.det_threshold,
            occ_threshold=self.config.occ_threshold,
            max_occlusions=self.config.max_occlusions,
        )[0]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.model_time_s = time.perf_counter() - start

        boxes = lb.boxes_to_frame(decoded.boxes)
        fh, fw = image_bgr.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, fw)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, fh)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = area > 0.0
        embeddings = None
        if decoded.embeddings is not None and self.config.use_embeddings:
            embeddings = decoded.embeddings[keep]
        offsets = None
        if decoded.offsets is not None:  # input pixels -> frame pixels (a displacement)
            offsets = decoded.offsets[keep].astype(np.float64) / lb.scale
        detections = Detections(
            boxes[keep], decoded.scores[keep].astype(np.float64), embeddings, offsets
        )
        occ_centers = lb.points_to_frame(decoded.occ_centers)
        return detections, occ_centers, decoded.occ_scores.astype(np.float64)

    def previous_heatmap(self, letterbox: Letterbox) -> np.ndarray:
        """The centertrack model's ``pre_hm`` input ``[1, H, W]``: the last output tracks
        scoring at least ``pre_thresh``, as Gaussian peaks at input resolution (no
        disturbance; :func:`~utrack_ros.targets.render_previous_heatmap`)."""
        threshold = float(getattr(self.tracker_config, "pre_thresh", 0.0))
        boxes = np.array(
            [t.box_xyxy for t in self._last_tracks if t.score >= threshold], dtype=np.float64
        ).reshape(-1, 4)
        return render_previous_heatmap(letterbox.boxes_to_input(boxes), self.config.input_size)

    def step(
        self,
        image_bgr: np.ndarray,
        timestamp: float | None = None,
        public_detections: np.ndarray | None = None,
    ) -> FrameResult:
        """Detect and track one frame.

        Args:
            image_bgr: uint8 ``H x W x 3`` BGR frame.
            timestamp: capture time in seconds (ROS header stamp); the tracker's Kalman
                step uses the real elapsed time when given, the nominal frame rate otherwise.
            public_detections: optional [n, 4] xyxy boxes (MOTChallenge public setting): new
                tracks may only start from model detections overlapping one of these
                (FairMOT variant: :func:`public_detection_filter`; centertrack: detections
                continuing a track by their offsets are kept, births need a public box,
                as CenterTrack, :class:`~utrack_ros.tracking.CenterTrackTracker`).
        """
        start = time.perf_counter()
        detections, occ_centers, occ_scores = self.detect(image_bgr)
        has_occlusion_head = bool(getattr(self.model, "has_occlusion", True))
        if self.variant == "centertrack":
            tracks = self.tracker.update(
                detections.boxes,
                detections.scores,
                occlusion_centers=occ_centers if has_occlusion_head else None,
                timestamp=timestamp,
                offsets=detections.offsets,
                public_detections=public_detections,
            )
            self._prev_input = self._input
            return self._result(tracks, detections, occ_centers, occ_scores, timestamp, start)
        if public_detections is not None:
            track_boxes = np.array([t.box_xyxy for t in self._last_tracks]).reshape(-1, 4)
            keep = public_detection_filter(detections.boxes, public_detections, track_boxes)
            detections = Detections(
                detections.boxes[keep],
                detections.scores[keep],
                None if detections.embeddings is None else detections.embeddings[keep],
            )
        tracks = self.tracker.update(
            detections.boxes,
            detections.scores,
            embeddings=detections.embeddings,
            occlusion_centers=occ_centers if has_occlusion_head else None,
            timestamp=timestamp,
        )
        return self._result(tracks, detections, occ_centers, occ_scores, timestamp, start)

    def _result(
        self,
        tracks: list[Track],
        detections: Detections,
        occ_centers: np.ndarray,
        occ_scores: np.ndarray,
        timestamp: float | None,
        start: float,
    ) -> FrameResult:
        self._last_tracks = tracks
        return FrameResult(
            tracks=tracks,
            detections=detections,
            occlusion_centers=occ_centers,
            occlusion_scores=occ_scores,
            timestamp=timestamp,
            model_time_s=self.model_time_s,
            total_time_s=time.perf_counter() - start,
        )


def validate_image(image: Any) -> np.ndarray:
    """A uint8 HxWx3 array, or a ``ValueError`` saying what was received instead."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy uint8 HxWx3 BGR image, got {type(image).__name__}")
    if image.ndim == 2:
        raise ValueError(
            f"expected a 3-channel BGR image, got a single-channel {image.shape} array "
            "(convert with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected dtype uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    return image


__all__ = [
    "Detections",
    "FrameResult",
    "PipelineConfig",
    "TrackingPipeline",
    "public_detection_filter",
    "resolve_device",
    "validate_image",
]
