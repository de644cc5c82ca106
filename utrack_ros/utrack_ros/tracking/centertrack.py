"""CenterTrackTracker: CenterTrack's greedy offset association + OUTrack refinding (OTrack_ct).

The tracker of the CenterTrack-style variant (paper §3.3, §4.3.2, Table 5: "CenterTrack +
OccE"). ``update`` reads like Algorithm 1 with CenterTrack's association as ASSIGN:

- Step 2 (CenterTrack ``Tracker.step``): each detection ``j`` (score >= ``det_thresh``)
  carries the network's tracking offset ``o_j`` from its centre ``c_j`` to where the same
  object was in the previous frame; ``e_j = c_j + o_j``. Detections are taken in order of
  decreasing score; each claims the not yet claimed track ``i`` whose previous-frame
  centre ``p_i`` is nearest to ``e_j``, provided the match is *valid*: the squared distance
  ``|e_j - p_i|^2`` is at most both the track's box area ``w_i h_i`` and the detection's
  box area ``w_j h_j`` (CenterTrack's rule: the distance is smaller than each box's size
  ``sqrt(w h)``). No Hungarian step, no appearance, no IoU.
- Step 3: a matched track takes the detection's box as is (CenterTrack outputs detections).
- Step 4: an unmatched detection scoring >= ``new_track_thresh`` starts a track, output at
  once (CenterTrack has no confirmation). With ``public_detections`` (MOTChallenge public
  setting) an unmatched detection starts a track only when claimed by a public detection:
  public boxes in the given order each claim the nearest unclaimed unmatched detection
  whose centre lies within the detection's size (``|c_j - c_pub|^2 <= w_j h_j``), as
  CenterTrack (which compares ``e_j`` there; we compare the current centres, both being
  current-frame boxes). Matched detections continue their tracks whatever the public boxes.
- Step 5 (Algorithm 1 lines 16-26): an unmatched track whose lost counter ``w <
  refind_window`` is refound when an occlusion centre inside its *Kalman-predicted* box
  fits the overlap of that box with a detection matched to a track this frame (Eq. 10
  kernel > ``refind_threshold``); the Eq. (15)-(16) box is output (state ``"refound"``),
  ``w`` unchanged. Otherwise ``w <- w + steps``; a track dies when ``w`` exceeds
  ``max_age`` (CenterTrack's ``max_age``; frames at 30 Hz, scaled by the frame rate like
  :attr:`TrackerConfig.track_buffer`).

The Kalman filter (:class:`KalmanFilterXYAH`) is used only for what CenterTrack lacks and
refinding needs: a lost track's box. It is updated with every matched / recovered box (so
that it has a velocity when the track is lost), but neither association nor the output
box of a matched track uses it. A lost track keeps taking part in the association, at its
predicted position (a detection whose offset points there continues it).

The refinding itself is OUTracker's (:func:`~utrack_ros.tracking.refind.refind_lost_tracks`),
and so are the input checks, the timestamp handling (module docstring of
:mod:`utrack_ros.tracking.tracker`, Units) and the output type :class:`Track`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from utrack_ros.tracking.kalman import KalmanFilterXYAH, xyah_to_xyxy, xyxy_to_xyah
from utrack_ros.tracking.tracker import (
    ConfigDictMixin,
    Track,
    TrackerConfig,
    _numeric,
    check_boxes_scores,
    check_centers,
    check_frame_rate,
    is_output_box,
    nominal_time_step,
    predict_tracks,
    refind_lost,
    validate_config_fields,
)

logger = logging.getLogger(__name__)


@dataclass
class CenterTrackConfig(ConfigDictMixin):
    """Every threshold of :class:`CenterTrackTracker` (defaults: CenterTrack's MOT17 test
    settings, OUTrack's refinding, OUTracker's output filters).

    Attributes:
        det_thresh: detections scoring below this are ignored (CenterTrack ``track_thresh``
            0.4). [0, 1].
        new_track_thresh: a new track starts only from a detection scoring at least this
            (CenterTrack ``new_thresh`` = max(track_thresh, 0.3) = 0.4). [0, 1].
        pre_thresh: tracks scoring at least this are drawn into the previous-frame heatmap
            the network sees next frame (CenterTrack ``pre_thresh`` 0.5; used by
            :class:`~utrack_ros.pipeline.TrackingPipeline`). [0, 1].
        max_age: frames (at 30 Hz; the tracker keeps ``int(frame_rate / 30 * max_age)``)
            a track without detection is kept before it dies; 0 = at once, as CenterTrack's
            default, but refinding then has one frame only. >= 0.
        refind: Algorithm 1 Step 5 (occlusion-centre refinding) when centres are given.
        refind_window: ``tau_w``: refinding is tried while ``w < refind_window`` (nominal
            frames, as :attr:`TrackerConfig.refind_window`). >= 1.
        refind_threshold: ``tau_o``: a refind needs an Eq. (10) kernel score above this.
            (0, 1). Paper 0.7.
        min_box_area: tracks whose output box is smaller (pixels^2) are not output (still
            tracked). >= 0. As :class:`TrackerConfig` (FairMOT 100), so both variants are
            scored under the same rules.
        max_aspect_ratio: tracks whose output box has ``w / h`` above this are not output.
            > 0; ``inf`` disables. As :class:`TrackerConfig` (1.6).
        std_weight_position: Kalman position noise std as a fraction of box height (1/20).
        std_weight_velocity: Kalman velocity noise std as a fraction of box height (1/160).
    """

    det_thresh: float = 0.4
    new_track_thresh: float = 0.4
    pre_thresh: float = 0.5
    max_age: int = 30
    refind: bool = True
    refind_window: int = 20
    refind_threshold: float = 0.7
    min_box_area: float = 100.0
    max_aspect_ratio: float = 1.6
    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160

    # Fields shared with TrackerConfig take its ranges (one definition of each bound).
    _RANGES: ClassVar[dict[str, tuple[float | None, float | None, bool, bool]]] = {
        **{
            name: TrackerConfig._RANGES[name]
            for name in ("det_thresh", "new_track_thresh", "refind_window", "refind_threshold",
                         "min_box_area", "max_aspect_ratio", "std_weight_position",
                         "std_weight_velocity")
        },
        "pre_thresh": (0.0, 1.0, True, True),
        "max_age": TrackerConfig._RANGES["track_buffer"],  # same meaning
    }
    _INTS: ClassVar[tuple[str, ...]] = ("max_age", "refind_window")

    #: :class:`TrackerConfig` fields with no meaning here (FairMOT's cascade).
    FAIRMOT_ONLY: ClassVar[tuple[str, ...]] = (
        "match_thresh_embedding",
        "match_thresh_motion",
        "match_thresh_iou",
        "match_thresh_unconfirmed",
        "embedding_momentum",
        "motion_lambda",
        "gating_threshold",
    )

    def __post_init__(self) -> None:
        validate_config_fields(self, "CenterTrackConfig")

    @classmethod
    def from_settings(cls, values: Mapping[str, Any] | None) -> CenterTrackConfig:
        """Config from settings that may name :class:`TrackerConfig` fields too (the ROS
        node's ``tracker.*`` parameters, ``utrack`` options, a FairMOT-style checkpoint's
        ``tracker_config``).

        Fields of both configs (thresholds, refinding, output filters, Kalman noise) apply
        as is; ``track_buffer`` sets ``max_age`` (same meaning) unless ``max_age`` is
        given; the FairMOT association fields (:attr:`FAIRMOT_ONLY`) are ignored, with a
        warning when they differ from their defaults. Other names are a ValueError.
        """
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        if "track_buffer" in values and "max_age" not in values:
            kwargs["max_age"] = values["track_buffer"]
        defaults = TrackerConfig()
        ignored = sorted(
            k for k in cls.FAIRMOT_ONLY if k in values and values[k] != getattr(defaults, k)
        )
        if ignored:
            logger.warning(
                "the centertrack tracker has no FairMOT association cascade: ignoring %s",
                ", ".join(f"{k}={values[k]!r}" for k in ignored),
            )
        unknown = sorted(set(values) - known - set(cls.FAIRMOT_ONLY) - {"track_buffer"})
        if unknown:
            raise ValueError(
                f"unknown tracker setting(s) {unknown}; known: {sorted(known)} (and the "
                f"TrackerConfig names track_buffer, {', '.join(cls.FAIRMOT_ONLY)})"
            )
        return cls(**kwargs)


def greedy_match(
    det_points: np.ndarray,
    det_areas: np.ndarray,
    track_points: np.ndarray,
    track_areas: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterTrack's greedy assignment with its distance validity rule.

    Detection ``j`` (rows, already in priority order: decreasing score) claims the
    unclaimed track ``i`` nearest to it, when ``d^2 = |det_points[j] - track_points[i]|^2``
    is at most ``track_areas[i]`` and at most ``det_areas[j]``.

    Args:
        det_points: ``[N, 2]`` each detection's estimated previous-frame centre
            (``centre + tracking offset``).
        det_areas: ``[N]`` detection box areas.
        track_points: ``[M, 2]`` each track's centre in the previous frame.
        track_areas: ``[M]`` track box areas (previous frame).

    Returns:
        ``(matches [K, 2] (det, track) in claim order, unmatched dets, unmatched tracks)``,
        the unmatched ones as sorted int arrays.
    """
    det_points = np.asarray(det_points, dtype=np.float64).reshape(-1, 2)
    track_points = np.asarray(track_points, dtype=np.float64).reshape(-1, 2)
    n, m = len(det_points), len(track_points)
    det_areas = np.asarray(det_areas, dtype=np.float64).reshape(n)
    track_areas = np.asarray(track_areas, dtype=np.float64).reshape(m)
    matches: list[tuple[int, int]] = []
    if n and m:
        dist = np.sum((det_points[:, None, :] - track_points[None, :, :]) ** 2, axis=2)
        invalid = (dist > track_areas[None, :]) | (dist > det_areas[:, None])
        dist[invalid] = np.inf
        for j in range(n):
            i = int(np.argmin(dist[j]))
            if np.isfinite(dist[j, i]):
                matches.append((j, i))
                dist[:, i] = np.inf
    pairs = np.array(matches, dtype=np.int64).reshape(-1, 2)
    return (
        pairs,
        np.setdiff1d(np.arange(n), pairs[:, 0]),
        np.setdiff1d(np.arange(m), pairs[:, 1]),
    )


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2.0


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


