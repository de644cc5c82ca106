"""rosbag2 (sqlite3 or mcap) without ROS: MOT sequences to bags, the tracker over bags.

- :func:`write_sequence_bag` (``utrack mot2bag``): a MOT sequence as an image topic at its
  frame rate plus its ground truth as ``utrack_msgs/TrackedObjectArray``.
- :func:`track_bag` (``utrack bag-eval``): the node's per-frame work
  (:class:`~utrack_ros.ros.processor.FrameProcessor`) over a bag's image topic, writing
  the node's topics to an output bag, returning MOT results rows and timings.
- :func:`rows_from_tracks_topic` / :func:`gt_from_topic`: recorded tracker output or
  ground truth read back as MOT rows.

Frame numbers: bags written by :func:`write_sequence_bag` stamp frame ``i`` at
``EPOCH_NS + round((i - 1) * 1e9 / frame_rate)`` and record the sequence, frame rate and
epoch in the bag's ``custom_data``; other bags number their image messages by order.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm

from utrack_ros.data.mot import PEDESTRIAN, MOTGroundTruth, MOTSequence, load_mot_gt
from utrack_ros.ros import convert
from utrack_ros.ros.processor import FrameProcessor
from utrack_ros.ros.typestore import (
    COMPRESSED_IMAGE,
    DETECTION_2D_ARRAY,
    IMAGE,
    OCCLUSION_POINT_ARRAY,
    TRACKED_OBJECT_ARRAY,
    get_typestore,
    msg_types,
)

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
#: Stamp of frame 1 in bags made from MOT sequences (2023-11-14T22:13:20Z).
EPOCH_NS = 1_700_000_000 * 1_000_000_000
DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
DEFAULT_GT_TOPIC = "/utrack/ground_truth"
#: The node's topics when it runs as ``utrack_tracker`` without namespace.
NODE_PREFIX = "/utrack_tracker"
#: ``custom_data`` keys of bags written by :func:`write_sequence_bag`.
CUSTOM_KEYS = ("utrack.sequence", "utrack.frame_rate", "utrack.epoch_ns",
               "utrack.first_frame", "utrack.last_frame")


def frame_stamp_ns(frame: int, frame_rate: float, epoch_ns: int = EPOCH_NS) -> int:
    """Header stamp (ns) of 1-based ``frame`` at ``frame_rate``."""
    return int(epoch_ns) + round((int(frame) - 1) * 1e9 / float(frame_rate))


def frame_from_stamp(stamp_ns: int, frame_rate: float, epoch_ns: int = EPOCH_NS) -> int:
    """Inverse of :func:`frame_stamp_ns` (nearest frame)."""
    return round((int(stamp_ns) - int(epoch_ns)) * float(frame_rate) / 1e9) + 1


# --------------------------------------------------------------------------- writing


class BagWriter:
    """A rosbag2 writer that serialises messages with our typestore.

    Refuses (``ValueError``) to replace an existing path unless ``overwrite``, and then
    only a directory that looks like a rosbag2 bag. A bag left half-written by an
    exception is removed.
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3", *, overwrite: bool = False,
                 distro: str = "jazzy") -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise ValueError(f"output {self.path} exists; remove it or pass --overwrite")
            if not (self.path.is_dir() and (self.path / "metadata.yaml").is_file()):
                raise ValueError(f"output {self.path} exists and is not a rosbag2 directory; "
                                 "not overwriting it")
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.typestore = get_typestore(distro)
        self.types = msg_types(self.typestore)
        # Version 8 is what Jazzy writes and Humble's reader still understands.
        self._writer = Writer(self.path, version=8, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._writer.close()
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    def set_custom_data(self, key: str, value: str) -> None:
        self._writer.set_custom_data(key, str(value))

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic in self._connections:
            raise ValueError(f"topic {topic} added twice")
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore)
        self.counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, msg: Any) -> None:
        """Serialise ``msg`` (a rosbags message) to CDR and write it at ``timestamp_ns``."""
        connection = self._connections[topic]
        data = self.typestore.serialize_cdr(msg, connection.msgtype)
        self._writer.write(connection, int(timestamp_ns), data)
        self.counts[topic] += 1


