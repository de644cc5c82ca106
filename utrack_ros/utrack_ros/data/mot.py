"""MOTChallenge sequences and files: seqinfo.ini, frames, gt.txt, det.txt, results.

A sequence directory holds ``seqinfo.ini`` and its frames either as images in ``imDir``
(``img1/000001.jpg`` ...) or, as an extension of the format used by the shipped sample,
as a video named by a ``video=`` key in ``seqinfo.ini``. Frame numbers start at 1.

File layouts (comma separated, one box per line):

- gt, MOT16/17/20: ``frame, id, left, top, width, height, consider, class, visibility``
- gt, MOT15 (PETS09, TUD): ``frame, id, left, top, width, height, consider, wx, wy, wz``
  (no class and no visibility column: every box is a pedestrian, visibility unknown)
- det: ``frame, -1, left, top, width, height, score[, ...]``
- results: ``frame, id, left, top, width, height, score, -1, -1, -1``
"""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

#: MOT17 class ids (the gt's 8th column).
PEDESTRIAN = 1
#: Classes MOTChallenge treats as distractors: matched boxes of these are not false positives.
DISTRACTOR_CLASSES = (2, 7, 8, 12)
#: Reading a video forward by up to this many frames is cheaper than seeking (~50-100 ms).
MAX_GRAB_FORWARD = 32


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``."""

    name: str
    frame_rate: float
    length: int
    width: int
    height: int
    im_dir: str | None = "img1"
    im_ext: str = ".jpg"
    video: str | None = None


def read_seqinfo(seq_dir: str | Path) -> SeqInfo:
    """Read ``seq_dir/seqinfo.ini``; a clear error names a missing file or key."""
    path = Path(seq_dir) / "seqinfo.ini"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a MOT sequence directory needs a seqinfo.ini "
            "([Sequence] name, frameRate, seqLength, imWidth, imHeight, imDir or video)"
        )
    parser = configparser.ConfigParser()
    parser.read(path)
    if "Sequence" not in parser:
        raise ValueError(f"{path} has no [Sequence] section")
    sec = parser["Sequence"]
    try:
        info = SeqInfo(
            name=sec.get("name", Path(seq_dir).resolve().name),
            frame_rate=float(sec["frameRate"]),
            length=int(sec["seqLength"]),
            width=int(sec["imWidth"]),
            height=int(sec["imHeight"]),
            im_dir=sec.get("imDir"),
            im_ext=sec.get("imExt", ".jpg"),
            video=sec.get("video"),
        )
    except KeyError as exc:
        raise ValueError(f"{path} is missing the key {exc.args[0]!r} in [Sequence]") from exc
    if info.im_dir is None and info.video is None:
        raise ValueError(f"{path} names neither imDir (image folder) nor video (video file)")
    if info.frame_rate <= 0 or info.length <= 0:
        raise ValueError(f"{path}: frameRate and seqLength must be positive")
    return info


class MOTSequence:
    """A MOTChallenge sequence directory; frames from ``img1/`` or from a video.

    Args:
        seq_dir: directory with ``seqinfo.ini`` (and ``gt/gt.txt``, ``det/det.txt`` if any).
    """

    def __init__(self, seq_dir: str | Path) -> None:
        self.path = Path(seq_dir)
        self.info = read_seqinfo(self.path)
        self._video_path: Path | None = None
        self._image_dir: Path | None = None
        if self.info.im_dir is not None and (self.path / self.info.im_dir).is_dir():
            self._image_dir = self.path / self.info.im_dir
        elif self.info.video is not None and (self.path / self.info.video).is_file():
            self._video_path = self.path / self.info.video
        else:
            raise FileNotFoundError(
                f"{self.path}: neither the image folder {self.info.im_dir!r} nor the video "
                f"{self.info.video!r} named in seqinfo.ini exists"
            )
        self._capture: cv2.VideoCapture | None = None
        self._next_video_frame = 1

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def length(self) -> int:
        return self.info.length

    @property
    def gt_path(self) -> Path | None:
        path = self.path / "gt" / "gt.txt"
        return path if path.is_file() else None

    @property
    def det_path(self) -> Path | None:
        path = self.path / "det" / "det.txt"
        return path if path.is_file() else None

    def _check_index(self, index: int) -> None:
        if not 1 <= index <= self.length:
            raise IndexError(f"{self.name}: frame {index} outside 1..{self.length}")

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (1-based) as uint8 BGR. Sequential reads of a video are cheap."""
        self._check_index(index)
        if self._image_dir is not None:
            path = self._image_dir / f"{index:06d}{self.info.im_ext}"
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f"cannot read frame image {path}")
            return image
        if self._capture is None:
            self._capture = cv2.VideoCapture(str(self._video_path))
            if not self._capture.isOpened():
                raise OSError(f"cannot open video {self._video_path}")
            self._next_video_frame = 1
        skip = index - self._next_video_frame
        if 0 < skip <= MAX_GRAB_FORWARD:  # decoding a few frames is cheaper than a seek
            for _ in range(skip):
                self._capture.grab()
        elif skip != 0:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, index - 1)
        ok, image = self._capture.read()
        if not ok:
            raise OSError(f"{self._video_path}: cannot decode frame {index}")
        self._next_video_frame = index + 1
        return image

    def frames(self, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, image)`` for frames ``start .. stop`` (inclusive, 1-based)."""
        stop = self.length if stop is None else stop
        self._check_index(start)
        self._check_index(stop)
        for index in range(start, stop + 1):
            yield index, self.frame(index)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __len__(self) -> int:
        return self.length


def _read_rows(path: str | Path, min_columns: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MOT file {path} not found")
    text = path.read_text().strip()
    if not text:
        return np.zeros((0, min_columns), dtype=np.float64)
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: not a comma-separated MOTChallenge file ({exc})") from exc
    if rows.shape[1] < min_columns:
        raise ValueError(
            f"{path}: {rows.shape[1]} columns, expected at least {min_columns} "
            "(frame, id, left, top, width, height, ...)"
        )
    if not np.all(np.isfinite(rows[:, :6])):
        raise ValueError(f"{path}: non-finite frame/id/box values")
    return rows


@dataclass
class MOTGroundTruth:
    """Ground-truth rows of one sequence (arrays of equal length N)."""

    frame: np.ndarray  # int64 [N]
    track_id: np.ndarray  # int64 [N]
    boxes_xywh: np.ndarray  # float64 [N, 4]
    consider: np.ndarray  # bool [N]: column 7 (0 = ignored by the benchmark)
    cls: np.ndarray  # int64 [N]: 1 = pedestrian (MOT15 files: all 1)
    visibility: np.ndarray  # float64 [N]: NaN where the file has no visibility column
    has_visibility: bool = field(default=False)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def boxes_xyxy(self) -> np.ndarray:
        b = self.boxes_xywh
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)

    def select(self, keep: np.ndarray) -> MOTGroundTruth:
        """Rows where the boolean mask ``keep`` is true."""
        return MOTGroundTruth(
            self.frame[keep],
            self.track_id[keep],
            self.boxes_xywh[keep],
            self.consider[keep],
            self.cls[keep],
            self.visibility[keep],
            self.has_visibility,
        )

    def in_frames(self, frames: range) -> MOTGroundTruth:
        """Rows whose frame lies in ``frames``."""
        return self.select((self.frame >= frames.start) & (self.frame < frames.stop))

    def pedestrians(self) -> MOTGroundTruth:
        """Rows a tracker is scored on: considered pedestrians (class 1, consider 1)."""
        return self.select(self.consider & (self.cls == PEDESTRIAN))


def load_mot_gt(path: str | Path) -> MOTGroundTruth:
    """Read a gt.txt in MOT16/17/20 (9 columns) or MOT15 (10 columns) layout.

    A 9-column file carries class and visibility; a 10-column file (MOT15) carries world
    coordinates instead, so its class is 1 and its visibility NaN.
    """
    rows = _read_rows(path, 7)
    n = len(rows)
    has_visibility = rows.shape[1] == 9
    if has_visibility:
        cls = rows[:, 7].astype(np.int64)
        visibility = rows[:, 8].astype(np.float64)
    else:
        cls = np.full(n, PEDESTRIAN, dtype=np.int64)
        visibility = np.full(n, np.nan)
    return MOTGroundTruth(
        frame=rows[:, 0].astype(np.int64),
        track_id=rows[:, 1].astype(np.int64),
        boxes_xywh=rows[:, 2:6].copy(),
        consider=rows[:, 6] != 0,
        cls=cls,
        visibility=visibility,
        has_visibility=has_visibility,
    )


@dataclass
class MOTDetections:
    """Rows of a det.txt (public detections)."""

    frame: np.ndarray  # int64 [N]
    boxes_xywh: np.ndarray  # float64 [N, 4]
    score: np.ndarray  # float64 [N]

    def __len__(self) -> int:
        return len(self.frame)

    def at(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes_xyxy, scores)`` of one frame."""
        keep = self.frame == frame
        b = self.boxes_xywh[keep]
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1), self.score[keep]


