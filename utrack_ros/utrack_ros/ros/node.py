"""The ``utrack_tracker`` ROS 2 node: images in, tracks out (the only rclpy import).

Thin by design: parameters (:mod:`utrack_ros.ros.params`), the per-frame work
(:class:`~utrack_ros.ros.processor.FrameProcessor`, shared with ``utrack bag-eval``) and
message conversion (:mod:`utrack_ros.ros.convert`) live in rclpy-free modules.

Threads: a single-threaded executor runs the subscription, the ``~/reset`` service and
the parameter services; the subscription callback only drops the message into a
one-frame slot (:class:`~utrack_ros.ros.processor.LatestSlot`), and one inference thread
takes the newest frame from it. When inference is slower than the camera the frames in
between are dropped (and counted), never queued, so the output is never more than one
frame behind.

Topics (``~`` = the node's name, ``utrack_tracker`` by default):
    sub  <image_topic>                 sensor_msgs/Image (or <image_topic>/compressed)
    pub  ~/tracks                      utrack_msgs/TrackedObjectArray
    pub  ~/occlusions                  utrack_msgs/OcclusionPointArray
    pub  ~/debug_image                 sensor_msgs/Image bgr8   (publish_debug_image)
    pub  ~/detections                  vision_msgs/Detection2DArray (publish_vision_msgs)
    srv  ~/reset                       std_srvs/Trigger: forget all tracks, ids from 1
"""

from __future__ import annotations

import array
import sys
import threading
import time
import traceback
from types import SimpleNamespace
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)
from rclpy.executors import SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from utrack_ros.ros import params as node_params
from utrack_ros.ros.convert import stamp_to_ns
from utrack_ros.ros.processor import FrameProcessor, LatestSlot, ThroughputStats

try:  # rclpy >= Galactic
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover - older rclpy
    ExternalShutdownException = KeyboardInterrupt  # type: ignore[misc,assignment]
try:  # raised by declare_parameter for out-of-range / mistyped overrides
    from rclpy.exceptions import ParameterException
except ImportError:  # pragma: no cover - older rclpy
    ParameterException = ValueError  # type: ignore[misc,assignment]

_PARAM_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}


def rclpy_msg_types(vision_msgs: bool = False) -> SimpleNamespace:
    """The message classes :mod:`utrack_ros.ros.convert` builds, from the rclpy packages."""
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    from utrack_msgs.msg import (
        OcclusionPoint,
        OcclusionPointArray,
        TrackedObject,
        TrackedObjectArray,
    )

    types = SimpleNamespace(
        Time=Time, Header=Header, Image=Image, CompressedImage=CompressedImage,
        TrackedObject=TrackedObject, TrackedObjectArray=TrackedObjectArray,
        OcclusionPoint=OcclusionPoint, OcclusionPointArray=OcclusionPointArray,
        # rclpy keeps uint8[] as array.array('B'): assigning one skips the per-byte check.
        uint8_array=lambda data: array.array("B", bytes(data)),
        float64_array=lambda values: np.asarray(values, dtype=np.float64),
    )
    if vision_msgs:
        try:
            from geometry_msgs.msg import Point, Pose, PoseWithCovariance, Quaternion
            from vision_msgs import msg as vm
        except ImportError as exc:
            raise ValueError("publish_vision_msgs is true but vision_msgs is not installed "
                             f"({exc}); install ros-$ROS_DISTRO-vision-msgs") from exc
        types.Detection2DArray = vm.Detection2DArray
        types.Detection2D = vm.Detection2D
        types.BoundingBox2D = vm.BoundingBox2D
        types.ObjectHypothesisWithPose = vm.ObjectHypothesisWithPose
        types.ObjectHypothesis = getattr(vm, "ObjectHypothesis", None)
        types.Pose2D = getattr(vm, "Pose2D", None)
        types.Point2D = getattr(vm, "Point2D", None)
        if types.Pose2D is None:  # vision_msgs < 4: geometry_msgs/Pose2D centre
            from geometry_msgs.msg import Pose2D

            types.Pose2D = Pose2D
        types.Point, types.Pose = Point, Pose
        types.PoseWithCovariance, types.Quaternion = PoseWithCovariance, Quaternion
    return types