def write_sequence_bag(
    sequence: MOTSequence,
    output: str | Path,
    *,
    frames: range | None = None,
    storage: str = "sqlite3",
    compressed: bool = False,
    image_topic: str | None = None,
    gt_topic: str | None = DEFAULT_GT_TOPIC,
    frame_id: str = "camera",
    jpeg_quality: int = 95,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``frames`` of ``sequence`` to a bag (images + ground truth), return a summary.

    Images are bgr8 ``sensor_msgs/Image`` on ``image_topic`` (default
    ``/camera/image_raw``) or, with ``compressed``, jpeg ``CompressedImage`` on
    ``<image_topic>/compressed`` (image_transport's convention). Frame ``i`` is stamped
    :func:`frame_stamp_ns` ``(i)``; the bag's receive time equals the stamp. Ground truth
    (considered pedestrians: what MOTChallenge scores) goes to ``gt_topic`` as one
    ``TrackedObjectArray`` per frame with ``track_id`` = gt id, ``age`` = frames since the
    id's first box, ``score`` 1; ``gt_topic=None`` or a sequence without gt skips it.
    """
    frames = frames if frames is not None else range(1, sequence.length + 1)
    if not len(frames):
        raise ValueError("no frames to write")
    fps = float(sequence.info.frame_rate)
    base = (image_topic or DEFAULT_IMAGE_TOPIC).rstrip("/")
    image_topic = f"{base}/compressed" if compressed else base
    gt = None
    if gt_topic and sequence.gt_path is not None:
        gt = load_mot_gt(sequence.gt_path).pedestrians()
    first_seen: dict[int, int] = {}
    if gt is not None:
        for f, i in sorted(zip(gt.frame.tolist(), gt.track_id.tolist(), strict=True)):
            first_seen.setdefault(i, f)

    with BagWriter(output, storage, overwrite=overwrite) as bag:
        types = bag.types
        bag.add_topic(image_topic, COMPRESSED_IMAGE if compressed else IMAGE)
        if gt is not None:
            bag.add_topic(gt_topic, TRACKED_OBJECT_ARRAY)
        for key, value in zip(CUSTOM_KEYS, (sequence.name, repr(fps), EPOCH_NS, frames.start,
                                            frames.stop - 1), strict=True):
            bag.set_custom_data(key, str(value))
        iterator: Iterator[tuple[int, np.ndarray]] = sequence.frames(frames.start,
                                                                     frames.stop - 1)
        if progress:
            iterator = tqdm(iterator, total=len(frames), desc=f"mot2bag {sequence.name}",
                            unit="frame")
        for index, image in iterator:
            stamp = frame_stamp_ns(index, fps)
            header = convert.make_header(types, stamp, frame_id)
            if compressed:
                msg = convert.bgr_to_compressed(types, image, header, "jpeg", jpeg_quality)
            else:
                msg = convert.bgr_to_image(types, image, header)
            bag.write(image_topic, stamp, msg)
            if gt is not None:
                keep = gt.frame == index
                records = [
                    convert.TrackRecord(
                        track_id=int(i), box_xyxy=box, score=1.0,
                        is_new=first_seen[int(i)] == index,
                        age=index - first_seen[int(i)],
                    )
                    for i, box in zip(gt.track_id[keep], gt.boxes_xyxy[keep], strict=True)
                ]
                bag.write(gt_topic, stamp, convert.tracks_to_msg(types, records, header))
        counts = dict(bag.counts)
    return {"path": str(output), "storage": storage, "image_topic": image_topic,
            "gt_topic": gt_topic if gt is not None else None, "frames": len(frames),
            "frame_rate": fps, "counts": counts}


# --------------------------------------------------------------------------- reading


@contextmanager
def open_bag(path: str | Path) -> Iterator[AnyReader]:
    """An opened rosbags ``AnyReader`` (sqlite3 or mcap, types from the bag or ours)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag {path} not found")
    reader = AnyReader([path], default_typestore=get_typestore())
    try:
        reader.open()
    except Exception as exc:  # rosbags raises several reader errors
        raise ValueError(f"cannot open {path} as a rosbag2 bag: {exc}") from exc
    try:
        yield reader
    finally:
        reader.close()


def bag_custom_data(reader: AnyReader) -> dict[str, str]:
    """The rosbag2 metadata ``custom_data`` (empty for bags without it)."""
    data: dict[str, str] = {}
    for sub in getattr(reader, "readers", []):
        # rosbags: Reader wraps a storage reader (directory bag or bare .mcap) -> metadata
        for owner in (getattr(sub, "storage", None), sub):
            metadata = getattr(owner, "metadata", None)
            custom = getattr(metadata, "custom", None)
            if custom:
                data.update(custom)
                break
    return data


def topics_of_type(reader: AnyReader, msgtypes: Sequence[str]) -> dict[str, str]:
    """``{topic: msgtype}`` of the bag's topics whose type is one of ``msgtypes``."""
    return {topic: info.msgtype for topic, info in reader.topics.items()
            if info.msgtype in msgtypes}


def choose_topic(reader: AnyReader, topic: str | None, msgtypes: Sequence[str],
                 what: str) -> str:
    """``topic`` checked against the bag, or the only topic of ``msgtypes`` when None."""
    candidates = topics_of_type(reader, msgtypes)
    if topic is not None:
        if topic not in reader.topics:
            raise ValueError(f"the bag has no topic {topic}; its {what} topics: "
                             f"{sorted(candidates) or 'none'}")
        if topic not in candidates:
            raise ValueError(f"topic {topic} is {reader.topics[topic].msgtype}, not a {what} "
                             f"topic ({', '.join(msgtypes)})")
        return topic
    if len(candidates) != 1:
        raise ValueError(
            f"the bag has {len(candidates)} {what} topics {sorted(candidates)}; name one"
            if candidates else f"the bag has no {what} topic ({', '.join(msgtypes)})"
        )
    return next(iter(candidates))


def iter_messages(reader: AnyReader, topic: str) -> Iterator[tuple[int, Any]]:
    """``(receive time ns, deserialised message)`` of ``topic``, in bag order."""
    connections = [c for c in reader.connections if c.topic == topic]
    for connection, timestamp, raw in reader.messages(connections=connections):
        yield timestamp, reader.deserialize(raw, connection.msgtype)


@dataclass
class FrameMap:
    """How image messages map to MOT frame numbers (``"order"`` or ``"stamp"``).

    ``stamp``: ``frame = round((stamp - epoch_ns) * frame_rate) + 1``; an ``epoch_ns`` of
    None is taken from the first message (that image is frame 1).
    """

    mode: str
    first_frame: int = 1
    frame_rate: float | None = None
    epoch_ns: int | None = EPOCH_NS
    sequence: str | None = None

    def frame(self, index: int, stamp_ns: int) -> int:
        """Frame of the ``index``-th (0-based) image message stamped ``stamp_ns``."""
        if self.mode == "order":
            return self.first_frame + index
        if self.epoch_ns is None:
            self.epoch_ns = int(stamp_ns)
        frame = frame_from_stamp(stamp_ns, self.frame_rate, self.epoch_ns)
        if frame < 1:
            raise ValueError(f"image stamped {stamp_ns * 1e-9:.3f} s lies before frame 1 "
                             f"({self.epoch_ns * 1e-9:.3f} s); try --frame-mapping order")
        return frame


#: Bags whose stamps start within this long after EPOCH_NS came from ``utrack mot2bag``.
_MOT_BAG_SPAN_NS = 24 * 3600 * 1_000_000_000


def frame_map_for(reader: AnyReader, mode: str = "auto",
                  frame_rate: float | None = None) -> FrameMap:
    """The :class:`FrameMap` of a bag.

    ``auto``: by stamp for bags written by ``utrack mot2bag`` (their custom_data carries
    rate and epoch) or when ``frame_rate`` is given, else by order from frame 1.
    ``stamp`` needs one of those; without custom_data the epoch is mot2bag's when the bag
    starts within a day after it (a recording of a replayed mot2bag bag), else the first
    image's stamp. ``order`` numbers image messages 1, 2, ... (from the custom_data's
    first frame when present).
    """
    if mode not in ("auto", "order", "stamp"):
        raise ValueError(f"frame mapping must be auto, order or stamp, got {mode!r}")
    custom = bag_custom_data(reader)
    name = custom.get("utrack.sequence")
    first = int(custom.get("utrack.first_frame", 1))
    rate = frame_rate if frame_rate is not None else (
        float(custom["utrack.frame_rate"]) if "utrack.frame_rate" in custom else None)
    if mode == "order" or (mode == "auto" and rate is None):
        return FrameMap("order", first_frame=first, sequence=name)
    if rate is None:
        raise ValueError("frame mapping 'stamp' needs the frame rate: this bag was not "
                         "written by utrack mot2bag, pass --frame-rate")
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {rate}")
    if "utrack.epoch_ns" in custom:
        epoch: int | None = int(custom["utrack.epoch_ns"])
    else:
        start = reader.start_time
        epoch = EPOCH_NS if 0 <= start - EPOCH_NS < _MOT_BAG_SPAN_NS else None
    return FrameMap("stamp", first_frame=first, frame_rate=rate, epoch_ns=epoch,
                    sequence=name)


def image_frames(reader: AnyReader, topic: str, frame_map: FrameMap) -> dict[int, int]:
    """``{header stamp ns: frame}`` of every message on the image topic."""
    out: dict[int, int] = {}
    for index, (_, msg) in enumerate(iter_messages(reader, topic)):
        stamp = convert.stamp_to_ns(msg.header.stamp)
        frame = frame_map.frame(index, stamp)
        if stamp in out:
            raise ValueError(f"two images on {topic} share the stamp {stamp * 1e-9:.9f}")
        out[stamp] = frame
    if len(set(out.values())) != len(out):
        raise ValueError(f"images on {topic} map to the same frame number twice: the frame "
                         "rate given does not match their stamps (try --frame-mapping order)")
    return out


def rows_from_tracks_topic(reader: AnyReader, topic: str,
                           stamp_to_frame: dict[int, int]) -> tuple[np.ndarray, int]:
    """MOT rows of a ``TrackedObjectArray`` (or ``Detection2DArray``) topic.

    Messages are placed by header stamp on the image frames; returns ``(rows, unmatched)``
    where ``unmatched`` counts messages whose stamp is no image's (they are skipped).
    """
    rows, unmatched = [], 0
    for _, msg in iter_messages(reader, topic):
        frame = stamp_to_frame.get(convert.stamp_to_ns(msg.header.stamp))
        if frame is None:
            unmatched += 1
            continue
        records = (convert.tracks_from_msg(msg) if hasattr(msg, "objects")
                   else convert.detection2d_array_to_tracks(msg))
        rows.append(convert.records_to_mot_rows(frame, records))
    return (np.concatenate(rows) if rows else np.zeros((0, 7))), unmatched


def gt_from_rows(rows: np.ndarray) -> MOTGroundTruth:
    """MOT rows (frame, id, l, t, w, h, ...) as ground truth: considered pedestrians."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    n = len(rows)
    return MOTGroundTruth(
        frame=rows[:, 0].astype(np.int64), track_id=rows[:, 1].astype(np.int64),
        boxes_xywh=rows[:, 2:6].copy(), consider=np.ones(n, dtype=bool),
        cls=np.full(n, PEDESTRIAN, dtype=np.int64), visibility=np.full(n, np.nan),
    )


# --------------------------------------------------------------------------- tracking


@dataclass
class BagTrackingRun:
    """What :func:`track_bag` returns."""

    rows: np.ndarray  # MOT results [N, 7] of the published tracks
    frames: list[int]  # frame numbers processed, in order
    stamp_to_frame: dict[int, int]  # header stamp ns -> frame, every processed image
    image_topic: str
    frame_map: FrameMap
    stats: dict[str, float] = field(default_factory=dict)


def track_bag(
    pipeline: Any,
    bag_path: str | Path,
    *,
    image_topic: str | None = None,
    frames: range | None = None,
    frame_mapping: str = "auto",
    frame_rate: float | None = None,
    output: str | Path | None = None,
    storage: str = "sqlite3",
    output_prefix: str = NODE_PREFIX,
    debug_image: bool = False,
    vision_msgs: bool = False,
    frame_id: str = "",
    overwrite: bool = False,
    progress: bool = True,
) -> BagTrackingRun:
    """Run the node's per-frame work over a bag's images, frame by frame, from a fresh state.

    Each image message goes through :class:`FrameProcessor` (the node's conversion,
    ``pipeline.step(image, timestamp=header stamp)`` and output messages); with ``output``
    the node's topics (``<output_prefix>/tracks``, ``/occlusions``, optionally
    ``/debug_image`` and ``/detections``) are written there at the input's receive times.
    ``frames`` restricts the run to those MOT frames (the tracker starts at the first).
    """
    with open_bag(bag_path) as reader, ExitStack() as stack:
        topic = choose_topic(reader, image_topic, (IMAGE, COMPRESSED_IMAGE), "image")
        frame_map = frame_map_for(reader, frame_mapping, frame_rate)
        total = reader.topics[topic].msgcount
        writer = (stack.enter_context(BagWriter(output, storage, overwrite=overwrite))
                  if output else None)
        types = writer.types if writer is not None else msg_types(get_typestore())
        processor = FrameProcessor(pipeline, types, frame_id=frame_id,
                                   debug_image=debug_image, vision_msgs=vision_msgs)
        processor.reset()
        prefix = output_prefix.rstrip("/")
        if writer is not None:
            writer.add_topic(f"{prefix}/tracks", TRACKED_OBJECT_ARRAY)
            writer.add_topic(f"{prefix}/occlusions", OCCLUSION_POINT_ARRAY)
            if debug_image:
                writer.add_topic(f"{prefix}/debug_image", IMAGE)
            if vision_msgs:
                writer.add_topic(f"{prefix}/detections", DETECTION_2D_ARRAY)
        rows: list[np.ndarray] = []
        processed: list[int] = []
        seen: set[int] = set()
        stamp_to_frame: dict[int, int] = {}
        timing = dict.fromkeys(("read", "convert", "pipeline", "model", "output", "write"), 0.0)
        bar = stack.enter_context(tqdm(
            total=len(frames) if frames is not None else total,
            desc=f"bag-eval {Path(bag_path).name}", unit="frame", disable=not progress))
        start = time.perf_counter()
        messages = iter_messages(reader, topic)
        index = 0
        while True:
            t0 = time.perf_counter()
            item = next(messages, None)
            timing["read"] += time.perf_counter() - t0
            if item is None:
                break
            log_time, msg = item
            stamp = convert.stamp_to_ns(msg.header.stamp)
            frame = frame_map.frame(index, stamp)
            index += 1
            if frames is not None and frame not in frames:
                continue
            if frame in seen:
                raise ValueError(f"two images map to frame {frame}: the frame rate does "
                                 "not match the stamps (try --frame-mapping order)")
            out = processor.process(msg)
            timing["convert"] += out.convert_s
            timing["pipeline"] += out.pipeline_s
            timing["model"] += out.model_s
            timing["output"] += out.output_s
            t1 = time.perf_counter()
            if writer is not None:
                writer.write(f"{prefix}/tracks", log_time, out.tracks)
                writer.write(f"{prefix}/occlusions", log_time, out.occlusions)
                if out.debug_image is not None:
                    writer.write(f"{prefix}/debug_image", log_time, out.debug_image)
                if out.detections is not None:
                    writer.write(f"{prefix}/detections", log_time, out.detections)
            timing["write"] += time.perf_counter() - t1
            rows.append(convert.records_to_mot_rows(frame, convert.tracks_from_msg(out.tracks)))
            processed.append(frame)
            seen.add(frame)
            stamp_to_frame[stamp] = frame
            bar.update(1)
    elapsed = time.perf_counter() - start
    if frames is not None and not processed:
        raise ValueError(f"no image of {topic} maps to frames {frames.start}.."
                         f"{frames.stop - 1} (frame mapping {frame_map.mode})")
    n = len(processed)
    stats = {"frames": float(n), "seconds": elapsed,
             "fps": n / elapsed if elapsed > 0 else float("nan")}
    stats.update({f"{k}_seconds": v for k, v in timing.items()})
    stats["model_share"] = timing["model"] / elapsed if elapsed > 0 else float("nan")
    stats["outside_model_share"] = 1.0 - stats["model_share"] if elapsed > 0 else float("nan")
    return BagTrackingRun(
        rows=np.concatenate(rows) if rows else np.zeros((0, 7)), frames=processed,
        stamp_to_frame=stamp_to_frame, image_topic=topic, frame_map=frame_map, stats=stats,
    )


__all__ = [
    "CUSTOM_KEYS",
    "DEFAULT_GT_TOPIC",
    "DEFAULT_IMAGE_TOPIC",
    "EPOCH_NS",
    "NODE_PREFIX",
    "STORAGES",
    "BagTrackingRun",
    "BagWriter",
    "FrameMap",
    "bag_custom_data",
    "choose_topic",
    "frame_from_stamp",
    "frame_map_for",
    "frame_stamp_ns",
    "gt_from_rows",
    "image_frames",
    "iter_messages",
    "open_bag",
    "rows_from_tracks_topic",
    "topics_of_type",
    "track_bag",
    "write_sequence_bag",
]
