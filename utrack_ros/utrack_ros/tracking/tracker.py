"""OUTracker: FairMOT association + OUTrack lost-object refinding (Algorithm 1).

``OUTracker.update`` reads like Algorithm 1 of the paper, with Step 2 (ASSIGN) being the
FairMOT association cascade:

- Step 2a  detections (score >= ``det_thresh``) vs tracked + lost tracks: cosine distance
  of each track's EMA embedding to the detection embeddings, fused with the Kalman
  Mahalanobis distance and gated at the chi-square 95 % quantile (FairMOT
  ``fuse_motion``), assigned with ``lap.lapjv`` at ``match_thresh_embedding``.
  Without embeddings (motion-only mode) this step uses IoU distance at
  ``match_thresh_motion``.
- Step 2b  remaining detections vs remaining *tracked* tracks: IoU, ``match_thresh_iou``.
- Step 2c  unconfirmed (one-frame) tracks vs remaining detections: IoU,
  ``match_thresh_unconfirmed``; unmatched unconfirmed tracks are removed.
- Step 3/4 update matched tracks; start tracks from remaining detections scoring
  ``>= new_track_thresh`` (confirmed on their second detection, except in the first frame).
- Step 5   every track left unmatched whose lost counter ``w < refind_window`` is
  refound when an occlusion centre inside its predicted box fits the overlap of that
  box with a detection assigned to a track this frame (Eq. 10 kernel score
  ``> refind_threshold``): the box recovered by Eq. (15)-(16) is output (state
  ``"refound"``) and fed back to the Kalman filter as a measurement; the track keeps its
  id and stays in the tracked pool. As in Algorithm 1, a refind leaves ``w`` unchanged
  (line 22) and a failed refind increments it (line 25); ``w`` returns to 0 only with a
  matched detection. Tracks whose ``w`` exceeds the buffer are removed, so a track that
  keeps being refound is kept (its ``frames_since_detection`` keeps growing).

Differences from the official code (DESIGN §4): the recovered box is output and fed back
(the official correction has no effect), ids start at 1 per tracker (no global counter).
Each occlusion centre refinds at most one track (greedy by score): an Eq. (9) centre is
the overlap of one pair of objects.

Units: frames are *nominal frame steps* of ``1 / frame_rate`` seconds. Without timestamps
every ``update`` is one step. With timestamps (seconds) a call ``(t - t_prev)`` after the
previous one predicts ``dt = (t - t_prev) * frame_rate`` steps ahead (``F(dt)``, process
noise scaled by ``dt``) and advances the frame counters (age, lost counter ``w``,
``frames_since_detection``) by ``max(1, round(dt))``. A ``dt`` within
``STEP_SNAP_TOLERANCE`` of a whole number of steps is taken as that whole number, so the
nanosecond rounding of ROS header stamps gives the same tracks as exact frame times.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from utrack_ros.tracking import matching
from utrack_ros.tracking.kalman import CHI2INV95, KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from utrack_ros.tracking.refind import refind_lost_tracks

logger = logging.getLogger(__name__)

#: |dt - round(dt)| below this (in nominal frame steps) is rounding noise of the timestamps.
STEP_SNAP_TOLERANCE = 1e-4
#: IoU distance under which a tracked and a lost track are duplicates (ByteTrack).
DUPLICATE_IOU_DISTANCE = 0.15


class ConfigDictMixin:
    """``to_dict`` / ``from_dict`` for the tracker config dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None):
        """Config from a mapping (e.g. a checkpoint's ``tracker_config``); unknown keys fail."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} field(s) {unknown}; known fields: {sorted(known)}"
            )
        return cls(**values)


@dataclass
class TrackerConfig(ConfigDictMixin):
    """Every threshold of :class:`OUTracker`. Defaults are the official FairMOT/OUTrack ones.

    Attributes:
        det_thresh: detections scoring below this are ignored. [0, 1]. FairMOT 0.4.
        new_track_thresh: a new track starts only from a detection scoring at least this.
            [0, 1]. FairMOT uses ``det_thresh`` (0.4).
        match_thresh_embedding: Step 2a assignment threshold on the fused
            appearance/motion cost (cosine distance blended with Mahalanobis). (0, 2].
            FairMOT 0.4.
        match_thresh_motion: Step 2a threshold on ``1 - IoU`` in motion-only mode
            (``embeddings=None``), tracked and lost tracks alike. (0, 1]. 0.8 = ByteTrack's
            first association (IoU >= 0.2).
        match_thresh_iou: Step 2b threshold on ``1 - IoU`` (remaining tracked tracks).
            (0, 1]. FairMOT 0.5.
        match_thresh_unconfirmed: Step 2c threshold on ``1 - IoU`` (unconfirmed tracks).
            (0, 1]. FairMOT 0.7.
        embedding_momentum: EMA weight of the old track feature,
            ``f = m f + (1 - m) f_det`` (then L2-normalised). [0, 1). FairMOT 0.9.
        motion_lambda: weight of the appearance cost in ``fuse_motion``,
            ``lambda * cos + (1 - lambda) * mahalanobis``. [0, 1]. FairMOT 0.98.
        gating_threshold: squared Mahalanobis gate of ``fuse_motion``. > 0. Chi-square
            95 % quantile with 4 dof (9.4877).
        track_buffer: frames (at 30 fps) a lost track is kept before removal; the tracker
            keeps ``int(frame_rate / 30 * track_buffer)`` frames. >= 0. FairMOT 30.
        refind: run Algorithm 1 Step 5 (occlusion-centre refinding) when occlusion
            centres are given.
        refind_window: time window ``tau_w`` of Algorithm 1: refinding is tried for a lost
            track while its lost counter ``w < refind_window`` (nominal frames, not scaled
            with the frame rate). >= 1. The paper gives no value; 20 frames was chosen on
            the tracker-only evaluation (``utrack track-gt``: MOT17-09, PETS09-S2L1, TUD):
            10 refinds fewer boxes (MOT17-09 MOTA -1.9), 30 adds nothing over 20.
        refind_threshold: ``tau_o``: a refind needs an Eq. (10) kernel score above this.
            (0, 1). Paper 0.7.
        min_box_area: tracks whose output box is smaller (pixels^2) are not output (they
            are still tracked). >= 0. FairMOT 100.
        max_aspect_ratio: tracks whose output box has ``w / h`` above this are not output
            (FairMOT drops such "horizontal" pedestrians at 1.6). > 0; ``inf`` disables.
        std_weight_position: Kalman position noise std as a fraction of box height (1/20).
        std_weight_velocity: Kalman velocity noise std as a fraction of box height (1/160).
    """

    det_thresh: float = 0.4
    new_track_thresh: float = 0.4
    match_thresh_embedding: float = 0.4
    match_thresh_motion: float = 0.8
    match_thresh_iou: float = 0.5
    match_thresh_unconfirmed: float = 0.7
    embedding_momentum: float = 0.9
    motion_lambda: float = 0.98
    gating_threshold: float = CHI2INV95[4]
    track_buffer: int = 30
    refind: bool = True
    refind_window: int = 20
    refind_threshold: float = 0.7
    min_box_area: float = 100.0
    max_aspect_ratio: float = 1.6
    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160

    # (field, low, high, low inclusive, high inclusive); None = unbounded.
    _RANGES: ClassVar[dict[str, tuple[float | None, float | None, bool, bool]]] = {
        "det_thresh": (0.0, 1.0, True, True),
        "new_track_thresh": (0.0, 1.0, True, True),
        "match_thresh_embedding": (0.0, 2.0, False, True),
        "match_thresh_motion": (0.0, 1.0, False, True),
        "match_thresh_iou": (0.0, 1.0, False, True),
        "match_thresh_unconfirmed": (0.0, 1.0, False, True),
        "embedding_momentum": (0.0, 1.0, True, False),
        "motion_lambda": (0.0, 1.0, True, True),
        "gating_threshold": (0.0, None, False, True),
        "track_buffer": (0, None, True, True),
        "refind_window": (1, None, True, True),
        "refind_threshold": (0.0, 1.0, False, False),
        "min_box_area": (0.0, None, True, True),
        "max_aspect_ratio": (0.0, None, False, True),
        "std_weight_position": (0.0, None, False, True),
        "std_weight_velocity": (0.0, None, False, True),
    }
    _INTS: ClassVar[tuple[str, ...]] = ("track_buffer", "refind_window")

    def __post_init__(self) -> None:
        validate_config_fields(self, "TrackerConfig")



def validate_config_fields(config: Any, class_name: str) -> None:
    """Check and normalise a tracker config dataclass in place: ``refind`` a bool, every
    field of ``config._RANGES`` a number (an int for ``config._INTS``) in its range (only
    ``max_aspect_ratio`` may be ``inf``); ``ValueError`` naming ``class_name.field``."""
    if not isinstance(config.refind, bool | np.bool_):
        raise ValueError(f"{class_name}.refind must be a bool, got {config.refind!r}")
    config.refind = bool(config.refind)
    for name, (low, high, low_inc, high_inc) in config._RANGES.items():
        value = getattr(config, name)
        expected = _range_text(low, high, low_inc, high_inc)
        is_int = name in config._INTS
        if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | np.integer if is_int else int | float | np.integer | np.floating
        ):
            kind = "an integer" if is_int else "a number"
            raise ValueError(f"{class_name}.{name} must be {kind} in {expected}, got {value!r}")
        value = int(value) if is_int else float(value)
        ok = not math.isnan(value)
        if ok and low is not None:
            ok = value >= low if low_inc else value > low
        if ok and high is not None:
            ok = value <= high if high_inc else value < high
        if ok and not is_int and math.isinf(value) and name != "max_aspect_ratio":
            ok = False
        if not ok:
            raise ValueError(f"{class_name}.{name} must be in {expected}, got {value!r}")
        setattr(config, name, value)


def _range_text(low, high, low_inc: bool, high_inc: bool) -> str:
    left = "[" if low_inc else "("
    right = "]" if high_inc and high is not None else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


@dataclass(frozen=True, eq=False)
class Track:
    """One output track of one frame (a snapshot: later updates do not change it).

    Attributes:
        track_id: id, from 1 per tracker instance (assigned when the track is first output).
        box_xyxy: ``[4]`` float64 box: the Kalman-filtered box for ``"tracked"``, the
            Eq. (15) recovered box for ``"refound"``.
        score: detection score for ``"tracked"``; for ``"refound"`` the Eq. (10) kernel
            score of the occluder / occlusion centre that recovered it.
        state: ``"tracked"`` (matched to a detection this frame) or ``"refound"``.
        is_new: True on the first frame the track is output.
        age: frames since the track started (0 on its first detection).
        frames_since_detection: frames since its last matched detection (0 when tracked).
        embedding: the track's smoothed, L2-normalised Re-ID feature, or None.
    """

    track_id: int
    box_xyxy: np.ndarray
    score: float
    state: str
    is_new: bool
    age: int
    frames_since_detection: int
    embedding: np.ndarray | None = None

    @property
    def box_tlwh(self) -> np.ndarray:
        """``(left, top, width, height)`` (MOTChallenge results layout)."""
        b = self.box_xyxy
        return np.array([b[0], b[1], b[2] - b[0], b[3] - b[1]])


_TRACKED, _LOST, _REMOVED = "tracked", "lost", "removed"


class _STrack:
    """Internal mutable track (Kalman state, appearance, counters)."""

    def __init__(self, box_xyxy: np.ndarray, score: float, feature: np.ndarray | None) -> None:
        self.det_box = np.asarray(box_xyxy, dtype=np.float64)
        self.score = float(score)
        self.feature = None if feature is None else _unit(feature)
        self.mean: np.ndarray = np.zeros(8)
        self.covariance: np.ndarray = np.eye(8)
        self.state = _TRACKED
        self.is_activated = False
        self.track_id = 0
        self.age = 0
        self.frames_lost = 0  # w of Algorithm 1
        self.frames_since_detection = 0
        self.start_frame = 0
        self.output_frames = 0
        self.updated = False  # matched or refound in the current frame
        self.refound = False
        self.out_box: np.ndarray | None = None

    @property
    def box_xyxy(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean[:4])

    def update_feature(self, feature: np.ndarray | None, momentum: float) -> None:
        if feature is None:
            return
        f = _unit(feature)
        if self.feature is None:
            self.feature = f
        else:
            self.feature = _unit(momentum * self.feature + (1 - momentum) * f)


class OUTracker:
    """Occlusion-aware online tracker (OUTrack Algorithm 1 on FairMOT association).

    Args:
        config: thresholds (:class:`TrackerConfig`, a mapping, or None for defaults).
        frame_rate: nominal frame rate (Hz) of the stream: scales the track buffer and
            converts timestamps to nominal frame steps.
    """

    def __init__(
        self, config: TrackerConfig | dict[str, Any] | None = None, frame_rate: float = 30
    ) -> None:
        if config is None:
            config = TrackerConfig()
        elif isinstance(config, dict):
            config = TrackerConfig.from_dict(config)
        elif not isinstance(config, TrackerConfig):
            raise ValueError(f"config must be a TrackerConfig or a dict, got {type(config)}")
        self.config = config
        self.frame_rate = check_frame_rate(frame_rate)
        self.max_time_lost = int(self.frame_rate / 30.0 * config.track_buffer)
        self.kalman = KalmanFilterXYAH(config.std_weight_position, config.std_weight_velocity)
        self.reset()

    def reset(self) -> None:
        """Forget every track; the next id is 1 again."""
        self.tracked_stracks: list[_STrack] = []
        self.lost_stracks: list[_STrack] = []
        self.frame_id = 0
        self._next_id = 1
        self._num_updates = 0
        self._last_timestamp: float | None = None
        self._embedding_dim: int | None = None

    # ------------------------------------------------------------------ public API

    def update(
        self,
        boxes_xyxy,
        scores,
        embeddings=None,
        occlusion_centers=None,
        timestamp: float | None = None,
    ) -> list[Track]:
        """Track one frame; returns the tracks updated in it (``"tracked"`` or ``"refound"``).

        Args:
            boxes_xyxy: ``[N, 4]`` detections ``(x1, y1, x2, y2)`` in pixels.
            scores: ``[N]`` detection scores.
            embeddings: ``[N, D]`` Re-ID features (any norm) or None (motion-only mode).
            occlusion_centers: ``[K, 2]`` predicted occlusion centres ``(x, y)`` or None.
            timestamp: capture time in seconds, or None (one nominal frame step).

        Rows with non-finite values or empty boxes are dropped with a warning; wrong
        shapes, mismatched lengths or non-numeric arrays raise ValueError.
        """
        boxes, scores, embeddings, centers = self._check_inputs(
            boxes_xyxy, scores, embeddings, occlusion_centers
        )
        dt, steps = self._time_step(timestamp)
        cfg = self.config
        self.frame_id += steps
        self._num_updates += 1
        first_frame = self._num_updates == 1

        # Step 1: detections of this frame, counters of every track.
        keep = scores >= cfg.det_thresh
        boxes, scores = boxes[keep], scores[keep]
        embeddings = None if embeddings is None else embeddings[keep]
        for track in self.tracked_stracks + self.lost_stracks:
            track.age += steps
            track.frames_since_detection += steps
            track.updated = track.refound = False
            track.out_box = None

        unconfirmed = [t for t in self.tracked_stracks if not t.is_activated]
        tracked = [t for t in self.tracked_stracks if t.is_activated]
        pool = tracked + self.lost_stracks
        predict_tracks(self.kalman, pool + unconfirmed, dt)
        matched_det: list[int] = []  # detections assigned to an existing track

        # Step 2a: appearance + motion (or IoU in motion-only mode) vs tracked + lost.
        cost, thresh = self._first_association_cost(pool, boxes, embeddings)
        matches, u_track, u_det = matching.linear_assignment(cost, thresh)
        self._update_tracks(
            [pool[i] for i in matches[:, 0]], matches[:, 1], boxes, scores, embeddings
        )
        matched_det += matches[:, 1].tolist()

        # Step 2b: IoU, remaining tracked tracks vs remaining detections.
        r_tracked = [pool[i] for i in u_track if pool[i].state == _TRACKED]
        r_lost = [pool[i] for i in u_track if pool[i].state != _TRACKED]
        cost = matching.iou_distance(self._boxes(r_tracked), boxes[u_det])
        matches, u_tracked, u_det_b = matching.linear_assignment(cost, cfg.match_thresh_iou)
        idets = u_det[matches[:, 1]]
        self._update_tracks([r_tracked[i] for i in matches[:, 0]], idets, boxes, scores, embeddings)
        matched_det += idets.tolist()
        u_det = u_det[u_det_b]
        unmatched = [r_tracked[i] for i in u_tracked] + r_lost

        # Step 2c: unconfirmed tracks (one detection so far) vs remaining detections.
        cost = matching.iou_distance(self._boxes(unconfirmed), boxes[u_det])
        matches, u_unconf, u_det_c = matching.linear_assignment(cost, cfg.match_thresh_unconfirmed)
        idets = u_det[matches[:, 1]]
        self._update_tracks(
            [unconfirmed[i] for i in matches[:, 0]], idets, boxes, scores, embeddings
        )
        matched_det += idets.tolist()
        for i in u_unconf:
            unconfirmed[i].state = _REMOVED
        u_det = u_det[u_det_c]

        # Step 4: new tracklets from the remaining confident detections.
        for idet in u_det:
            if scores[idet] >= cfg.new_track_thresh:
                self._start_track(boxes[idet], scores[idet], _row(embeddings, idet), first_frame)

        # Step 5: lost tracklets: refind from occlusion centres, else w <- w + 1.
        refound = refind_lost(self.config, unmatched, boxes[matched_det], centers)
        for track in unmatched:
            if track in refound:
                box, kernel = refound[track]
                self._refound_track(track, box, kernel)
            else:
                track.frames_lost += steps
                track.state = _LOST
                if track.frames_lost > self.max_time_lost:
                    track.state = _REMOVED

        # Bookkeeping: tracked pool = updated or refound tracks and new unconfirmed ones.
        everyone = self.tracked_stracks + self.lost_stracks
        self.tracked_stracks = [t for t in everyone if t.state == _TRACKED]
        self.lost_stracks = [t for t in everyone if t.state == _LOST]
        self._remove_duplicates()
        return self._outputs()

    # ------------------------------------------------------------------ steps

    def _first_association_cost(
        self, pool: list[_STrack], boxes: np.ndarray, embeddings: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        """Step 2a cost and threshold: FairMOT's gated appearance + motion cost, or IoU
        distance in motion-only mode."""
        cfg = self.config
        if embeddings is None:
            return matching.iou_distance(self._boxes(pool), boxes), cfg.match_thresh_motion
        dim = embeddings.shape[1]
        feats = np.zeros((len(pool), dim))
        for i, t in enumerate(pool):
            if t.feature is not None and len(t.feature) == dim:
                feats[i] = t.feature
        cost = matching.embedding_distance(feats, embeddings)
        gating = self.kalman.gating_distance(
            np.array([t.mean for t in pool]).reshape(-1, 8),
            np.array([t.covariance for t in pool]).reshape(-1, 8, 8),
            xyxy_to_xyah(boxes),
        )
        cost = matching.fuse_motion(cost, gating, cfg.motion_lambda, cfg.gating_threshold)
        return cost, cfg.match_thresh_embedding

    def _update_tracks(
        self,
        tracks: list[_STrack],
        det_index: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        embeddings: np.ndarray | None,
    ) -> None:
        """Step 3 (Algorithm 1 lines 6-9): measurement updates (batched), ``w <- 0``."""
        if not tracks:
            return
        means, covs = self.kalman.multi_update(
            np.array([t.mean for t in tracks]),
            np.array([t.covariance for t in tracks]),
            xyxy_to_xyah(boxes[det_index]),
        )
        for i, (track, idet) in enumerate(zip(tracks, det_index, strict=True)):
            track.mean, track.covariance = means[i], covs[i]
            track.update_feature(_row(embeddings, idet), self.config.embedding_momentum)
            track.det_box = boxes[idet].copy()
            track.score = float(scores[idet])
            track.state = _TRACKED
            track.frames_lost = 0
            track.frames_since_detection = 0
            track.updated = True
            track.out_box = None
            track.is_activated = True  # a second detection confirms a new track

    def _start_track(
        self, box: np.ndarray, score: float, feature: np.ndarray | None, activate: bool
    ) -> None:
        """Step 4 (lines 11-14). Confirmed at once only in the tracker's first frame."""
        track = _STrack(box, score, feature)
        track.mean, track.covariance = self.kalman.initiate(xyxy_to_xyah(box))
        track.start_frame = self.frame_id
        track.is_activated = activate
        track.updated = True
        self.tracked_stracks.append(track)

    def _refound_track(self, track: _STrack, box: np.ndarray, kernel_score: float) -> None:
        """Lines 21-23: output the recovered box and feed it back; ``w`` unchanged."""
        track.mean, track.covariance = self.kalman.update(
            track.mean, track.covariance, xyxy_to_xyah(box)
        )
        track.state = _TRACKED
        track.updated = True
        track.refound = True
        track.out_box = box
        track.score = kernel_score

    def _remove_duplicates(self) -> None:
        """ByteTrack ``remove_duplicate_stracks``: of a tracked / lost pair closer than
        ``DUPLICATE_IOU_DISTANCE`` keep the longer-lived track (the tracked one on a tie;
        ByteTrack keeps the lost one)."""
        if not self.tracked_stracks or not self.lost_stracks:
            return
        dist = matching.iou_distance(
            self._boxes(self.tracked_stracks), self._boxes(self.lost_stracks)
        )
        drop_tracked, drop_lost = set(), set()
        for p, q in zip(*np.nonzero(dist < DUPLICATE_IOU_DISTANCE), strict=True):
            a, b = self.tracked_stracks[p], self.lost_stracks[q]
            if a.start_frame <= b.start_frame:  # ties keep the tracked one
                drop_lost.add(q)
            else:
                drop_tracked.add(p)
        for p in drop_tracked:
            self.tracked_stracks[p].state = _REMOVED
        self.tracked_stracks = [t for t in self.tracked_stracks if t.state != _REMOVED]
        self.lost_stracks = [t for i, t in enumerate(self.lost_stracks) if i not in drop_lost]

    def _outputs(self) -> list[Track]:
        cfg = self.config
        out: list[Track] = []
        shown = [t for t in self.tracked_stracks if t.is_activated and t.updated]
        kalman_boxes = self._boxes(shown)
        for t, kalman_box in zip(shown, kalman_boxes, strict=True):
            box = t.out_box if t.out_box is not None else kalman_box
            if not is_output_box(box, cfg):
                continue
            if t.track_id == 0:
                t.track_id = self._next_id
                self._next_id += 1
            out.append(
                Track(
                    track_id=t.track_id,
                    box_xyxy=np.array(box, dtype=np.float64),
                    score=t.score,
                    state="refound" if t.refound else "tracked",
                    is_new=t.output_frames == 0,
                    age=t.age,
                    frames_since_detection=t.frames_since_detection,
                    embedding=None if t.feature is None else t.feature.copy(),
                )
            )
            t.output_frames += 1
        return out

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _boxes(tracks: list[_STrack]) -> np.ndarray:
        if not tracks:
            return np.zeros((0, 4))
        return xyah_to_xyxy(np.array([t.mean[:4] for t in tracks]))

    def _time_step(self, timestamp) -> tuple[float, int]:
        """``(dt, steps)``: prediction horizon and counter increment, in nominal frames."""
        dt, steps, self._last_timestamp = nominal_time_step(
            timestamp, self._last_timestamp, self.frame_rate
        )
        return dt, steps

    def _check_inputs(self, boxes, scores, embeddings, centers):
        boxes, scores, valid = check_boxes_scores(boxes, scores)
        n = len(boxes)
        if embeddings is not None:
            embeddings = _numeric(embeddings, "embeddings")
            if n == 0 and embeddings.ndim != 2:
                embeddings = embeddings.reshape(0, self._embedding_dim or 0)
            if embeddings.ndim != 2 or len(embeddings) != n:
                raise ValueError(
                    f"embeddings must have shape [{n}, D] to match boxes_xyxy, "
                    f"got {embeddings.shape}"
                )
            if n > 0:
                if self._embedding_dim is None:
                    self._embedding_dim = embeddings.shape[1]
                elif embeddings.shape[1] != self._embedding_dim:
                    raise ValueError(
                        f"embeddings have dimension {embeddings.shape[1]}, earlier frames "
                        f"had {self._embedding_dim}"
                    )
                valid &= np.all(np.isfinite(embeddings), axis=1)
        if not np.all(valid):
            bad = np.flatnonzero(~valid)
            logger.warning(
                "dropping %d of %d detections with non-finite values or empty boxes "
                "(x2 <= x1 or y2 <= y1): rows %s",
                len(bad),
                n,
                bad.tolist()[:10],
            )
            boxes, scores = boxes[valid], scores[valid]
            embeddings = None if embeddings is None else embeddings[valid]
        return boxes, scores, embeddings, check_centers(centers)


