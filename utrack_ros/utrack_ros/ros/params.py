"""The tracker node's parameters: names, defaults, descriptions, ranges and checks.

No rclpy here: the node declares these with ``ParameterDescriptor``\\ s, ``utrack
bag-eval`` reads the same defaults (or the node's YAML file) so that both run the very
same pipeline, and the tests check ``config/tracker.yaml`` against this table.

The ``tracker.*`` parameters are the fields of :class:`utrack_ros.tracking.TrackerConfig`
under the same names; their defaults are that class's defaults. A centertrack-variant
checkpoint (OTrack_ct) takes the same parameters: the pipeline translates them with
:meth:`utrack_ros.tracking.CenterTrackConfig.from_settings` (``track_buffer`` is its
``max_age``; the FairMOT association thresholds are unused). Every parameter is read
once at start-up (they are read-only: restart the node to change them).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from utrack_ros.tracking import TrackerConfig

#: The node's name: the ``config/tracker.yaml`` section and the ``~/`` topic prefix.
NODE_NAME = "utrack_tracker"

Value = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    Attributes:
        name: parameter name (dots nest it in YAML: ``tracker.track_buffer``).
        default: default value; its Python type is the parameter's type.
        description: one line for ``ros2 param describe`` and the docs.
        low, high: inclusive range (numbers) or None; ``step`` for integer ranges.
        choices: allowed values of a string parameter (empty: any string).
        target: the :meth:`TrackingPipeline.from_checkpoint` override it sets, if any.
        constraints: extra rule in words (``ParameterDescriptor.additional_constraints``).
    """

    name: str
    default: Value
    description: str
    low: float | None = None
    high: float | None = None
    step: int = 0
    choices: tuple[str, ...] = ()
    target: str | None = None
    constraints: str = ""

    @property
    def type_name(self) -> str:
        return type(self.default).__name__


DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")

#: Node-level parameters (input, output, model, inference).
NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("image_topic", "image_raw",
              "input image topic; relative names resolve in the node's namespace (remap or "
              "set it). With use_compressed, '<image_topic>/compressed' is subscribed"),
    ParamSpec("use_compressed", False,
              "subscribe to sensor_msgs/CompressedImage (jpeg/png, image_transport "
              "'compressed') on '<image_topic>/compressed' instead of raw Image"),
    ParamSpec("qos_reliability", "best_effort",
              "reliability of the image subscription: best_effort (sensor data, accepts "
              "every publisher) or reliable (only reliable publishers match)",
              choices=("best_effort", "reliable")),
    ParamSpec("qos_depth", 1, "history depth of the image subscription (1 = newest frame "
              "only; the node always processes the latest frame and drops the rest)",
              low=1, high=100, step=1),
    ParamSpec("max_frame_age_s", 0.0,
              "drop frames whose header stamp is older than this many seconds when they "
              "reach the tracker (node clock; use_sim_time for bags); 0 = keep all",
              low=0.0, high=3600.0),
    ParamSpec("frame_id", "",
              "frame_id written in the output headers; '' = the input image's frame_id"),
    ParamSpec("weights", "",
              "checkpoint (.pt) to load; '' = the shipped default model"),
    ParamSpec("device", "cuda",
              "inference device: cpu, cuda or cuda:N; CUDA falls back to CPU with a "
              "warning when unavailable", constraints="cpu, cuda or cuda:N"),
    ParamSpec("half", False, "fp16 inference (CUDA only; ignored on CPU)", target="half"),
    ParamSpec("input_height", 0,
              "model input height in pixels, a multiple of 32; 0 = the checkpoint's",
              low=0, high=4096, step=32, target="input_size"),
    ParamSpec("input_width", 0,
              "model input width in pixels, a multiple of 32; 0 = the checkpoint's",
              low=0, high=4096, step=32, target="input_size"),
    ParamSpec("det_threshold", 0.4,
              "detector score threshold: detections below it never reach the tracker",
              low=0.0, high=1.0, target="det_threshold"),
    ParamSpec("occ_threshold", 0.1,
              "occlusion-centre score threshold (decoder); lower points are dropped",
              low=0.0, high=1.0, target="occ_threshold"),
    ParamSpec("max_objects", 500, "at most this many detections decoded per frame",
              low=1, high=10000, step=1, target="max_objects"),
    ParamSpec("max_occlusions", 100, "at most this many occlusion centres decoded per frame",
              low=0, high=10000, step=1, target="max_occlusions"),
    ParamSpec("frame_rate", 30.0,
              "nominal camera rate (Hz): scales tracker.track_buffer; the Kalman step uses "
              "the real time between header stamps", low=0.1, high=1000.0,
              target="frame_rate"),
    ParamSpec("publish_debug_image", True,
              "publish ~/debug_image: the frame with tracks (re-found: dashed red), ids and "
              "occlusion centres (drawn only while someone subscribes)"),
    ParamSpec("publish_vision_msgs", False,
              "also publish ~/detections as vision_msgs/Detection2DArray (track id in id)"),
    ParamSpec("log_period_s", 5.0,
              "period of the throughput log line (frames/s, latency, drops); 0 = never",
              low=0.0, high=3600.0),
)

