"""Frame-pair datasets for OUTrack training (paper §3.1, §4.1).

Every item is a *pair* of augmented, letterboxed images with their detection/occlusion
targets (``docs/ARCHITECTURE.md``)::

    {"images":   float32 [2, 3, H, W]   (preprocess.normalize_image of each view),
     "targets":  {key: array [2, ...]}  (targets.build_targets of each view, output H/4 x W/4),
     "negative": bool                   (True: the two views come from different scenes, Eq. 7),
     "meta":     {"scene": int64 [2], "sample": int64 [2], "frame": int64 [2]}}

Pair kinds:

- **Video positive pairs** (:class:`VideoPairDataset`, §3.1.1): frame ``t`` of a MOT
  sequence and a second frame ``t'`` drawn uniformly from
  ``[t - max_frame_gap, t + max_frame_gap]`` intersected with the sequence's frame range,
  ``t' != t`` whenever the range has another frame. The window is *symmetric*: the paper
  samples "adjacent frames randomly from consecutive 20 frames" (§4.1) and its loss
  (Eq. 1-6) treats the two frames alike, so the order carries no information;
  ``max_frame_gap=20`` bounds ``|t' - t|`` by 20 (use 19 for pairs inside a strict
  20-frame window).
- **Image positive pairs** (:class:`ImagePairDataset`, §3.1.2): one still image (CrowdHuman)
  under two independent augmentations.
- **Negative pairs** (:class:`MixedPairDataset`, Eq. 7): two samples from *different
  scenes*. A scene is one MOT sequence (all its frames, whatever frame range or dataset
  entry they come from) or one still image. Two frames of the same sequence are never a
  negative pair, however far apart: people stay in a scene or come back, so Eq. 7 would
  push apart the features of the same identity. With a single scene no negative pair
  exists: :class:`MixedPairDataset` then warns and produces positives only.

Each view is augmented independently (also for video pairs). Identities (``targets["ids"]``)
are filled for the supervised FairMOT baseline only: globally unique track ids for video
(contiguous per sequence, offset between sequences), one id per box for still images
(shared by its two views). The unsupervised loss never needs them.

Randomness: item ``i`` of epoch ``e`` uses ``numpy.random.SeedSequence([seed, e, i])``
and nothing else, so an item is the same whatever the DataLoader worker or worker count.
Call :meth:`set_epoch` before each epoch, on the dataset the DataLoader holds (with
``persistent_workers=True`` the workers keep the epoch they were started with); without it
every epoch repeats epoch 0's frame gaps, negative partners and augmentations (only the
order changes). Resuming at ``(epoch, index)`` reproduces the exact items.

Video frames are decoded in the process that uses them (a ``cv2.VideoCapture`` is never
shared with forked workers nor pickled).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Dataset

from utrack_ros.data.augment import (
    AugmentConfig,
    augment_frame,
    check_input_size,
    resolve_augment,
)
from utrack_ros.data.crowdhuman import CrowdHumanImages
from utrack_ros.data.mot import MOTSequence, load_mot_gt, parse_frame_range
from utrack_ros.preprocess import normalize_image

#: Output stride of the model (``utrack_ros.model.STRIDE``); kept here to avoid importing
#: the model package from the data loaders.
STRIDE = 4

#: Largest frame gap of a video pair read by decoding forward instead of seeking again (on
#: the shipped MP43 AVI a seek costs as much as decoding 20-50 frames).
_SEQUENTIAL_READ_LIMIT = 32

#: Decoders inherited from a parent process through fork (kept alive, see ``_sequence``).
_INHERITED_DECODERS: list[dict] = []

FrameSpec = str | range | tuple[int, int] | list[int] | None


@dataclass(frozen=True)
class PairSpec:
    """Which samples make item ``index``: sample indices into the dataset's sample table."""

    first: int
    second: int
    negative: bool


@runtime_checkable
class ImageSource(Protocol):
    """What :class:`ImagePairDataset` needs from a collection of annotated still images."""

    def __len__(self) -> int: ...

    def image(self, index: int) -> np.ndarray: ...  # uint8 BGR

    def boxes(self, index: int) -> np.ndarray: ...  # [N, 4] xyxy image pixels

    def image_path(self, index: int) -> Path: ...  # identifies the scene