def _descriptor(spec: node_params.ParamSpec) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(
        name=spec.name,
        type=_PARAM_TYPES[type(spec.default)],
        description=spec.description,
        additional_constraints=spec.constraints
        or (f"one of {', '.join(spec.choices)}" if spec.choices else ""),
        read_only=True,
    )
    if spec.low is not None and spec.high is not None:
        if isinstance(spec.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(spec.low), to_value=float(spec.high),
                                   step=0.0)
            ]
        elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
            descriptor.integer_range = [
                IntegerRange(from_value=int(spec.low), to_value=int(spec.high),
                             step=int(spec.step) if spec.step > 1 else 0)
            ]
    return descriptor


class TrackerNode(Node):
    """OUTrack people tracker node (see the module docstring for topics and threads).

    Raises ``ValueError`` / ``FileNotFoundError`` at construction for invalid parameters
    or weights, with every problem named.
    """

    def __init__(self, node_name: str = node_params.NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._values = self._read_parameters()
        v = self._values
        log = self.get_logger()

        self._types = rclpy_msg_types(vision_msgs=bool(v["publish_vision_msgs"]))
        pipeline = node_params.build_pipeline(v)
        device = getattr(pipeline, "device", None)
        if str(v["device"]).startswith("cuda") and getattr(device, "type", "cuda") != "cuda":
            log.warning(f"device {v['device']!r} requested but CUDA is not available: "
                        "running on CPU (expect a few frames per second)")
        self._processor = FrameProcessor(
            pipeline, self._types, frame_id=str(v["frame_id"]),
            debug_image=bool(v["publish_debug_image"]),
            vision_msgs=bool(v["publish_vision_msgs"]),
        )
        self._lock = threading.Lock()  # the pipeline: inference thread vs ~/reset
        self._slot = LatestSlot()
        self._stats = ThroughputStats()
        self._dropped_at_log = 0
        self._max_age_ns = int(float(v["max_frame_age_s"]) * 1e9)

        output_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                                history=HistoryPolicy.KEEP_LAST,
                                durability=DurabilityPolicy.VOLATILE)
        self._tracks_pub = self.create_publisher(
            self._types.TrackedObjectArray, "~/tracks", output_qos)
        self._occlusions_pub = self.create_publisher(
            self._types.OcclusionPointArray, "~/occlusions", output_qos)
        self._debug_pub = None
        if v["publish_debug_image"]:
            self._debug_pub = self.create_publisher(
                Image, "~/debug_image",
                QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           history=HistoryPolicy.KEEP_LAST))
        self._detections_pub = None
        if v["publish_vision_msgs"]:
            self._detections_pub = self.create_publisher(
                self._types.Detection2DArray, "~/detections", output_qos)
        self._reset_srv = self.create_service(Trigger, "~/reset", self._on_reset)

        reliability = (ReliabilityPolicy.BEST_EFFORT if v["qos_reliability"] == "best_effort"
                       else ReliabilityPolicy.RELIABLE)
        image_qos = QoSProfile(depth=int(v["qos_depth"]), reliability=reliability,
                               history=HistoryPolicy.KEEP_LAST,
                               durability=DurabilityPolicy.VOLATILE)
        topic = str(v["image_topic"]).rstrip("/")
        msg_type = Image
        if v["use_compressed"]:
            topic, msg_type = f"{topic}/compressed", CompressedImage
        self._image_sub = self.create_subscription(msg_type, topic, self._on_image, image_qos)

        self._worker = threading.Thread(target=self._run, name="utrack_inference",
                                        daemon=True)
        self._worker.start()
        log.info(
            f"tracking people on {self._image_sub.topic_name} ({msg_type.__name__}, "
            f"{v['qos_reliability']}, depth {v['qos_depth']}) on {device or v['device']}; "
            f"publishing {self._tracks_pub.topic_name}, {self._occlusions_pub.topic_name}"
            + (f", {self._debug_pub.topic_name}" if self._debug_pub else "")
            + (f", {self._detections_pub.topic_name}" if self._detections_pub else "")
        )

    # ------------------------------------------------------------------ parameters
    def _read_parameters(self) -> dict[str, Any]:
        for spec in node_params.PARAMETERS:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        values = {spec.name: self.get_parameter(spec.name).value
                  for spec in node_params.PARAMETERS}
        overrides = getattr(self, "_parameter_overrides", {}) or {}
        unknown = sorted(name for name in overrides
                         if name not in node_params.SPECS and name != "use_sim_time"
                         and not name.startswith("qos_overrides."))
        if unknown:
            self.get_logger().warning(f"ignoring unknown parameter(s) {unknown} "
                                      "(typo? `ros2 param describe` lists the real ones)")
        return node_params.validate(values)

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Any) -> None:
        """Executor thread: keep only the newest frame; the inference thread takes it."""
        self._slot.put(msg)

    def _on_reset(self, request: Any, response: Any) -> Any:
        with self._lock:
            self._processor.reset()
        response.success = True
        response.message = "all tracks cleared; track ids start again at 1"
        self.get_logger().info("~/reset: " + response.message)
        return response

    # ------------------------------------------------------------------ inference thread
    def _run(self) -> None:
        while not self._slot.closed and rclpy.ok(context=self.context):
            msg = self._slot.take(timeout=0.5)
            if msg is not None:
                self._handle(msg)
            self._maybe_log()

    def _handle(self, msg: Any) -> None:
        log = self.get_logger()
        stamp_ns = stamp_to_ns(msg.header.stamp)
        if self._max_age_ns > 0 and stamp_ns > 0:
            age_ns = self.get_clock().now().nanoseconds - stamp_ns
            if age_ns > self._max_age_ns:
                self._stats.stale += 1
                log.warning(f"dropping a frame {age_ns * 1e-9:.2f} s old "
                            f"(max_frame_age_s {self._max_age_ns * 1e-9:g})",
                            throttle_duration_sec=5.0)
                return
        start = time.perf_counter()
        with self._lock:
            last = self._processor.last_stamp_ns
            if last is not None and stamp_ns < last:
                log.warning(f"image time went back {(last - stamp_ns) * 1e-9:.3f} s "
                            "(bag looped or restarted?): clearing all tracks")
                self._processor.reset()
            debug = self._debug_pub is not None and self._debug_pub.get_subscription_count() > 0
            try:
                out = self._processor.process(msg, debug_image=debug)
            except Exception as exc:  # one bad frame must not stop the tracker
                self._stats.errors += 1
                log.error(f"frame stamped {stamp_ns * 1e-9:.3f} failed: {exc}",
                          throttle_duration_sec=2.0)
                log.debug(traceback.format_exc())
                return
        self._tracks_pub.publish(out.tracks)
        self._occlusions_pub.publish(out.occlusions)
        if out.debug_image is not None and self._debug_pub is not None:
            self._debug_pub.publish(out.debug_image)
        if out.detections is not None and self._detections_pub is not None:
            self._detections_pub.publish(out.detections)
        latency_s = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-9
        self._stats.add(time.perf_counter() - start, out.model_s, latency_s)

    def _maybe_log(self) -> None:
        period = float(self._values["log_period_s"])
        if period <= 0 or time.monotonic() - self._stats.started < period:
            return
        dropped = self._slot.dropped - self._dropped_at_log
        self._dropped_at_log = self._slot.dropped
        if self._stats.frames or dropped or self._stats.errors:
            self.get_logger().info(self._stats.line(dropped))
        self._stats.restart()

    # ------------------------------------------------------------------ shutdown
    def destroy_node(self) -> None:
        self._slot.close()
        if self._worker.is_alive() and self._worker is not threading.current_thread():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run utrack_ros tracker_node``: spin the node until shutdown."""
    rclpy.init(args=args)
    node: TrackerNode | None = None
    code = 0
    try:
        node = TrackerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, FileNotFoundError, ParameterException) as exc:  # configuration
        get_logger(node_params.NODE_NAME).fatal(str(exc))
        code = 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