def check_frame_rate(frame_rate: Any) -> float:
    """A tracker's nominal frame rate (Hz) as a float, or a ``ValueError``."""
    if isinstance(frame_rate, bool) or not isinstance(frame_rate, int | float | np.number):
        raise ValueError(f"frame_rate must be a positive number, got {frame_rate!r}")
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"frame_rate must be a positive finite number, got {frame_rate!r}")
    return float(frame_rate)


def predict_tracks(kalman: KalmanFilterXYAH, tracks: list, dt: float) -> None:
    """Kalman prediction of every track (``.mean``, ``.covariance``, ``.state``) over ``dt``
    nominal frames, in place; a track not in the tracked state keeps its height (FairMOT
    zeroes its height velocity first)."""
    if not tracks:
        return
    means = np.array([t.mean for t in tracks])
    covs = np.array([t.covariance for t in tracks])
    for i, t in enumerate(tracks):
        if t.state != _TRACKED:
            means[i, 7] = 0.0
    means, covs = kalman.multi_predict(means, covs, dt)
    for t, m, c in zip(tracks, means, covs, strict=True):
        t.mean, t.covariance = m, c


def refind_lost(config: Any, lost: list, occluders: np.ndarray,
                centers: np.ndarray | None) -> dict:
    """Algorithm 1 Step 5 (lines 16-23): ``{track: (recovered box, kernel score)}``.

    Candidates are the ``lost`` tracks with ``w = frames_lost < config.refind_window``, at
    their Kalman-predicted boxes; occluders are the detections assigned to a track this
    frame; each occlusion centre refinds one track at most, best kernel score first
    (:func:`~utrack_ros.tracking.refind.refind_lost_tracks`). Nothing when
    ``config.refind`` is off or there are no centres or occluders.
    """
    if not config.refind or centers is None or len(centers) == 0 or len(occluders) == 0:
        return {}
    candidates = [t for t in lost if t.frames_lost < config.refind_window]
    if not candidates:
        return {}
    predicted = xyah_to_xyxy(np.array([t.mean[:4] for t in candidates]))
    found = refind_lost_tracks(predicted, occluders, centers, config.refind_threshold)
    return {candidates[i]: (box, score) for i, box, score in found}


