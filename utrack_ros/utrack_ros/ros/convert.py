"""ROS messages <-> numpy, for rclpy messages and rosbags messages alike (no rclpy import).

Reading works on any object with the ROS field names (duck typing). Writing needs the
message classes: every ``*_to_msg`` function takes a ``types`` namespace with the class
attributes it uses (``Header``, ``Time``, ``Image``, ``TrackedObjectArray``, ...) and two
helpers, ``uint8_array(bytes_like)`` and ``float64_array(values)``, that build the
container each flavour expects for ``uint8[]`` and ``float64[N]`` fields.
:func:`utrack_ros.ros.typestore.msg_types` builds it from a rosbags typestore, and the node
builds it from the rclpy classes. Every message is built with all its fields as keyword
arguments, which both flavours accept (rosbags classes have no defaults).

Conventions (DESIGN §5): pixel coordinates of the input image; the output header is the
input image's header (stamp and frame_id), with an optional frame_id override.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# --------------------------------------------------------------------------- images

#: Raw encodings the tracker accepts: encoding -> (bytes per pixel, cv2 conversion to BGR
#: or None when the pixels already are BGR). Bayer codes follow cv_bridge (OpenCV names a
#: Bayer pattern by its second row, so ROS ``rggb`` is OpenCV ``BG``).
IMAGE_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "bgr8": (3, None),
    "8UC3": (3, None),
    "rgb8": (3, cv2.COLOR_RGB2BGR),
    "mono8": (1, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, cv2.COLOR_GRAY2BGR),
    "bgra8": (4, cv2.COLOR_BGRA2BGR),
    "8UC4": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
    "bayer_rggb8": (1, cv2.COLOR_BayerBG2BGR),
    "bayer_bggr8": (1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg8": (1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg8": (1, cv2.COLOR_BayerGB2BGR),
    "yuv422": (2, cv2.COLOR_YUV2BGR_UYVY),  # UYVY byte order
    "uyvy": (2, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2BGR_YUY2),  # YUYV byte order
    "yuyv": (2, cv2.COLOR_YUV2BGR_YUY2),
}

#: Valid ROS encodings that are not 8-bit colour or mono (depth, 16-bit, float).
_DEEP_ENCODINGS = {
    "mono16", "bgr16", "rgb16", "bgra16", "rgba16",
    "bayer_rggb16", "bayer_bggr16", "bayer_gbrg16", "bayer_grbg16",
    "8SC1", "8SC2", "8SC3", "8SC4", "8UC2",
    *(f"{depth}C{n}" for depth in ("16U", "16S", "32S", "32F", "64F") for n in (1, 2, 3, 4)),
}

_SUPPORTED = ", ".join(sorted(IMAGE_ENCODINGS))


class ImageConversionError(ValueError):
    """An image message the tracker cannot use (the message says why and what is expected)."""


def _deep_encoding_error(encoding: str) -> ImageConversionError:
    return ImageConversionError(
        f"image encoding {encoding!r} is not supported: the tracker expects 8-bit colour or "
        f"mono images ({_SUPPORTED}); convert depth / 16-bit / float images before tracking"
    )


def _as_uint8_buffer(data: Any) -> np.ndarray:
    """A 1-D uint8 view of a message's ``data`` (bytes, array.array('B'), numpy, list)."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype.itemsize == 1 else data.reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:  # a plain sequence of ints
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def image_to_bgr(msg: Any) -> np.ndarray:
    """A ``sensor_msgs/Image`` -> uint8 BGR ``H x W x 3`` (a new array, never a view).

    Honours ``step`` (row padding). ``is_bigendian`` does not matter for 8-bit pixels.
    Raises :class:`ImageConversionError` (a ``ValueError``) with the reason for empty
    images, unsupported encodings, a ``step`` shorter than a row, or too little data.
    """
    encoding = str(msg.encoding).strip()
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(
            f"empty image ({width}x{height}, encoding {encoding!r}): nothing to track"
        )
    if encoding not in IMAGE_ENCODINGS:
        if encoding in _DEEP_ENCODINGS:
            raise _deep_encoding_error(encoding)
        raise ImageConversionError(
            f"unknown image encoding {encoding!r}; supported: {_SUPPORTED}"
        )
    bpp, conversion = IMAGE_ENCODINGS[encoding]
    row_bytes = width * bpp
    if step < row_bytes:
        raise ImageConversionError(
            f"image step {step} is smaller than a row of {width} {encoding} pixels "
            f"({row_bytes} bytes)"
        )
    if bpp == 2 and width % 2:
        raise ImageConversionError(f"{encoding} images need an even width, got {width}")
    buffer = _as_uint8_buffer(msg.data)
    if buffer.size < step * height:
        raise ImageConversionError(
            f"image data has {buffer.size} bytes, fewer than step * height = "
            f"{step} * {height} = {step * height} ({width}x{height} {encoding})"
        )
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    pixels = rows if bpp == 1 else rows.reshape(height, width, bpp)
    if conversion is None:
        return np.array(pixels, dtype=np.uint8, copy=True)
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def compressed_to_bgr(msg: Any) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (jpeg, png, ...) -> uint8 BGR ``H x W x 3``.

    ``format`` is ``"jpeg"``/``"png"`` or image_transport's ``"<encoding>; jpeg compressed
    <encoding>"``; compressedDepth and 16-bit images are refused.
    """
    fmt = str(msg.format).strip()
    lower = fmt.lower()
    if "compresseddepth" in lower:
        raise ImageConversionError(
            f"compressed format {fmt!r} is a depth image; the tracker expects 8-bit colour "
            "or mono images"
        )
    source_encoding = fmt.split(";", 1)[0].strip() if ";" in fmt else ""
    if source_encoding in _DEEP_ENCODINGS:
        raise _deep_encoding_error(source_encoding)
    buffer = _as_uint8_buffer(msg.data)
    if buffer.size == 0:
        raise ImageConversionError(f"empty compressed image (format {fmt!r})")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageConversionError(
            f"cannot decode the {buffer.size}-byte compressed image (format {fmt!r}); "
            "expected jpeg or png data"
        )
    return image


def message_to_bgr(msg: Any) -> np.ndarray:
    """``Image`` or ``CompressedImage`` (told apart by their fields) -> BGR."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_bgr(msg)
    return image_to_bgr(msg)