def load_mot_det(path: str | Path) -> MOTDetections:
    """Read a det.txt: ``frame, -1, left, top, width, height, score, ...``."""
    rows = _read_rows(path, 7)
    return MOTDetections(rows[:, 0].astype(np.int64), rows[:, 2:6].copy(), rows[:, 6].copy())


#: Column layout of results rows: frame, id, left, top, width, height, score.
RESULT_COLUMNS = ("frame", "id", "left", "top", "width", "height", "score")


def write_mot_results(path: str | Path, rows: np.ndarray) -> Path:
    """Write tracker results ``[N, 7]`` (frame, id, left, top, width, height, score).

    Written in the MOTChallenge results layout (three trailing ``-1`` columns), sorted by
    frame then id, to a temporary file renamed into place (no partial files).
    """
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(RESULT_COLUMNS))
    order = np.lexsort((rows[:, 1], rows[:, 0]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        for r in rows[order]:
            f.write(
                f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},"
                f"{r[6]:.4f},-1,-1,-1\n"
            )
    tmp.replace(path)
    return path


def read_mot_results(path: str | Path) -> np.ndarray:
    """Read a results file back as ``[N, 7]`` (frame, id, left, top, width, height, score)."""
    rows = _read_rows(path, 6)
    if rows.shape[1] == 6:
        rows = np.concatenate([rows, np.ones((len(rows), 1))], axis=1)
    return rows[:, :7].copy()


def half_split(length: int) -> tuple[range, range]:
    """The paper's half split (§4.3): frames ``1..L//2`` train, ``L//2+1..L`` validate."""
    if length < 2:
        raise ValueError(f"a sequence of {length} frames cannot be split in halves")
    mid = length // 2
    return range(1, mid + 1), range(mid + 1, length + 1)


def parse_frame_range(spec: str, length: int) -> range:
    """Frames named on a command line: ``all``, ``first-half``, ``second-half`` or ``A:B``.

    ``A:B`` is inclusive and 1-based (MOTChallenge frame numbers), e.g. ``398:795``.
    """
    spec = spec.strip().lower()
    if spec == "all":
        return range(1, length + 1)
    if spec in ("first-half", "second-half"):
        train, val = half_split(length)
        return train if spec == "first-half" else val
    first, sep, last = spec.partition(":")
    try:
        if not sep:
            raise ValueError
        start = int(first) if first else 1
        stop = int(last) if last else length
    except ValueError:
        raise ValueError(
            f"frame range {spec!r} not understood: expected all, first-half, second-half "
            "or A:B (1-based, inclusive)"
        ) from None
    if not 1 <= start <= stop <= length:
        raise ValueError(f"frame range {spec!r} must satisfy 1 <= A <= B <= {length}")
    return range(start, stop + 1)