def is_output_box(box_xyxy: np.ndarray, config: Any) -> bool:
    """FairMOT's output filter: area at least ``config.min_box_area`` and ``w / h`` at most
    ``config.max_aspect_ratio`` (the track is still tracked when its box is not output)."""
    w, h = box_xyxy[2] - box_xyxy[0], box_xyxy[3] - box_xyxy[1]
    return not (w * h < config.min_box_area or w > config.max_aspect_ratio * h)


def nominal_time_step(
    timestamp, last_timestamp: float | None, frame_rate: float
) -> tuple[float, int, float | None]:
    """``(dt, steps, new last timestamp)`` of a tracker update (module docstring, Units).

    ``dt`` is the prediction horizon and ``steps`` the counter increment, in nominal frames
    of ``1 / frame_rate`` s; ``None`` or unusable timestamps give one nominal step.
    """
    if timestamp is None:
        return 1.0, 1, last_timestamp
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float | np.number):
        raise ValueError(f"timestamp must be a number of seconds or None, got {timestamp!r}")
    t = float(timestamp)
    last = last_timestamp
    if not math.isfinite(t):
        logger.warning("non-finite timestamp %r: using the nominal frame step", timestamp)
        return 1.0, 1, last_timestamp
    if last is None:
        return 1.0, 1, t
    if t <= last:
        logger.warning(
            "timestamp %.6f s is not after the previous one (%.6f s): using the nominal "
            "frame step (call reset() when a stream restarts)",
            t,
            last,
        )
        return 1.0, 1, t
    dt = (t - last) * frame_rate
    steps = max(1, int(round(dt)))
    if abs(dt - steps) < STEP_SNAP_TOLERANCE:
        dt = float(steps)  # header stamps' ns rounding is not motion: whole steps stay whole
    return dt, steps, t