def bgr_to_image(types: Any, image_bgr: np.ndarray, header: Any) -> Any:
    """uint8 BGR ``H x W x 3`` -> ``sensor_msgs/Image`` (bgr8, no padding) with ``header``."""
    image = np.ascontiguousarray(image_bgr, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {image.shape}")
    height, width = image.shape[:2]
    return types.Image(
        header=header,
        height=height,
        width=width,
        encoding="bgr8",
        is_bigendian=0,
        step=width * 3,
        data=types.uint8_array(image.tobytes()),
    )


def bgr_to_compressed(
    types: Any, image_bgr: np.ndarray, header: Any, fmt: str = "jpeg", quality: int = 90
) -> Any:
    """uint8 BGR -> ``sensor_msgs/CompressedImage`` in image_transport's format string."""
    fmt = fmt.lower()
    if fmt not in ("jpeg", "png"):
        raise ValueError(f"compressed format must be 'jpeg' or 'png', got {fmt!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", image_bgr, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode the image as {fmt}")
    return types.CompressedImage(
        header=header,
        format=f"bgr8; {fmt} compressed bgr8",
        data=types.uint8_array(encoded.tobytes()),
    )


# --------------------------------------------------------------------------- headers


def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_to_seconds(stamp: Any) -> float:
    """``builtin_interfaces/Time`` -> float seconds (the pipeline's timestamp)."""
    return int(stamp.sec) + int(stamp.nanosec) * 1e-9


def make_header(types: Any, stamp_ns: int, frame_id: str = "") -> Any:
    """A ``std_msgs/Header`` from integer nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types.Header(stamp=types.Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def copy_header(types: Any, header: Any, frame_id: str | None = None) -> Any:
    """A new header with ``header``'s stamp and its frame_id (or ``frame_id`` if given)."""
    return types.Header(
        stamp=types.Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
        frame_id=frame_id if frame_id else str(header.frame_id),
    )


# --------------------------------------------------------------------------- tracks

#: ``TrackedObject.state`` values (utrack_msgs/msg/TrackedObject.msg).
STATE_NEW, STATE_TRACKED, STATE_REFOUND = 0, 1, 2
_STATE_NAMES = {STATE_NEW: "tracked", STATE_TRACKED: "tracked", STATE_REFOUND: "refound"}
_UINT32_MAX = 2**32 - 1


@dataclass
class TrackRecord:
    """A track read back from a message, with the attributes of a tracker ``Track``."""

    track_id: int
    box_xyxy: np.ndarray
    score: float
    state: str = "tracked"
    is_new: bool = False
    age: int = 0
    frames_since_detection: int = 0


def track_state_code(track: Any) -> int:
    """``STATE_*`` of a tracker ``Track`` (``is_new`` first, then ``state``)."""
    state = str(track.state)
    if state not in ("tracked", "refound"):
        raise ValueError(f"track {track.track_id}: unknown state {state!r} "
                         "(expected 'tracked' or 'refound')")
    if state == "refound":
        return STATE_REFOUND
    return STATE_NEW if bool(track.is_new) else STATE_TRACKED


def _uint32(value: Any, what: str) -> int:
    number = int(value)
    if not 0 <= number <= _UINT32_MAX:
        raise ValueError(f"{what} = {number} does not fit a uint32 field")
    return number


def tracks_to_msg(types: Any, tracks: Iterable[Any], header: Any) -> Any:
    """Tracker ``Track`` objects -> ``utrack_msgs/TrackedObjectArray`` (ordered by id)."""
    objects = []
    for track in sorted(tracks, key=lambda t: int(t.track_id)):
        x1, y1, x2, y2 = (float(v) for v in np.asarray(track.box_xyxy, dtype=np.float64))
        objects.append(
            types.TrackedObject(
                track_id=_uint32(track.track_id, "track_id"),
                state=track_state_code(track),
                score=float(track.score),
                x1=x1,
                y1=y1,
                x2=x2,
                y2=y2,
                age=_uint32(track.age, f"track {track.track_id} age"),
                frames_since_detection=_uint32(
                    track.frames_since_detection,
                    f"track {track.track_id} frames_since_detection",
                ),
            )
        )
    return types.TrackedObjectArray(header=header, objects=objects)


def tracks_from_msg(msg: Any) -> list[TrackRecord]:
    """``utrack_msgs/TrackedObjectArray`` -> :class:`TrackRecord` list."""
    records = []
    for obj in msg.objects:
        state = int(obj.state)
        if state not in _STATE_NAMES:
            raise ValueError(f"TrackedObject {obj.track_id}: unknown state {state}")
        records.append(
            TrackRecord(
                track_id=int(obj.track_id),
                box_xyxy=np.array([obj.x1, obj.y1, obj.x2, obj.y2], dtype=np.float64),
                score=float(obj.score),
                state=_STATE_NAMES[state],
                is_new=state == STATE_NEW,
                age=int(obj.age),
                frames_since_detection=int(obj.frames_since_detection),
            )
        )
    return records


def records_to_mot_rows(frame: int, records: Sequence[Any]) -> np.ndarray:
    """Tracks of one frame -> MOT results rows ``[n, 7]`` (frame, id, l, t, w, h, score)."""
    rows = np.zeros((len(records), 7), dtype=np.float64)
    for i, r in enumerate(records):
        x1, y1, x2, y2 = (float(v) for v in r.box_xyxy)
        rows[i] = (frame, int(r.track_id), x1, y1, x2 - x1, y2 - y1, float(r.score))
    return rows


# --------------------------------------------------------------------------- occlusions


def occlusions_to_msg(types: Any, centers: Any, scores: Any, header: Any) -> Any:
    """Occlusion centres ``[m, 2]`` + scores ``[m]`` -> ``OcclusionPointArray`` (by score)."""
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(centers) != len(scores):
        raise ValueError(f"{len(centers)} occlusion centres but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    points = [
        types.OcclusionPoint(x=float(centers[i, 0]), y=float(centers[i, 1]),
                             score=float(scores[i]))
        for i in order
    ]
    return types.OcclusionPointArray(header=header, points=points)


def occlusions_from_msg(msg: Any) -> tuple[np.ndarray, np.ndarray]:
    """``OcclusionPointArray`` -> (centres ``[m, 2]``, scores ``[m]``)."""
    centers = np.array([[p.x, p.y] for p in msg.points], dtype=np.float64).reshape(-1, 2)
    scores = np.array([p.score for p in msg.points], dtype=np.float64)
    return centers, scores


# --------------------------------------------------------------------------- vision_msgs


def _field_names(cls: Any) -> set[str]:
    """Field names of an rclpy or rosbags message class."""
    getter = getattr(cls, "get_fields_and_field_types", None)
    if getter is not None:  # rclpy
        return set(getter())
    fields = getattr(cls, "__dataclass_fields__", None)  # rosbags
    if fields is not None:
        return {name for name in fields if not name.startswith("__")}
    raise TypeError(f"{cls!r} is not a ROS message class")


def tracks_to_detection2d_array(types: Any, tracks: Iterable[Any], header: Any,
                                class_id: str = "person") -> Any:
    """Tracks -> ``vision_msgs/Detection2DArray`` (track id in ``Detection2D.id``).

    Works with vision_msgs 4.x (Humble, Jazzy and later: ``bbox.center.position.x``,
    ``results[].hypothesis.class_id``) and with the older layouts (``bbox.center.x``
    from geometry_msgs/Pose2D; ``results[].id/score``; ``tracking_id``), told apart by the
    fields of the classes in ``types``.
    """
    pose2d_fields = _field_names(types.Pose2D)
    hypothesis_fields = _field_names(types.ObjectHypothesisWithPose)
    detection_fields = _field_names(types.Detection2D)
    id_field = "id" if "id" in detection_fields else "tracking_id"
    identity_pose = types.PoseWithCovariance(
        pose=types.Pose(
            position=types.Point(x=0.0, y=0.0, z=0.0),
            orientation=types.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0),
        ),
        covariance=types.float64_array(np.zeros(36)),
    )
    detections = []
    for track in sorted(tracks, key=lambda t: int(t.track_id)):
        x1, y1, x2, y2 = (float(v) for v in np.asarray(track.box_xyxy, dtype=np.float64))
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        if "position" in pose2d_fields:
            center = types.Pose2D(position=types.Point2D(x=cx, y=cy), theta=0.0)
        else:
            center = types.Pose2D(x=cx, y=cy, theta=0.0)
        bbox = types.BoundingBox2D(center=center, size_x=x2 - x1, size_y=y2 - y1)
        if "hypothesis" in hypothesis_fields:
            result = types.ObjectHypothesisWithPose(
                hypothesis=types.ObjectHypothesis(class_id=class_id, score=float(track.score)),
                pose=identity_pose,
            )
        else:
            result = types.ObjectHypothesisWithPose(
                id=class_id, score=float(track.score), pose=identity_pose
            )
        kwargs = {"header": header, "results": [result], "bbox": bbox,
                  id_field: str(int(track.track_id))}
        extra = detection_fields - set(kwargs)
        if extra:
            raise ValueError(f"unsupported vision_msgs Detection2D layout: extra fields "
                             f"{sorted(extra)}")
        detections.append(types.Detection2D(**kwargs))
    return types.Detection2DArray(header=header, detections=detections)


def detection2d_array_to_tracks(msg: Any) -> list[TrackRecord]:
    """``vision_msgs/Detection2DArray`` (any layout, see above) -> :class:`TrackRecord` list.

    The track id is ``Detection2D.id`` (or ``tracking_id``) parsed as an integer; the score
    is the first result's.
    """
    records = []
    for det in msg.detections:
        center = det.bbox.center
        point = getattr(center, "position", center)  # vision_msgs >= 4 vs geometry Pose2D
        cx, cy = float(point.x), float(point.y)
        w, h = float(det.bbox.size_x), float(det.bbox.size_y)
        raw_id = getattr(det, "id", None)
        if raw_id is None:
            raw_id = getattr(det, "tracking_id", "")
        try:
            track_id = int(str(raw_id))
        except ValueError:
            raise ValueError(f"Detection2D id {raw_id!r} is not an integer track id") from None
        score = 0.0
        if len(det.results):
            first = det.results[0]
            hypothesis = getattr(first, "hypothesis", first)
            score = float(hypothesis.score)
        records.append(
            TrackRecord(track_id, np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]),
                        score)
        )
    return records