def resolve_frames(frames: FrameSpec, length: int) -> range:
    """A frame selection as a ``range`` of 1-based frame numbers of a ``length``-frame sequence.

    ``None`` or ``"all"``: every frame; ``"first_half"`` / ``"second_half"`` (or the
    command-line spellings ``first-half`` / ``second-half``): the paper's half split
    (:func:`half_split`); ``[a, b]`` or ``"a:b"``: frames ``a .. b`` inclusive; a ``range``
    (step 1) as is.
    """
    if frames is None:
        return range(1, length + 1)
    if isinstance(frames, str):
        try:
            return parse_frame_range(frames.replace("_", "-"), length)
        except ValueError:
            raise ValueError(
                f"frames {frames!r} not understood: expected 'all', 'first_half', "
                f"'second_half', 'a:b' or [a, b] (1-based, inclusive, within 1..{length})"
            ) from None
    if isinstance(frames, range):
        r = frames
    elif isinstance(frames, (list, tuple)) and len(frames) == 2:
        a, b = frames
        if (
            isinstance(a, bool)
            or isinstance(b, bool)
            or not all(isinstance(v, (int, np.integer)) for v in (a, b))
        ):
            raise ValueError(f"frames [first, last] must be integers, got {frames!r}")
        r = range(int(a), int(b) + 1)
    else:
        raise ValueError(
            "frames must be 'all', 'first_half', 'second_half', 'a:b', [first, last] "
            f"(inclusive, 1-based) or a range; got {frames!r}"
        )
    if r.step != 1 or len(r) == 0 or r.start < 1 or r.stop - 1 > length:
        raise ValueError(
            f"frames {frames!r} must be a non-empty run of consecutive frames within 1..{length}"
        )
    return r


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _spawn(seed: int, epoch: int, index: int, n: int) -> list[np.random.Generator]:
    seq = np.random.SeedSequence([seed, epoch, index])
    return [np.random.default_rng(s) for s in seq.spawn(n)]