#: Descriptions of the ``tracker.*`` parameters (one per TrackerConfig field).
TRACKER_DESCRIPTIONS: dict[str, str] = {
    "det_thresh": "the tracker ignores detections scoring below this",
    "new_track_thresh": "a new track starts only from a detection scoring at least this",
    "match_thresh_embedding": "first association: threshold on the fused appearance + "
    "motion cost (cosine distance blended with Mahalanobis); fairmot models only",
    "match_thresh_motion": "first association without embeddings: threshold on 1 - IoU; "
    "fairmot models only",
    "match_thresh_iou": "second association (remaining tracks): threshold on 1 - IoU; "
    "fairmot models only",
    "match_thresh_unconfirmed": "unconfirmed (one-frame) tracks: threshold on 1 - IoU; "
    "fairmot models only",
    "embedding_momentum": "EMA weight of a track's old appearance feature; fairmot models only",
    "motion_lambda": "weight of appearance vs motion in the fused cost; fairmot models only",
    "gating_threshold": "squared Mahalanobis gate of the fused cost (chi-square 95%, 4 dof); "
    "fairmot models only",
    "track_buffer": "frames (at 30 Hz; scaled by frame_rate) a lost track is kept "
    "(centertrack models: max_age)",
    "refind": "OUTrack Algorithm 1: re-find lost tracks behind occluders from the "
    "predicted occlusion centres",
    "refind_window": "re-finding is tried while a track has been lost fewer frames than this",
    "refind_threshold": "tau_o: a re-find needs an occlusion-centre kernel score above this",
    "min_box_area": "tracks (and detections) smaller than this many pixels^2 are not output",
    "max_aspect_ratio": "tracks with width/height above this are not output",
    "std_weight_position": "Kalman position noise, as a fraction of the box height",
    "std_weight_velocity": "Kalman velocity noise, as a fraction of the box height",
}


def _tracker_parameters() -> tuple[ParamSpec, ...]:
    defaults = TrackerConfig()
    ranges = getattr(TrackerConfig, "_RANGES", {})
    specs = []
    for f in dataclasses.fields(TrackerConfig):
        if f.name not in TRACKER_DESCRIPTIONS:
            raise RuntimeError(
                f"TrackerConfig.{f.name} has no node parameter description: add it to "
                "utrack_ros/ros/params.py TRACKER_DESCRIPTIONS and config/tracker.yaml"
            )
        default = getattr(defaults, f.name)
        low = high = None
        words = ""
        if f.name in ranges:
            low, high, low_inc, high_inc = ranges[f.name]
            words = (f"{'[' if low_inc else '('}{'-inf' if low is None else low}, "
                     f"{'inf' if high is None else high}{']' if high_inc else ')'}")
        if isinstance(default, float) and not math.isfinite(default):
            raise RuntimeError(f"TrackerConfig.{f.name} default {default} cannot be a "
                               "ROS parameter")
        specs.append(ParamSpec(
            f"tracker.{f.name}", default, TRACKER_DESCRIPTIONS[f.name], low=low, high=high,
            step=1 if isinstance(default, int) and not isinstance(default, bool) else 0,
            target=f.name, constraints=words,
        ))
    return tuple(specs)


#: Every parameter of the node, in declaration order.
PARAMETERS: tuple[ParamSpec, ...] = NODE_PARAMETERS + _tracker_parameters()
SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMETERS}


def defaults() -> dict[str, Value]:
    """``{name: default}`` of every parameter."""
    return {p.name: p.default for p in PARAMETERS}


