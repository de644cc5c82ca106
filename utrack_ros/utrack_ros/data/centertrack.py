"""Training samples of the CenterTrack-style variant (OTrack_ct; paper §3.3, Table 5).

CenterTrack trains on a *previous* and a *current* frame: the network sees the current
image, the previous image and a heatmap of the previous frame's objects, and learns the
detections of the current frame plus the offset of each to its previous position.
:class:`CenterTrackDataset` builds these samples from the frame pairs of the FairMOT-style
datasets (:mod:`utrack_ros.data.pairs`), reusing their sample tables, pair sampling and
frame reading: frame 0 of a pair is the previous frame, frame 1 the current one. For a
video pair the second frame lies within ``max_frame_gap`` of the first, on either side, as
CenterTrack samples its "previous" frame within ``max_frame_dist`` (3: ``|d| <= 2``); use a
small ``max_frame_gap`` (1-2) for this variant.

Augmentation (:func:`~utrack_ros.data.augment.augment_frame`): with ``same_augment`` (the
default, CenterTrack's MOT recipe ``--same_aug``) both frames of a video pair get the very
same random transform, so the offsets are the objects' own motion; otherwise each frame is
augmented independently. A still image (CrowdHuman, both frames the same sample) becomes a
previous/current pair as in CenterTrack's static-image training: the current view is
augmented as usual and the previous view is that view moved by a small random affine
(:data:`STILL_IMAGE_MOTION`: scale ±5 %, shift ±5 %, no flip).

Targets: :func:`~utrack_ros.targets.build_targets` of the current view (detection +
occlusion) plus :func:`~utrack_ros.targets.tracking_targets` (identities from the ground
truth: this variant is supervised); the previous-frame heatmap is rendered from the
previous view's ground-truth boxes with CenterTrack's disturbances
(:class:`PreHeatmapConfig`, :func:`~utrack_ros.targets.render_previous_heatmap`).

Randomness: item ``i`` of epoch ``e`` uses ``SeedSequence([seed, e, i])`` of the wrapped
pair dataset only, so items do not depend on workers (as the pair datasets).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from utrack_ros.data.augment import AugmentConfig, augment_frame
from utrack_ros.data.pairs import (
    STRIDE,
    MixedPairDataset,
    _PairDatasetBase,
    _spawn,
    build_training_dataset,
    load_dataset_spec,
)
from utrack_ros.preprocess import normalize_image

LOGGER = logging.getLogger(__name__)

#: Motion of the simulated previous view of a still image (CenterTrack's static-image
#: training: ``--shift 0.05 --scale 0.05``), applied to the augmented current view.
STILL_IMAGE_MOTION = AugmentConfig(
    scale=(0.95, 1.05), translate=0.05, flip_prob=0.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0
)

#: Data-spec keys of this variant (the rest is :func:`build_training_dataset`'s spec).
CENTERTRACK_SPEC_KEYS = ("pre_hm", "same_augment")


@dataclass(frozen=True)
class PreHeatmapConfig:
    """CenterTrack's training-time disturbances of the previous-frame heatmap.

    Attributes:
        hm_disturb: each peak moves by ``N(0, 1) * hm_disturb * (w, h)`` (truncated at 3
            sigma). ``>= 0``; CenterTrack 0.05.
        lost_disturb: probability that an object is left out of the heatmap (the tracker
            lost it). ``[0, 1]``; CenterTrack 0.4.
        fp_disturb: probability of a false peak near an object. ``[0, 1]``; CenterTrack 0.1.
    """

    hm_disturb: float = 0.05
    lost_disturb: float = 0.4
    fp_disturb: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"PreHeatmapConfig.{f.name} must be a number, got {value!r}")
            value = float(value)
            high = math.inf if f.name == "hm_disturb" else 1.0
            if not (math.isfinite(value) and 0.0 <= value <= high):
                where = ">= 0" if f.name == "hm_disturb" else "in [0, 1]"
                raise ValueError(f"PreHeatmapConfig.{f.name} must be {where}, got {value!r}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> PreHeatmapConfig:
        """From a mapping (the data spec's ``pre_hm``); unknown keys are a ValueError."""
        if isinstance(values, PreHeatmapConfig):
            return values
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown pre_hm setting(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class CenterTrackDataset(Dataset):
    """Previous/current frame samples for the centertrack variant, from a pair dataset.

    Args:
        pairs: a :class:`VideoPairDataset`, :class:`ImagePairDataset` or
            :class:`MixedPairDataset` (negative pairs are not used: build it with
            ``neg_ratio=0``; an item that is a negative pair raises).
        pre_hm: :class:`PreHeatmapConfig` (or a mapping of its fields; None = defaults).
            Disturbances apply only when ``pairs`` augments (training); a validation
            dataset (``augment=False``) renders the exact previous boxes.
        same_augment: one random transform for both frames of a video pair.

    Item::

        {"images":     float32 [3, H, W]  current frame (normalize_image),
         "pre_images": float32 [3, H, W]  previous frame,
         "pre_hms":    float32 [1, H, W]  previous-frame heatmap (input resolution),
         "targets":    build_targets(current) + tracking / tracking_mask,
         "negative":   False,
         "meta":       {"sample": int64 [2], "frame": int64 [2]}   (previous, current)}
    """

    def __init__(
        self,
        pairs: _PairDatasetBase,
        pre_hm: PreHeatmapConfig | Mapping[str, Any] | None = None,
        *,
        same_augment: bool = True,
    ) -> None:
        if not isinstance(pairs, _PairDatasetBase):
            raise ValueError(
                f"CenterTrackDataset wraps a pair dataset, got {type(pairs).__name__}"
            )
        if not isinstance(same_augment, (bool, np.bool_)):
            raise ValueError(f"same_augment must be True or False, got {same_augment!r}")
        self.pairs = pairs
        self.pre_hm = PreHeatmapConfig.from_dict(pre_hm)
        self.same_augment = bool(same_augment)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.pairs.input_size

    @property
    def num_ids(self) -> int:
        return self.pairs.num_ids

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch (see the pair datasets)."""
        self.pairs.set_epoch(epoch)

    def _views(
        self, index: int
    ) -> tuple[Any, Any, np.ndarray, np.ndarray, np.random.Generator, tuple[int, int], bool]:
        """Augmented previous and current views, their ids, the heatmap rng, the samples."""
        pairs = self.pairs
        r_spec, r_prev, r_cur, r_hm = _spawn(pairs.seed, pairs.epoch, index, 4)
        spec = pairs._pair_spec(index, r_spec)
        if spec.negative:
            raise ValueError(
                "CenterTrackDataset: item is a negative pair; build the pair dataset with "
                "neg_ratio=0 (the centertrack variant has no Re-ID)"
            )
        prev_sample, cur_sample = pairs._load_pair(spec.first, spec.second)
        cfg_prev = pairs._augment_config(spec.first)
        cfg_cur = pairs._augment_config(spec.second)
        size = pairs.input_size
        if spec.first == spec.second:  # a still image: simulate the previous frame
            image, boxes, ids = cur_sample
            cur = augment_frame(image, boxes, size, cfg_cur, r_cur)
            cur_ids = np.asarray(ids, dtype=np.int64)[cur.keep]
            motion = STILL_IMAGE_MOTION if cfg_cur is not None else None
            prev = augment_frame(cur.image, cur.boxes, size, motion, r_prev)
            prev_ids = cur_ids[prev.keep]
        else:
            same = self.same_augment and cfg_prev == cfg_cur
            r_prev = copy.deepcopy(r_cur) if same else r_prev  # the same draws, in order
            prev = augment_frame(prev_sample[0], prev_sample[1], size, cfg_prev, r_prev)
            cur = augment_frame(cur_sample[0], cur_sample[1], size, cfg_cur, r_cur)
            prev_ids = np.asarray(prev_sample[2], dtype=np.int64)[prev.keep]
            cur_ids = np.asarray(cur_sample[2], dtype=np.int64)[cur.keep]
        augmented = cfg_cur is not None
        return prev, cur, prev_ids, cur_ids, r_hm, (spec.first, spec.second), augmented

    def __getitem__(self, index: int) -> dict[str, Any]:
        from utrack_ros.targets import build_targets, render_previous_heatmap, tracking_targets

        pairs = self.pairs
        index = pairs._check_index(index)
        prev, cur, prev_ids, cur_ids, r_hm, (first, second), augmented = self._views(index)
        h, w = pairs.input_size
        out_size = (h // STRIDE, w // STRIDE)
        common = {"stride": STRIDE, "max_objects": pairs.max_objects}
        targets = build_targets(
            cur.boxes,
            out_size,
            ids=cur_ids,
            max_occlusions=pairs.max_occlusions,
            occlusion_tau=pairs.occlusion_tau,
            **common,
        )
        previous = build_targets(prev.boxes, out_size, ids=prev_ids, max_occlusions=0, **common)
        targets.update(tracking_targets(targets, previous))
        disturb = self.pre_hm.to_dict() if augmented else {}
        pre_hm = render_previous_heatmap(prev.boxes, (h, w), rng=r_hm, **disturb)
        return {
            "images": normalize_image(cur.image),
            "pre_images": normalize_image(prev.image),
            "pre_hms": pre_hm,
            "targets": targets,
            "negative": False,
            "meta": {
                "sample": np.array([first, second], dtype=np.int64),
                "frame": np.array(
                    [pairs._sample_frame(first), pairs._sample_frame(second)], dtype=np.int64
                ),
            },
        }


def collate_centertrack(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Collate B items: ``images`` / ``pre_images`` ``[B, 3, H, W]``, ``pre_hms``
    ``[B, 1, H, W]``, ``targets`` ``{key: [B, ...]}``, ``negative`` bool ``[B]`` (all
    False), ``meta`` ``{key: [B, 2]}``."""
    if len(batch) == 0:
        raise ValueError("collate_centertrack got an empty batch")
    out = default_collate(list(batch))
    out["negative"] = torch.as_tensor(out["negative"], dtype=torch.bool)
    return out


def build_centertrack_dataset(
    spec: Mapping[str, Any] | str | Path, *, base_dir: str | Path | None = None
) -> CenterTrackDataset:
    """The centertrack training set described by a data spec (dict or YAML file).

    The spec is :func:`build_training_dataset`'s (``mot``, ``crowdhuman``,
    ``max_frame_gap``, ``input_size``, ``augment``, ``seed``, targets settings) plus::

        pre_hm: {hm_disturb: 0.05, lost_disturb: 0.4, fp_disturb: 0.1}   # CenterTrack's
        same_augment: true          # one transform for both frames of a video pair

    ``neg_ratio`` is ignored (set to 0): this variant has no Re-ID, so no negative pairs.
    """
    spec, base_dir = load_dataset_spec(spec, base_dir)
    spec = dict(spec)
    pre_hm = spec.pop("pre_hm", None)
    same_augment = spec.pop("same_augment", True)
    if spec.get("neg_ratio") not in (None, 0, 0.0):
        LOGGER.info("centertrack variant: neg_ratio %s ignored (no Re-ID, no negative pairs)",
                    spec["neg_ratio"])
    spec["neg_ratio"] = 0.0
    pairs: MixedPairDataset = build_training_dataset(spec, base_dir=base_dir)
    return CenterTrackDataset(pairs, pre_hm, same_augment=same_augment)


__all__ = [
    "CENTERTRACK_SPEC_KEYS",
    "STILL_IMAGE_MOTION",
    "CenterTrackDataset",
    "PreHeatmapConfig",
    "build_centertrack_dataset",
    "collate_centertrack",
]