class _PairDatasetBase(Dataset):
    """Sample table, seeding, augmentation and targets shared by the pair datasets.

    Subclasses provide: ``__len__``, :meth:`num_samples`, :meth:`sample_scene_keys`,
    :meth:`_load_sample`, :meth:`_pair_spec`, :attr:`num_ids`, and may override
    :meth:`_load_pair` and :meth:`_sample_frame`.
    """

    def __init__(
        self,
        input_size: Sequence[int],
        augment: AugmentConfig | Mapping[str, Any] | bool | None,
        seed: int,
        max_objects: int,
        max_occlusions: int,
        occlusion_tau: float,
    ) -> None:
        self.input_size = check_input_size(input_size)
        self.augment = resolve_augment(augment)
        self.seed = _check_int(seed, "seed", 0)
        self.max_objects = _check_int(max_objects, "max_objects", 1)
        self.max_occlusions = _check_int(max_occlusions, "max_occlusions", 0)
        try:
            tau = float(occlusion_tau)
        except (TypeError, ValueError):
            tau = math.nan
        if not 0.0 <= tau <= 1.0:
            raise ValueError(f"occlusion_tau must be in [0, 1], got {occlusion_tau!r}")
        self.occlusion_tau = tau
        self.epoch = 0
        self._scene_cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- subclass interface -------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        """Number of single samples (frames or images)."""
        raise NotImplementedError

    @property
    def num_ids(self) -> int:
        """Number of distinct identities (ids are ``0 .. num_ids - 1``)."""
        raise NotImplementedError

    def sample_scene_keys(self) -> list[str]:
        """One scene key per sample; samples with equal keys are the same scene."""
        raise NotImplementedError

    def _load_sample(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(image uint8 BGR, boxes [N,4] frame px, ids int64 [N])`` of sample ``k``."""
        raise NotImplementedError

    def _pair_spec(self, index: int, rng: np.random.Generator) -> PairSpec:
        raise NotImplementedError

    def _sample_frame(self, k: int) -> int:
        """Frame number of sample ``k`` (-1 for still images)."""
        return -1

    def _load_pair(self, a: int, b: int) -> tuple[tuple, tuple]:
        return self._load_sample(a), self._load_sample(b)

    def _augment_config(self, k: int) -> AugmentConfig | None:
        return self.augment

    # -- shared machinery ---------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch (gaps, partners, augmentations)."""
        self.epoch = _check_int(epoch, "epoch", 0)

    def _scene_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(scene_of [N], order [N], start [S], count [S])``: samples grouped by scene."""
        if self._scene_cache is None:
            ids: dict[str, int] = {}
            scene_of = np.array(
                [ids.setdefault(key, len(ids)) for key in self.sample_scene_keys()],
                dtype=np.int64,
            )
            order = np.argsort(scene_of, kind="stable")
            count = np.bincount(scene_of, minlength=len(ids))
            start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
            self._scene_cache = (scene_of, order, start, count)
        return self._scene_cache

    @property
    def num_scenes(self) -> int:
        return len(self._scene_table()[2])

    def scene_of(self, k: int) -> int:
        """Scene index of sample ``k``."""
        return int(self._scene_table()[0][k])

    def _draw_negative(self, rng: np.random.Generator) -> PairSpec:
        """A uniform sample and a uniform sample of any *other* scene."""
        scene_of, order, start, count = self._scene_table()
        n = len(scene_of)
        a = int(rng.integers(n))
        s = scene_of[a]
        if count[s] == n:
            raise ValueError("a negative pair needs samples of at least two scenes")
        k = int(rng.integers(n - count[s]))
        pos = k if k < start[s] else k + int(count[s])
        return PairSpec(a, int(order[pos]), True)

    def _check_index(self, index: int) -> int:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset index must be an integer, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} pairs")
        return index

    def pair_spec(self, index: int) -> PairSpec:
        """The samples of item ``index`` this epoch (no image is read)."""
        index = self._check_index(index)
        return self._pair_spec(index, _spawn(self.seed, self.epoch, index, 3)[0])

    def _view(
        self, sample: tuple, cfg: AugmentConfig | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        from utrack_ros.targets import build_targets  # numpy only; imported on first use

        image, boxes, ids = sample
        aug = augment_frame(image, boxes, self.input_size, cfg, rng)
        h, w = self.input_size
        targets = build_targets(
            aug.boxes,
            (h // STRIDE, w // STRIDE),
            ids=np.asarray(ids, dtype=np.int64)[aug.keep],
            stride=STRIDE,
            max_objects=self.max_objects,
            max_occlusions=self.max_occlusions,
            occlusion_tau=self.occlusion_tau,
        )
        return normalize_image(aug.image), targets

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = self._check_index(index)
        r_spec, r_a, r_b = _spawn(self.seed, self.epoch, index, 3)
        spec = self._pair_spec(index, r_spec)
        sample_a, sample_b = self._load_pair(spec.first, spec.second)
        img_a, tgt_a = self._view(sample_a, self._augment_config(spec.first), r_a)
        img_b, tgt_b = self._view(sample_b, self._augment_config(spec.second), r_b)
        return {
            "images": np.stack([img_a, img_b]),
            "targets": {key: np.stack([tgt_a[key], tgt_b[key]]) for key in tgt_a},
            "negative": bool(spec.negative),
            "meta": {
                "scene": np.array([self.scene_of(spec.first), self.scene_of(spec.second)]),
                "sample": np.array([spec.first, spec.second], dtype=np.int64),
                "frame": np.array(
                    [self._sample_frame(spec.first), self._sample_frame(spec.second)],
                    dtype=np.int64,
                ),
            },
        }


class VideoPairDataset(_PairDatasetBase):
    """Positive pairs of nearby frames of MOT sequences (paper §3.1.1, §4.1).

    One item per frame of the selected ranges (the first frame ``t``, so an epoch visits
    every frame once as ``t``); the second frame is uniform in ``[t - max_frame_gap,
    t + max_frame_gap]`` within the same range, different from ``t`` when the range has
    more than one frame. Boxes are the sequence's pedestrian ground truth
    (:meth:`MOTGroundTruth.pedestrians`: class 1, consider flag 1).

    Args:
        sequences: MOT sequence directories (or :class:`MOTSequence` objects); each needs
            ``gt/gt.txt``. A sequence may appear more than once with different ranges.
        frames: frame selection, one per sequence or one for all (see :func:`resolve_frames`);
            ``None`` = all frames.
        input_size: model input ``(height, width)``, multiples of 32.
        max_frame_gap: largest ``|t' - t|`` (>= 1).
        augment: :class:`AugmentConfig`, a mapping of its fields, ``True`` (defaults) or
            ``False``/``None`` (letterbox only, for validation).
        seed: base seed of all randomness.
        max_objects, max_occlusions, occlusion_tau: passed to ``build_targets``.
    """

    def __init__(
        self,
        sequences: Sequence[str | Path | MOTSequence],
        frames: FrameSpec | Sequence[FrameSpec] = None,
        input_size: Sequence[int] = (384, 512),
        *,
        max_frame_gap: int = 20,
        augment: AugmentConfig | Mapping[str, Any] | bool | None = True,
        seed: int = 0,
        max_objects: int = 500,
        max_occlusions: int = 500,
        occlusion_tau: float = 0.7,
    ) -> None:
        super().__init__(input_size, augment, seed, max_objects, max_occlusions, occlusion_tau)
        if isinstance(sequences, (str, Path, MOTSequence)):
            sequences = [sequences]
        if len(sequences) == 0:
            raise ValueError("VideoPairDataset needs at least one MOT sequence directory")
        self.max_frame_gap = _check_int(max_frame_gap, "max_frame_gap", 1)
        per_seq = (
            isinstance(frames, (list, tuple))
            and len(frames) == len(sequences)
            and not (len(frames) == 2 and all(isinstance(v, (int, np.integer)) for v in frames))
        )
        frame_specs = list(frames) if per_seq else [frames] * len(sequences)

        # distinct sequences (by resolved path) and their segments (sequence, frame range)
        self._seq_dirs: list[Path] = []
        self._seq_names: list[str] = []
        self._is_video: list[bool] = []
        self._lengths: list[int] = []
        seq_index: dict[Path, int] = {}
        segments: list[tuple[int, range]] = []
        for seq, fspec in zip(sequences, frame_specs, strict=True):
            seq_dir = Path(seq.path if isinstance(seq, MOTSequence) else seq)
            key = seq_dir.resolve()
            if key not in seq_index:
                opened = seq if isinstance(seq, MOTSequence) else MOTSequence(seq_dir)
                if opened.gt_path is None:
                    raise FileNotFoundError(
                        f"{seq_dir}: no gt/gt.txt; video pairs need ground-truth boxes"
                    )
                seq_index[key] = len(self._seq_dirs)
                self._seq_dirs.append(seq_dir)
                self._seq_names.append(opened.name)
                self._lengths.append(opened.length)
                im_dir = opened.info.im_dir
                self._is_video.append(im_dir is None or not (seq_dir / im_dir).is_dir())
            s = seq_index[key]
            segments.append((s, resolve_frames(fspec, self._lengths[s])))
        # group segments by sequence so that the samples of a scene are contiguous
        segments.sort(key=lambda seg: seg[0])
        self._segments = segments

        seg_of: list[np.ndarray] = []
        frame_of: list[np.ndarray] = []
        for g, (_, r) in enumerate(segments):
            seg_of.append(np.full(len(r), g, dtype=np.int64))
            frame_of.append(np.arange(r.start, r.stop, dtype=np.int64))
        self._sample_segment = np.concatenate(seg_of)
        self._sample_frame_no = np.concatenate(frame_of)
        self._segment_start = np.concatenate(
            [[0], np.cumsum([len(r) for _, r in segments])[:-1]]
        ).astype(np.int64)

        # ground truth per (sequence, frame); ids contiguous per sequence, offset globally
        self._annotations: list[dict[int, tuple[np.ndarray, np.ndarray]]] = []
        id_offset = 0
        for s, seq_dir in enumerate(self._seq_dirs):
            used = np.zeros(self._lengths[s] + 2, dtype=bool)
            for seq_i, r in segments:
                if seq_i == s:
                    used[r.start : r.stop] = True
            gt = load_mot_gt(seq_dir / "gt" / "gt.txt").pedestrians()
            in_range = (gt.frame >= 1) & (gt.frame <= self._lengths[s])
            gt = gt.select(in_range)
            gt = gt.select(used[gt.frame])
            uniq, inverse = np.unique(gt.track_id, return_inverse=True)
            ids = inverse.reshape(-1).astype(np.int64) + id_offset
            id_offset += len(uniq)
            boxes = gt.boxes_xyxy
            per_frame: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            order = np.argsort(gt.frame, kind="stable")
            frames_sorted = gt.frame[order]
            cuts = np.flatnonzero(np.diff(frames_sorted)) + 1
            for chunk in np.split(order, cuts):
                if len(chunk):
                    per_frame[int(gt.frame[chunk[0]])] = (boxes[chunk], ids[chunk])
            self._annotations.append(per_frame)
        self._num_ids = id_offset
        self._open: dict[int, MOTSequence] = {}
        self._open_pid = os.getpid()

    # -- sample table -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._sample_frame_no)

    @property
    def num_samples(self) -> int:
        return len(self._sample_frame_no)

    @property
    def num_ids(self) -> int:
        return self._num_ids

    @property
    def sequence_names(self) -> list[str]:
        return list(self._seq_names)

    def sample_scene_keys(self) -> list[str]:
        keys = [f"mot:{p.resolve()}" for p in self._seq_dirs]
        seq_of_segment = np.array([s for s, _ in self._segments], dtype=np.int64)
        return [keys[s] for s in seq_of_segment[self._sample_segment]]

    def sample_location(self, k: int) -> tuple[int, int]:
        """``(sequence index, frame number)`` of sample ``k``."""
        return self._segments[int(self._sample_segment[k])][0], int(self._sample_frame_no[k])

    def _sample_frame(self, k: int) -> int:
        return int(self._sample_frame_no[k])

    def _pair_spec(self, index: int, rng: np.random.Generator) -> PairSpec:
        g = int(self._sample_segment[index])
        r = self._segments[g][1]
        t = int(self._sample_frame_no[index])
        lo = max(r.start, t - self.max_frame_gap)
        hi = min(r.stop - 1, t + self.max_frame_gap)
        if hi == lo:
            t2 = t
        else:
            t2 = int(rng.integers(lo, hi))  # lo .. hi-1, then skip t
            if t2 >= t:
                t2 += 1
        second = int(self._segment_start[g]) + (t2 - r.start)
        return PairSpec(index, second, False)

    # -- reading ------------------------------------------------------------------------
    def _sequence(self, s: int) -> MOTSequence:
        if self._open_pid != os.getpid():
            # Forked worker: never use the parent's decoders, and never destroy them either:
            # releasing an FFmpeg capture whose decoder threads did not survive the fork
            # deadlocks. They stay referenced until the worker exits (os._exit, no cleanup).
            _INHERITED_DECODERS.append(self._open)
            self._open = {}
            self._open_pid = os.getpid()
        seq = self._open.get(s)
        if seq is None:
            seq = self._open[s] = MOTSequence(self._seq_dirs[s])
        return seq

    def _annotation(self, s: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
        found = self._annotations[s].get(frame)
        if found is None:
            return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
        return found

    def _load_sample(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s, frame = self.sample_location(k)
        boxes, ids = self._annotation(s, frame)
        return self._sequence(s).frame(frame), boxes, ids

    def _load_pair(self, a: int, b: int) -> tuple[tuple, tuple]:
        (sa, fa), (sb, fb) = self.sample_location(a), self.sample_location(b)
        if sa != sb or not self._is_video[sa] or fa == fb:
            return self._load_sample(a), self._load_sample(b)
        seq = self._sequence(sa)
        lo, hi = min(fa, fb), max(fa, fb)
        images = {lo: seq.frame(lo)}
        if hi - lo <= _SEQUENTIAL_READ_LIMIT:  # decode forward: cheaper than a seek
            for f in range(lo + 1, hi + 1):
                image = seq.frame(f)
            images[hi] = image
        else:
            images[hi] = seq.frame(hi)
        return (
            (images[fa], *self._annotation(sa, fa)),
            (images[fb], *self._annotation(sb, fb)),
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_open"] = {}  # cv2.VideoCapture cannot be pickled (spawned workers)
        return state

    def close(self) -> None:
        """Release the decoders opened by this process."""
        for seq in self._open.values():
            seq.close()
        self._open = {}


class ImagePairDataset(_PairDatasetBase):
    """Positive pairs of one still image under two independent augmentations (§3.1.2).

    Args:
        sources: one or more :class:`ImageSource` (e.g. :class:`CrowdHumanImages`).
        input_size: model input ``(height, width)``, multiples of 32.
        augment: as :class:`VideoPairDataset`. Without augmentation both views are equal,
            which is only useful for checks.
        seed, max_objects, max_occlusions, occlusion_tau: as :class:`VideoPairDataset`.

    Each image is its own scene; each box its own identity (shared by the two views).
    """

    def __init__(
        self,
        sources: ImageSource | Sequence[ImageSource],
        input_size: Sequence[int] = (384, 512),
        *,
        augment: AugmentConfig | Mapping[str, Any] | bool | None = True,
        seed: int = 0,
        max_objects: int = 500,
        max_occlusions: int = 500,
        occlusion_tau: float = 0.7,
    ) -> None:
        super().__init__(input_size, augment, seed, max_objects, max_occlusions, occlusion_tau)
        if isinstance(sources, ImageSource):
            sources = [sources]
        sources = list(sources)
        if not sources:
            raise ValueError("ImagePairDataset needs at least one image source")
        for src in sources:
            if not isinstance(src, ImageSource):
                raise ValueError(
                    f"image sources need __len__, image(i), boxes(i), image_path(i); "
                    f"got {type(src).__name__}"
                )
        self.sources = sources
        self._source_of = np.concatenate(
            [np.full(len(src), i, dtype=np.int64) for i, src in enumerate(sources)]
        )
        self._local = np.concatenate([np.arange(len(src), dtype=np.int64) for src in sources])
        counts = [len(src.boxes(j)) for src in sources for j in range(len(src))]
        self._id_offset = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self._local)

    @property
    def num_samples(self) -> int:
        return len(self._local)

    @property
    def num_ids(self) -> int:
        return int(self._id_offset[-1])

    def sample_scene_keys(self) -> list[str]:
        return [
            f"image:{Path(src.image_path(j)).resolve()}"
            for src in self.sources
            for j in range(len(src))
        ]

    def _load_sample(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = self.sources[int(self._source_of[k])]
        j = int(self._local[k])
        boxes = np.asarray(src.boxes(j), dtype=np.float64).reshape(-1, 4)
        ids = self._id_offset[k] + np.arange(len(boxes), dtype=np.int64)
        return src.image(j), boxes, ids

    def _load_pair(self, a: int, b: int) -> tuple[tuple, tuple]:
        if a == b:
            sample = self._load_sample(a)
            return sample, sample
        return self._load_sample(a), self._load_sample(b)

    def _pair_spec(self, index: int, rng: np.random.Generator) -> PairSpec:
        return PairSpec(index, index, False)


class MixedPairDataset(_PairDatasetBase):
    """Positive pairs of several pair datasets plus negative pairs across scenes (Eq. 7-8).

    An epoch holds every positive item of every component once and
    ``round(neg_ratio * N_pos)`` negative pairs (paper default ``N_neg / N_pos = 0.25``),
    indices ``N_pos ..`` of this dataset; a shuffling DataLoader interleaves them. A
    negative pair is a sample drawn uniformly from all samples (frames and images) and a
    sample drawn uniformly from all samples of *other* scenes. When every sample belongs to
    one scene (e.g. one MOT sequence alone) no negative pair exists: a warning is issued and
    the epoch holds positives only.

    Seeding, epochs and the random stream come from this dataset (``seed``, :meth:`set_epoch`),
    not from the components; identities of the components are offset to stay unique.
    All components must share ``input_size`` and target settings; each view is augmented
    with the augmentation of the component its sample comes from.
    """

    def __init__(
        self,
        datasets: Sequence[_PairDatasetBase],
        neg_ratio: float = 0.25,
        *,
        seed: int = 0,
    ) -> None:
        datasets = list(datasets)
        if not datasets:
            raise ValueError("MixedPairDataset needs at least one pair dataset")
        for d in datasets:
            if not isinstance(d, (VideoPairDataset, ImagePairDataset)):
                raise ValueError(
                    "MixedPairDataset components must be VideoPairDataset or ImagePairDataset, "
                    f"got {type(d).__name__}"
                )
        first = datasets[0]
        for d in datasets[1:]:
            for attr in ("input_size", "max_objects", "max_occlusions", "occlusion_tau"):
                if getattr(d, attr) != getattr(first, attr):
                    raise ValueError(
                        f"all MixedPairDataset components need the same {attr}: "
                        f"{getattr(first, attr)!r} != {getattr(d, attr)!r}"
                    )
        super().__init__(
            first.input_size,
            first.augment,
            seed,
            first.max_objects,
            first.max_occlusions,
            first.occlusion_tau,
        )
        try:
            ratio = float(neg_ratio)
        except (TypeError, ValueError):
            ratio = math.nan
        if not (math.isfinite(ratio) and ratio >= 0):
            raise ValueError(f"neg_ratio (N_neg / N_pos) must be a number >= 0, got {neg_ratio!r}")
        self.neg_ratio = ratio
        self.datasets = datasets
        self._pos_offset = np.concatenate([[0], np.cumsum([len(d) for d in datasets])])
        self._sample_offset = np.concatenate([[0], np.cumsum([d.num_samples for d in datasets])])
        self._id_offsets = np.concatenate([[0], np.cumsum([d.num_ids for d in datasets])])
        self.num_positive = int(self._pos_offset[-1])
        wanted = int(round(ratio * self.num_positive))
        if wanted > 0 and self.num_scenes < 2:
            warnings.warn(
                "negative pairs need two different scenes (sequences or images), but all "
                f"{self.num_samples} samples come from one scene; frames of one sequence are "
                "not a valid negative pair, so this dataset has positive pairs only",
                stacklevel=2,
            )
            wanted = 0
        self.num_negative = wanted

    def __len__(self) -> int:
        return self.num_positive + self.num_negative

    @property
    def num_samples(self) -> int:
        return int(self._sample_offset[-1])

    @property
    def num_ids(self) -> int:
        return int(self._id_offsets[-1])

    def sample_scene_keys(self) -> list[str]:
        return [key for d in self.datasets for key in d.sample_scene_keys()]

    def _component(self, k: int) -> tuple[int, int]:
        c = int(np.searchsorted(self._sample_offset, k, side="right") - 1)
        return c, k - int(self._sample_offset[c])

    def _sample_frame(self, k: int) -> int:
        c, local = self._component(k)
        return self.datasets[c]._sample_frame(local)

    def _augment_config(self, k: int) -> AugmentConfig | None:
        return self.datasets[self._component(k)[0]].augment

    def _with_offset(self, c: int, sample: tuple) -> tuple:
        image, boxes, ids = sample
        return image, boxes, np.asarray(ids, dtype=np.int64) + int(self._id_offsets[c])

    def _load_sample(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c, local = self._component(k)
        return self._with_offset(c, self.datasets[c]._load_sample(local))

    def _load_pair(self, a: int, b: int) -> tuple[tuple, tuple]:
        (ca, la), (cb, lb) = self._component(a), self._component(b)
        if ca == cb:
            sa, sb = self.datasets[ca]._load_pair(la, lb)
            return self._with_offset(ca, sa), self._with_offset(cb, sb)
        return self._load_sample(a), self._load_sample(b)

    def _pair_spec(self, index: int, rng: np.random.Generator) -> PairSpec:
        if index >= self.num_positive:
            return self._draw_negative(rng)
        c = int(np.searchsorted(self._pos_offset, index, side="right") - 1)
        spec = self.datasets[c]._pair_spec(index - int(self._pos_offset[c]), rng)
        off = int(self._sample_offset[c])
        return PairSpec(spec.first + off, spec.second + off, False)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for d in self.datasets:
            d.set_epoch(epoch)


def collate_pairs(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Collate B pair items into the training batch, pair-major.

    Returns ``{"images": float32 Tensor [2B, 3, H, W] ordered p0f0, p0f1, p1f0, p1f1, ...;
    "targets": {key: Tensor [2B, ...]}; "negative": bool Tensor [B];
    "meta": {key: int64 Tensor [2B]}}`` (the layout ``OUTrackLoss`` expects).
    """
    if len(batch) == 0:
        raise ValueError("collate_pairs got an empty batch")

    def flat(arrays: list[np.ndarray]) -> torch.Tensor:
        stacked = torch.from_numpy(np.stack(arrays))
        if stacked.shape[1] != 2:
            raise ValueError(f"pair items must have a leading dimension 2, got {stacked.shape}")
        return stacked.reshape(stacked.shape[0] * 2, *stacked.shape[2:])

    out: dict[str, Any] = {
        "images": flat([b["images"] for b in batch]),
        "targets": {key: flat([b["targets"][key] for b in batch]) for key in batch[0]["targets"]},
        "negative": torch.tensor([bool(b["negative"]) for b in batch], dtype=torch.bool),
    }
    if all("meta" in b for b in batch):
        out["meta"] = {key: flat([b["meta"][key] for b in batch]) for key in batch[0]["meta"]}
    return out


_SPEC_KEYS = {
    "mot",
    "crowdhuman",
    "neg_ratio",
    "max_frame_gap",
    "input_size",
    "augment",
    "seed",
    "max_objects",
    "max_occlusions",
    "occlusion_tau",
}


def _spec_path(value: Any, where: str, base_dir: Path | None) -> Path:
    if not isinstance(value, (str, Path)) or not str(value):
        raise ValueError(f"{where} must be a path, got {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def load_dataset_spec(
    spec: Mapping[str, Any] | str | Path, base_dir: str | Path | None
) -> tuple[Mapping[str, Any], str | Path | None]:
    """A dataset spec given as a mapping or a YAML file -> (mapping, base_dir for relative
    paths: the file's folder unless ``base_dir`` is given)."""
    if isinstance(spec, (str, Path)):
        import yaml

        spec_path = Path(spec)
        if not spec_path.is_file():
            raise FileNotFoundError(f"dataset spec {spec_path} not found")
        loaded = yaml.safe_load(spec_path.read_text())
        if base_dir is None:
            base_dir = spec_path.parent
        spec = loaded
    if not isinstance(spec, Mapping):
        raise ValueError(f"the dataset spec must be a mapping, got {type(spec).__name__}")
    return spec, base_dir


def build_training_dataset(
    spec: Mapping[str, Any] | str | Path, *, base_dir: str | Path | None = None
) -> MixedPairDataset:
    """The training set described by a dict (or a YAML file holding one).

    Example::

        mot:                       # MOT sequence directories (seqinfo.ini + gt/gt.txt)
          - {path: data/MOT17/train/MOT17-02-SDP, frames: first_half}   # or all, [a, b]
        crowdhuman:                # still images + .odgt annotations
          - {images: data/CrowdHuman/Images, odgt: data/CrowdHuman/annotation_train.odgt}
        neg_ratio: 0.25            # N_neg / N_pos per epoch (Eq. 8)
        max_frame_gap: 20          # |t' - t| of video pairs (§4.1)
        input_size: [384, 512]     # (height, width), multiples of 32
        augment: true              # or false, or a dict of AugmentConfig fields
        seed: 0

    Optional keys: ``max_objects``, ``max_occlusions``, ``occlusion_tau`` (targets);
    ``crowdhuman`` entries may add ``box`` (fbox/vbox/hbox) and ``drop_ignored``.
    Relative paths are taken relative to ``base_dir`` (default: the YAML file's folder,
    or the current directory for a dict). Missing paths raise FileNotFoundError naming the
    entry.
    """
    spec, base_dir = load_dataset_spec(spec, base_dir)
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        raise ValueError(f"unknown dataset spec key(s) {unknown}; expected {sorted(_SPEC_KEYS)}")
    base = Path(base_dir) if base_dir is not None else None
    common = {
        "input_size": spec.get("input_size", (384, 512)),
        "augment": spec.get("augment", True),
        "seed": spec.get("seed", 0),
        "max_objects": spec.get("max_objects", 500),
        "max_occlusions": spec.get("max_occlusions", 500),
        "occlusion_tau": spec.get("occlusion_tau", 0.7),
    }
    components: list[_PairDatasetBase] = []

    mot = spec.get("mot") or []
    if not isinstance(mot, Sequence) or isinstance(mot, str):
        raise ValueError("spec 'mot' must be a list of {path, frames} entries")
    seq_dirs: list[Path] = []
    seq_frames: list[FrameSpec] = []
    for i, entry in enumerate(mot):
        where = f"mot[{i}]"
        if isinstance(entry, (str, Path)):
            entry = {"path": entry}
        if not isinstance(entry, Mapping) or "path" not in entry:
            raise ValueError(f"{where} must be a mapping with a 'path' (and optional 'frames')")
        extra = sorted(set(entry) - {"path", "frames"})
        if extra:
            raise ValueError(f"{where}: unknown key(s) {extra}; expected 'path' and 'frames'")
        path = _spec_path(entry["path"], f"{where}.path", base)
        if not path.is_dir():
            raise FileNotFoundError(f"{where}.path: MOT sequence directory {path} not found")
        if not (path / "seqinfo.ini").is_file():
            raise FileNotFoundError(
                f"{where}.path: {path} has no seqinfo.ini; list each sequence directory "
                "(e.g. MOT17/train/MOT17-02-SDP), not the folder that holds them"
            )
        if not (path / "gt" / "gt.txt").is_file():
            raise FileNotFoundError(f"{where}.path: {path} has no gt/gt.txt")
        frames = entry.get("frames", "all")
        if isinstance(frames, list):
            frames = tuple(frames)
        seq_dirs.append(path)
        seq_frames.append(frames)
    if seq_dirs:
        components.append(
            VideoPairDataset(
                seq_dirs,
                seq_frames,
                common["input_size"],
                max_frame_gap=spec.get("max_frame_gap", 20),
                augment=common["augment"],
                seed=common["seed"],
                max_objects=common["max_objects"],
                max_occlusions=common["max_occlusions"],
                occlusion_tau=common["occlusion_tau"],
            )
        )

    crowd = spec.get("crowdhuman") or []
    if not isinstance(crowd, Sequence) or isinstance(crowd, str):
        raise ValueError("spec 'crowdhuman' must be a list of {images, odgt} entries")
    sources: list[ImageSource] = []
    for i, entry in enumerate(crowd):
        where = f"crowdhuman[{i}]"
        if not isinstance(entry, Mapping) or "images" not in entry or "odgt" not in entry:
            raise ValueError(f"{where} must be a mapping with 'images' (folder) and 'odgt' (file)")
        extra = sorted(set(entry) - {"images", "odgt", "box", "drop_ignored"})
        if extra:
            raise ValueError(f"{where}: unknown key(s) {extra}")
        images = _spec_path(entry["images"], f"{where}.images", base)
        odgt = _spec_path(entry["odgt"], f"{where}.odgt", base)
        if not images.is_dir():
            raise FileNotFoundError(f"{where}.images: image folder {images} not found")
        if not odgt.is_file():
            raise FileNotFoundError(f"{where}.odgt: annotation file {odgt} not found")
        sources.append(
            CrowdHumanImages(
                images,
                odgt,
                box=entry.get("box", "fbox"),
                drop_ignored=bool(entry.get("drop_ignored", False)),
            )
        )
    if sources:
        components.append(ImagePairDataset(sources, **common))

    if not components:
        raise ValueError("the dataset spec names no data: give 'mot' and/or 'crowdhuman' entries")
    return MixedPairDataset(components, spec.get("neg_ratio", 0.25), seed=common["seed"])
