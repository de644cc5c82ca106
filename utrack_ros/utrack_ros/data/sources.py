"""Frame sources for offline tools: a MOT sequence, an image folder, or a video file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from utrack_ros.data.mot import MOTSequence
from utrack_ros.resources import sample_sequence_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg")


@dataclass
class FrameSource:
    """Frames ``1..length`` of something a user points a tool at."""

    name: str
    length: int
    frame_rate: float
    sequence: MOTSequence | None  # set when the source is a MOT sequence (gt may exist)
    _images: list[Path] | None = None
    _video: Path | None = None

    def frames(self, frames: range | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_number, bgr_image)`` over ``frames`` (1-based, default all)."""
        frames = frames if frames is not None else range(1, self.length + 1)
        if self.sequence is not None:
            if len(frames):
                yield from self.sequence.frames(frames.start, frames.stop - 1)
            return
        if self._images is not None:
            for index in frames:
                image = cv2.imread(str(self._images[index - 1]), cv2.IMREAD_COLOR)
                if image is None:
                    raise OSError(f"cannot read image {self._images[index - 1]}")
                yield index, image
            return
        capture = cv2.VideoCapture(str(self._video))
        try:
            index = 0
            while index < frames.stop - 1:
                ok, image = capture.read()
                if not ok:
                    break
                index += 1
                if index in frames:
                    yield index, image
        finally:
            capture.release()


def open_source(source: str | Path) -> FrameSource:
    """Open ``source``: ``sample`` (the shipped PETS09-S2L1), a MOT sequence directory
    (with seqinfo.ini), a folder of images (sorted by name), or a video file."""
    if str(source) == "sample":
        source = sample_sequence_path()
    path = Path(source)
    if path.is_dir() and (path / "seqinfo.ini").is_file():
        seq = MOTSequence(path)
        return FrameSource(seq.name, seq.length, seq.info.frame_rate, seq)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(
                f"{path} has no seqinfo.ini and no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        return FrameSource(path.name, len(images), 30.0, None, _images=images)
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise OSError(f"cannot open video {path}")
        length = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        capture.release()
        if length <= 0:
            raise ValueError(f"video {path} reports no frames")
        return FrameSource(path.stem, length, float(fps), None, _video=path)
    if not path.exists():
        raise FileNotFoundError(
            f"source {path} does not exist (expected 'sample', a MOT sequence directory, an "
            "image folder or a video file)"
        )
    raise ValueError(
        f"source {path} is not a MOT sequence directory, image folder or video "
        f"({', '.join(VIDEO_SUFFIXES)})"
    )
