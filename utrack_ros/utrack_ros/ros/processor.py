"""What the node does with one image message, without rclpy: shared with the bag tools.

:class:`FrameProcessor` turns an ``Image``/``CompressedImage`` message into the node's
output messages (tracks, occlusions, optional debug image and vision_msgs detections);
the node publishes them, ``utrack bag-eval`` writes them to a bag. :class:`LatestSlot`
is the node's one-frame mailbox between the subscription and the inference thread, and
:class:`ThroughputStats` its periodic log line.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from utrack_ros.ros import convert


@dataclass
class ProcessedFrame:
    """Outputs and timings of one frame (messages are None when not requested)."""

    tracks: Any
    occlusions: Any
    debug_image: Any | None
    detections: Any | None
    result: Any  # the pipeline's FrameResult
    stamp_ns: int
    convert_s: float = 0.0  # message -> BGR
    pipeline_s: float = 0.0  # pipeline.step (model + pre/post-processing + tracker)
    model_s: float = 0.0  # model forward pass alone (pipeline.model_time_s)
    output_s: float = 0.0  # building the output messages


class FrameProcessor:
    """Image message in, output messages out: the node's per-frame work.

    Args:
        pipeline: a :class:`~utrack_ros.pipeline.TrackingPipeline` (or an object with
            ``step(image_bgr, timestamp)``, ``reset()`` and ``model_time_s``).
        types: message classes (see :mod:`utrack_ros.ros.convert`).
        frame_id: output frame_id; "" keeps the input image's.
        debug_image: build the annotated image.
        vision_msgs: build the ``vision_msgs/Detection2DArray``.
    """

    def __init__(self, pipeline: Any, types: Any, *, frame_id: str = "",
                 debug_image: bool = False, vision_msgs: bool = False) -> None:
        self.pipeline = pipeline
        self.types = types
        self.frame_id = frame_id
        self.debug_image = debug_image
        self.vision_msgs = vision_msgs
        self.last_stamp_ns: int | None = None

    def reset(self) -> None:
        """Forget every track (ids start again at 1)."""
        self.pipeline.reset()
        self.last_stamp_ns = None

    def process(self, msg: Any, *, debug_image: bool | None = None) -> ProcessedFrame:
        """Run the pipeline on one image message; header stamp -> pipeline timestamp.

        ``debug_image`` overrides the constructor's choice for this frame (the node skips
        drawing while nobody subscribes). Raises ``ValueError`` for unusable images.
        """
        t0 = time.perf_counter()
        image = convert.message_to_bgr(msg)
        t1 = time.perf_counter()
        stamp = msg.header.stamp
        result = self.pipeline.step(image, timestamp=convert.stamp_to_seconds(stamp))
        t2 = time.perf_counter()
        header = convert.copy_header(self.types, msg.header, self.frame_id)
        tracks = convert.tracks_to_msg(self.types, result.tracks, header)
        occlusions = convert.occlusions_to_msg(
            self.types, result.occlusion_centers, result.occlusion_scores, header
        )
        want_debug = self.debug_image if debug_image is None else debug_image
        debug = (convert.debug_image_msg(self.types, image, result.tracks,
                                         result.occlusion_centers, header)
                 if want_debug else None)
        detections = (convert.tracks_to_detection2d_array(self.types, result.tracks, header)
                      if self.vision_msgs else None)
        t3 = time.perf_counter()
        self.last_stamp_ns = convert.stamp_to_ns(stamp)
        return ProcessedFrame(
            tracks, occlusions, debug, detections, result, self.last_stamp_ns,
            convert_s=t1 - t0, pipeline_s=t2 - t1,
            model_s=float(getattr(result, "model_time_s", self.pipeline.model_time_s)),
            output_s=t3 - t2,
        )


class LatestSlot:
    """A one-message mailbox: ``put`` replaces an unprocessed message (counted as dropped).

    The subscription callback puts, the inference thread takes: when inference is slower
    than the camera, stale frames are dropped instead of queued, so the output lags the
    input by at most one frame.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; True when it replaced one that was never taken (a drop)."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self.received += 1
            self.dropped += int(replaced)
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """The newest item (emptying the slot), or None on timeout / after :meth:`close`."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake the taker for good (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass
class ThroughputStats:
    """Counters behind the node's periodic log line (reset after each line)."""

    frames: int = 0
    errors: int = 0
    stale: int = 0
    total_s: float = 0.0
    model_s: float = 0.0
    latency_s: float = 0.0  # header stamp -> outputs published, summed
    started: float = field(default_factory=time.monotonic)

    def add(self, total_s: float, model_s: float, latency_s: float) -> None:
        self.frames += 1
        self.total_s += total_s
        self.model_s += model_s
        self.latency_s += latency_s

    def line(self, dropped: int) -> str:
        """One log line: rate, mean time per frame (model share), latency, drops, errors."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        n = max(self.frames, 1)
        return (
            f"{self.frames} frames in {elapsed:.1f} s ({self.frames / elapsed:.1f} Hz), "
            f"{1e3 * self.total_s / n:.1f} ms/frame ({1e3 * self.model_s / n:.1f} ms model), "
            f"latency {1e3 * self.latency_s / n:.0f} ms, dropped {dropped} "
            f"(stale {self.stale}), errors {self.errors}"
        )

    def restart(self) -> None:
        self.frames = self.errors = self.stale = 0
        self.total_s = self.model_s = self.latency_s = 0.0
        self.started = time.monotonic()


__all__ = ["FrameProcessor", "LatestSlot", "ProcessedFrame", "ThroughputStats"]