def _check_value(spec: ParamSpec, value: Any) -> str | None:
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        return f"{spec.name} must be a {spec.type_name}, got {value!r}"
    if spec.choices and value not in spec.choices:
        return f"{spec.name} must be one of {list(spec.choices)}, got {value!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{spec.name} must be finite, got {value!r}"
        if spec.low is not None and value < spec.low:
            return f"{spec.name} must be >= {spec.low}, got {value!r}"
        if spec.high is not None and value > spec.high:
            return f"{spec.name} must be <= {spec.high}, got {value!r}"
        if spec.step and isinstance(value, int) and (value - int(spec.low or 0)) % spec.step:
            return f"{spec.name} must be a multiple of {spec.step}, got {value!r}"
    return None


def validate(values: Mapping[str, Any]) -> dict[str, Value]:
    """Check ``values`` (a subset of the parameters; the rest take their defaults).

    Returns the complete ``{name: value}`` dict (ints accepted for float parameters).
    Raises ``ValueError`` listing every problem: unknown names, wrong types, values out of
    range, an invalid device, input sizes set only in part, or a missing weights file.
    """
    errors = []
    unknown = sorted(set(values) - set(SPECS))
    if unknown:
        errors.append(f"unknown parameter(s) {unknown}")
    merged: dict[str, Value] = defaults()
    for name, value in values.items():
        spec = SPECS.get(name)
        if spec is None:
            continue
        problem = _check_value(spec, value)
        if problem:
            errors.append(problem)
        else:
            merged[name] = float(value) if isinstance(spec.default, float) else value
    if not DEVICE_PATTERN.match(str(merged["device"])):
        errors.append(f"device must be cpu, cuda or cuda:N, got {merged['device']!r}")
    if (merged["input_height"] == 0) != (merged["input_width"] == 0):
        errors.append("input_height and input_width must both be 0 (the checkpoint's size) "
                      f"or both set, got {merged['input_height']}x{merged['input_width']}")
    if not str(merged["image_topic"]).strip():
        errors.append("image_topic must not be empty")
    weights = str(merged["weights"])
    if weights and not Path(weights).expanduser().is_file():
        errors.append(f"weights file {weights!r} not found")
    if errors:
        raise ValueError("invalid parameters: " + "; ".join(errors))
    return merged


def pipeline_arguments(values: Mapping[str, Value]) -> tuple[str | None, str, dict[str, Any]]:
    """``(weights path or None, device, overrides)`` for ``from_checkpoint``."""
    overrides: dict[str, Any] = {}
    for spec in PARAMETERS:
        if spec.target is None or spec.target == "input_size":
            continue
        overrides[spec.target] = values[spec.name]
    if values["input_height"] and values["input_width"]:
        overrides["input_size"] = (int(values["input_height"]), int(values["input_width"]))
    weights = str(values["weights"]) or None
    if weights is not None:
        weights = str(Path(weights).expanduser())
    return weights, str(values["device"]), overrides


def build_pipeline(values: Mapping[str, Value]) -> Any:
    """The :class:`~utrack_ros.pipeline.TrackingPipeline` these parameters describe."""
    from utrack_ros.pipeline import TrackingPipeline

    weights, device, overrides = pipeline_arguments(values)
    return TrackingPipeline.from_checkpoint(weights, device=device, **overrides)


def _flatten(prefix: str, tree: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(name + ".", value, out)
        else:
            out[name] = value


def load_params_file(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The parameters a ROS 2 params YAML gives ``node_name`` (dotted names, flattened).

    Sections are matched as ``ros2 run --params-file`` does for a node without namespace:
    ``/**``, ``node_name`` and ``/node_name`` (any ``ns/node_name`` too), later sections
    overriding earlier ones in file order.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping of node names at the top level")
    params: dict[str, Any] = {}
    matched = False
    for key, section in data.items():
        name = str(key).strip("/")
        if name != "**" and name.rsplit("/", 1)[-1] != node_name:
            continue
        if not isinstance(section, Mapping) or "ros__parameters" not in section:
            raise ValueError(f"{path}: section {key!r} has no 'ros__parameters'")
        matched = True
        _flatten("", section["ros__parameters"] or {}, params)
    if not matched:
        raise ValueError(f"{path} has no section for node {node_name!r} "
                         f"(expected '{node_name}:' or '/**:' with ros__parameters)")
    return params


__all__ = [
    "NODE_NAME",
    "NODE_PARAMETERS",
    "PARAMETERS",
    "SPECS",
    "TRACKER_DESCRIPTIONS",
    "ParamSpec",
    "build_pipeline",
    "defaults",
    "load_params_file",
    "pipeline_arguments",
    "validate",
]