_TRACKED, _LOST, _REMOVED = "tracked", "lost", "removed"


class _CTrack:
    """Internal mutable track: last box (seen, recovered or predicted), Kalman state, counters."""

    def __init__(self, box: np.ndarray, score: float, kalman: KalmanFilterXYAH) -> None:
        self.box = np.asarray(box, dtype=np.float64).copy()
        self.score = float(score)
        self.mean, self.covariance = kalman.initiate(xyxy_to_xyah(self.box))
        self.state = _TRACKED
        self.track_id = 0
        self.age = 0
        self.frames_lost = 0  # w of Algorithm 1
        self.frames_since_detection = 0
        self.output_frames = 0
        self.refound = False  # refound (not detected) in the current frame


class CenterTrackTracker:
    """Online tracker of the centertrack variant (module docstring).

    Args:
        config: :class:`CenterTrackConfig`, a mapping of its fields, or None (defaults).
        frame_rate: nominal frame rate (Hz): scales ``max_age`` and converts timestamps.
    """

    def __init__(
        self,
        config: CenterTrackConfig | Mapping[str, Any] | None = None,
        frame_rate: float = 30,
    ) -> None:
        if config is None:
            config = CenterTrackConfig()
        elif isinstance(config, Mapping):
            config = CenterTrackConfig.from_dict(config)
        elif not isinstance(config, CenterTrackConfig):
            raise ValueError(
                f"config must be a CenterTrackConfig or a dict, got {type(config).__name__}"
            )
        self.config = config
        self.frame_rate = check_frame_rate(frame_rate)
        self.max_time_lost = int(self.frame_rate / 30.0 * config.max_age)
        self.kalman = KalmanFilterXYAH(config.std_weight_position, config.std_weight_velocity)
        self.reset()

    def reset(self) -> None:
        """Forget every track; the next id is 1 again."""
        self.tracks: list[_CTrack] = []
        self.frame_id = 0
        self._next_id = 1
        self._last_timestamp: float | None = None

    # ------------------------------------------------------------------ public API

    def update(
        self,
        boxes_xyxy,
        scores,
        embeddings=None,
        occlusion_centers=None,
        timestamp: float | None = None,
        offsets=None,
        public_detections=None,
    ) -> list[Track]:
        """Track one frame; returns the tracks updated in it (``"tracked"`` or ``"refound"``).

        Args:
            boxes_xyxy: ``[N, 4]`` detections ``(x1, y1, x2, y2)`` in pixels.
            scores: ``[N]`` detection scores.
            embeddings: ignored (this variant has no Re-ID); accepted so that callers can
                drive both trackers alike.
            occlusion_centers: ``[K, 2]`` predicted occlusion centres ``(x, y)`` or None.
            timestamp: capture time in seconds, or None (one nominal frame step).
            offsets: ``[N, 2]`` tracking offsets ``(dx, dy)`` in pixels from each box's
                centre to the same object's centre in the previous frame (the model's
                ``tracking`` head); None = zeros (nearest-centre association).
            public_detections: optional ``[P, 4]`` boxes: new tracks only from detections
                claimed by one of them (module docstring, Step 4).

        Rows with non-finite values or empty boxes are dropped with a warning; wrong
        shapes, mismatched lengths or non-numeric arrays raise ValueError.
        """
        boxes, scores, offsets, centers, public = self._check_inputs(
            boxes_xyxy, scores, offsets, occlusion_centers, public_detections
        )
        dt, steps, self._last_timestamp = nominal_time_step(
            timestamp, self._last_timestamp, self.frame_rate
        )
        cfg = self.config
        self.frame_id += steps

        # Step 1: this frame's confident detections, by decreasing score; track counters.
        keep = np.flatnonzero(scores >= cfg.det_thresh)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        boxes, scores, offsets = boxes[keep], scores[keep], offsets[keep]
        previous = [t for t in self.tracks if t.state != _REMOVED]
        for track in previous:
            track.age += steps
            track.frames_since_detection += steps
            track.refound = False
        prev_boxes = np.array([t.box for t in previous]).reshape(-1, 4)
        predict_tracks(self.kalman, previous, dt)  # only lost tracks' are used

        # Step 2: CenterTrack's greedy association on the predicted offsets.
        matches, u_det, u_track = greedy_match(
            _centres(boxes) + offsets, _areas(boxes), _centres(prev_boxes), _areas(prev_boxes)
        )
        # Step 3 (Algorithm 1 lines 6-9): matched tracks take the detection's box; w <- 0.
        matched = [previous[i] for i in matches[:, 1]]
        self._update_tracks(matched, boxes[matches[:, 0]], scores[matches[:, 0]], True)

        # Step 4 (lines 11-14): births from unmatched confident detections (public mode:
        # only those claimed by a public box).
        born = u_det[scores[u_det] >= cfg.new_track_thresh]
        if public is not None:
            born = _claimed_by_public(boxes, born, public)
        new_tracks = [_CTrack(boxes[j], scores[j], self.kalman) for j in born]

        # Step 5 (lines 16-26): lost tracks: refind from occlusion centres (w unchanged),
        # else w <- w + steps and the track moves to its Kalman prediction.
        unmatched = [previous[i] for i in u_track]
        refound = refind_lost(self.config, unmatched, boxes[matches[:, 0]], centers)
        for track in unmatched:
            if track in refound:
                box, kernel = refound[track]
                self._update_tracks([track], box[None], np.array([kernel]), False)
            else:
                track.frames_lost += steps
                track.state = _LOST if track.frames_lost <= self.max_time_lost else _REMOVED
                track.box = xyah_to_xyxy(track.mean[:4])

        self.tracks = [t for t in previous if t.state != _REMOVED] + new_tracks
        # Output order: matched and new tracks by detection score, then refound ones.
        by_det = sorted(
            list(zip(matches[:, 0].tolist(), matched, strict=True))
            + list(zip(born.tolist(), new_tracks, strict=True)),
            key=lambda item: item[0],
        )
        shown = [t for _, t in by_det] + [t for t in unmatched if t in refound]
        return self._outputs(shown)

    # ------------------------------------------------------------------ steps

    def _update_tracks(
        self, tracks: list[_CTrack], boxes: np.ndarray, scores: np.ndarray, detected: bool
    ) -> None:
        """Take the given boxes and feed them to the filter: matched detections
        (``detected``: ``w <- 0``) or recovered boxes (refound, ``w`` unchanged)."""
        if not tracks:
            return
        means, covs = self.kalman.multi_update(
            np.array([t.mean for t in tracks]),
            np.array([t.covariance for t in tracks]),
            xyxy_to_xyah(boxes),
        )
        for track, box, score, m, c in zip(tracks, boxes, scores, means, covs, strict=True):
            track.mean, track.covariance = m, c
            track.box = np.array(box, dtype=np.float64)
            track.score = float(score)
            track.state = _TRACKED
            track.refound = not detected
            if detected:
                track.frames_lost = 0
                track.frames_since_detection = 0

    def _outputs(self, shown: list[_CTrack]) -> list[Track]:
        cfg = self.config
        out: list[Track] = []
        for t in shown:
            box = t.box
            if not is_output_box(box, cfg):
                continue
            if t.track_id == 0:
                t.track_id = self._next_id
                self._next_id += 1
            out.append(
                Track(
                    track_id=t.track_id,
                    box_xyxy=box.copy(),
                    score=t.score,
                    state="refound" if t.refound else "tracked",
                    is_new=t.output_frames == 0,
                    age=t.age,
                    frames_since_detection=t.frames_since_detection,
                    embedding=None,
                )
            )
            t.output_frames += 1
        return out

    # ------------------------------------------------------------------ helpers

    def _check_inputs(self, boxes, scores, offsets, centers, public):
        boxes, scores, valid = check_boxes_scores(boxes, scores)
        n = len(boxes)
        if offsets is None:
            offsets = np.zeros((n, 2))
        else:
            offsets = _numeric(offsets, "offsets")
            if offsets.size == 0 and n == 0:
                offsets = offsets.reshape(0, 2)
            if offsets.shape != (n, 2):
                raise ValueError(
                    f"offsets must have shape [{n}, 2] to match boxes_xyxy, got {offsets.shape}"
                )
            valid &= np.all(np.isfinite(offsets), axis=1)
        if not np.all(valid):
            bad = np.flatnonzero(~valid)
            logger.warning(
                "dropping %d of %d detections with non-finite values or empty boxes "
                "(x2 <= x1 or y2 <= y1): rows %s",
                len(bad),
                n,
                bad.tolist()[:10],
            )
            boxes, scores, offsets = boxes[valid], scores[valid], offsets[valid]
        if public is not None:
            public = _numeric(public, "public_detections")
            if public.size == 0:
                public = public.reshape(0, 4)
            if public.ndim != 2 or public.shape[1] != 4:
                raise ValueError(f"public_detections must have shape [P, 4], got {public.shape}")
            public = public[np.all(np.isfinite(public), axis=1)]
        return boxes, scores, offsets, check_centers(centers), public


def _claimed_by_public(boxes: np.ndarray, candidates: np.ndarray, public: np.ndarray) -> np.ndarray:
    """CenterTrack's public-detection births: each public box, in order, claims the nearest
    unclaimed candidate detection whose centre is within the detection's size."""
    if len(candidates) == 0 or len(public) == 0:
        return candidates[:0]
    cand = _centres(boxes[candidates])
    areas = _areas(boxes[candidates])
    dist = np.sum((cand[:, None, :] - _centres(public)[None, :, :]) ** 2, axis=2)  # [C, P]
    claimed = np.zeros(len(candidates), dtype=bool)
    for p in range(len(public)):
        d = np.where(claimed, np.inf, dist[:, p])
        c = int(np.argmin(d))
        if d[c] < areas[c]:
            claimed[c] = True
    return candidates[claimed]


__all__ = ["CenterTrackConfig", "CenterTrackTracker", "greedy_match"]