# --------------------------------------------------------------------------- debug image


def annotate(image_bgr: np.ndarray, tracks: Sequence[Any],
             occlusion_centers: np.ndarray | None = None) -> np.ndarray:
    """A copy of the frame with tracks (re-found: dashed red) and occlusion centres (crosses).

    The drawing is :func:`utrack_ros.visualize.draw_tracks`, the same as ``utrack track
    --video``.
    """
    from utrack_ros.visualize import draw_tracks

    return draw_tracks(image_bgr, tracks, occlusion_centers, copy=True)


def debug_image_msg(types: Any, image_bgr: np.ndarray, tracks: Sequence[Any],
                    occlusion_centers: np.ndarray | None, header: Any) -> Any:
    """The annotated frame as a bgr8 ``sensor_msgs/Image`` carrying ``header``."""
    return bgr_to_image(types, annotate(image_bgr, tracks, occlusion_centers), header)


__all__ = [
    "IMAGE_ENCODINGS",
    "STATE_NEW",
    "STATE_REFOUND",
    "STATE_TRACKED",
    "ImageConversionError",
    "TrackRecord",
    "annotate",
    "bgr_to_compressed",
    "bgr_to_image",
    "compressed_to_bgr",
    "copy_header",
    "debug_image_msg",
    "detection2d_array_to_tracks",
    "image_to_bgr",
    "make_header",
    "message_to_bgr",
    "occlusions_from_msg",
    "occlusions_to_msg",
    "records_to_mot_rows",
    "stamp_to_ns",
    "stamp_to_seconds",
    "track_state_code",
    "tracks_from_msg",
    "tracks_to_detection2d_array",
    "tracks_to_msg",
]
