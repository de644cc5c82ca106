"""A rosbags typestore that knows utrack_msgs (and vision_msgs), for bags without ROS.

The ROS 2 stores shipped with rosbags cover the core packages (std_msgs, sensor_msgs,
geometry_msgs, ...) but not ours nor vision_msgs. :func:`get_typestore` adds both, so the
bag tools can write and read every topic the node publishes, with the exact definitions a
ROS 2 machine uses (same CDR layout, same RIHS01 type hashes).

The definitions below are compact copies of ``utrack_msgs/msg/*.msg`` (which carry the
documentation); ``test_msgs.py`` checks that both parse to the same types.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg
from rosbags.typesys import get_typestore as _rosbags_typestore
from rosbags.typesys.store import Typestore

#: ROS distributions whose rosbags store we build on (their common messages are identical).
DISTROS = {"humble": Stores.ROS2_HUMBLE, "jazzy": Stores.ROS2_JAZZY}

#: utrack_msgs definitions (comments stripped; the .msg files are the documented source).
UTRACK_MSGS: dict[str, str] = {
    "utrack_msgs/msg/TrackedObject": """
uint8 STATE_NEW=0
uint8 STATE_TRACKED=1
uint8 STATE_REFOUND=2
uint32 track_id
uint8 state
float32 score
float32 x1
float32 y1
float32 x2
float32 y2
uint32 age
uint32 frames_since_detection
""",
    "utrack_msgs/msg/TrackedObjectArray": """
std_msgs/Header header
TrackedObject[] objects
""",
    "utrack_msgs/msg/OcclusionPoint": """
float32 x
float32 y
float32 score
""",
    "utrack_msgs/msg/OcclusionPointArray": """
std_msgs/Header header
OcclusionPoint[] points
""",
}

#: vision_msgs 4.x (the version of ROS 2 Humble, Jazzy and later), the messages the node's
#: optional ``~/detections`` topic uses.
VISION_MSGS: dict[str, str] = {
    "vision_msgs/msg/Point2D": """
float64 x
float64 y
""",
    "vision_msgs/msg/Pose2D": """
vision_msgs/Point2D position
float64 theta
""",
    "vision_msgs/msg/BoundingBox2D": """
vision_msgs/Pose2D center
float64 size_x
float64 size_y
""",
    "vision_msgs/msg/ObjectHypothesis": """
string class_id
float64 score
""",
    "vision_msgs/msg/ObjectHypothesisWithPose": """
vision_msgs/ObjectHypothesis hypothesis
geometry_msgs/PoseWithCovariance pose
""",
    "vision_msgs/msg/Detection2D": """
std_msgs/Header header
vision_msgs/ObjectHypothesisWithPose[] results
vision_msgs/BoundingBox2D bbox
string id
""",
    "vision_msgs/msg/Detection2DArray": """
std_msgs/Header header
vision_msgs/Detection2D[] detections
""",
}

#: Message type names used by the tools (rosbags spelling).
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
TRACKED_OBJECT_ARRAY = "utrack_msgs/msg/TrackedObjectArray"
OCCLUSION_POINT_ARRAY = "utrack_msgs/msg/OcclusionPointArray"
DETECTION_2D_ARRAY = "vision_msgs/msg/Detection2DArray"


def parse_definitions(definitions: dict[str, str]) -> dict[str, Any]:
    """Parse ``{type name: .msg text}`` into the rosbags ``Typesdict`` form."""
    types: dict[str, Any] = {}
    for name, text in definitions.items():
        types.update(get_types_from_msg(text, name))
    return types


@cache
def get_typestore(distro: str = "jazzy") -> Typestore:
    """The rosbags store of ``distro`` ("humble" or "jazzy") + utrack_msgs + vision_msgs.

    Cached: every caller shares one store per distribution (stores are not modified after).
    """
    try:
        store_name = DISTROS[distro.lower()]
    except KeyError:
        raise ValueError(f"unknown ROS distribution {distro!r}; expected one of "
                         f"{sorted(DISTROS)}") from None
    store = _rosbags_typestore(store_name)
    store.register(parse_definitions(VISION_MSGS))
    store.register(parse_definitions(UTRACK_MSGS))
    return store


def _uint8_array(data: Any) -> np.ndarray:
    """bytes, bytearray, memoryview or a uint8 array -> 1-D uint8 numpy array (no copy)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    return np.frombuffer(data, dtype=np.uint8)


def msg_types(store: Typestore | None = None) -> SimpleNamespace:
    """The message classes :mod:`utrack_ros.ros.convert` needs, from a rosbags typestore.

    The node builds the same namespace from the rclpy classes (:func:`rclpy_msg_types` in
    :mod:`utrack_ros.ros.node`); conversion code takes either.
    """
    store = store or get_typestore()
    t = store.types
    return SimpleNamespace(
        Time=t["builtin_interfaces/msg/Time"],
        Header=t["std_msgs/msg/Header"],
        Image=t[IMAGE],
        CompressedImage=t[COMPRESSED_IMAGE],
        TrackedObject=t["utrack_msgs/msg/TrackedObject"],
        TrackedObjectArray=t[TRACKED_OBJECT_ARRAY],
        OcclusionPoint=t["utrack_msgs/msg/OcclusionPoint"],
        OcclusionPointArray=t[OCCLUSION_POINT_ARRAY],
        Point2D=t["vision_msgs/msg/Point2D"],
        Pose2D=t["vision_msgs/msg/Pose2D"],
        BoundingBox2D=t["vision_msgs/msg/BoundingBox2D"],
        ObjectHypothesis=t["vision_msgs/msg/ObjectHypothesis"],
        ObjectHypothesisWithPose=t["vision_msgs/msg/ObjectHypothesisWithPose"],
        Detection2D=t["vision_msgs/msg/Detection2D"],
        Detection2DArray=t[DETECTION_2D_ARRAY],
        Point=t["geometry_msgs/msg/Point"],
        Quaternion=t["geometry_msgs/msg/Quaternion"],
        Pose=t["geometry_msgs/msg/Pose"],
        PoseWithCovariance=t["geometry_msgs/msg/PoseWithCovariance"],
        # rosbags serialises uint8[] / float64[N] fields from numpy arrays.
        uint8_array=_uint8_array,
        float64_array=lambda values: np.asarray(values, dtype=np.float64),
    )


__all__ = [
    "COMPRESSED_IMAGE",
    "DETECTION_2D_ARRAY",
    "DISTROS",
    "IMAGE",
    "OCCLUSION_POINT_ARRAY",
    "TRACKED_OBJECT_ARRAY",
    "UTRACK_MSGS",
    "VISION_MSGS",
    "get_typestore",
    "msg_types",
    "parse_definitions",
]