def check_boxes_scores(boxes, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(boxes [N, 4], scores [N], valid [N])`` as float64; ``valid`` marks finite rows with
    non-empty boxes. Wrong shapes, mismatched lengths or non-numeric arrays raise."""
    boxes = _numeric(boxes, "boxes_xyxy")
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes_xyxy must have shape [N, 4], got {boxes.shape}")
    n = len(boxes)
    scores = _numeric(scores, "scores")
    if scores.size == 0 and n == 0:
        scores = scores.reshape(0)
    if scores.ndim != 1 or len(scores) != n:
        raise ValueError(f"scores must have shape [{n}] to match boxes_xyxy, got {scores.shape}")
    valid = np.all(np.isfinite(boxes), axis=1) & np.isfinite(scores)
    valid &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes, scores, valid


def check_centers(centers) -> np.ndarray | None:
    """Occlusion centres as float64 ``[K, 2]`` (non-finite rows dropped with a warning)."""
    if centers is None:
        return None
    centers = _numeric(centers, "occlusion_centers")
    if centers.size == 0:
        centers = centers.reshape(0, 2)
    if centers.ndim != 2 or centers.shape[1] != 2:
        raise ValueError(f"occlusion_centers must have shape [K, 2], got {centers.shape}")
    finite = np.all(np.isfinite(centers), axis=1)
    if not np.all(finite):
        logger.warning("dropping %d non-finite occlusion centres", int((~finite).sum()))
        centers = centers[finite]
    return centers


def _numeric(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be a rectangular numeric array ({exc})") from exc
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float64)
    return v / max(float(np.sqrt(v @ v)), 1e-12)


def _row(array: np.ndarray | None, index: int) -> np.ndarray | None:
    return None if array is None else array[index]
