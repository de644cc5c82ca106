"""CLEAR MOT, identity (IDF1) and HOTA metrics on MOTChallenge ground truth.

The metric arithmetic is TrackEval's own (``trackeval.metrics.CLEAR``, ``Identity`` and
``HOTA``), fed with arrays built here instead of TrackEval's file-based dataset classes, so
that a frame subset (e.g. the validation half) and in-memory results can be scored. The
preprocessing reproduces ``trackeval.datasets.MotChallenge2DBox.get_preprocessed_seq_data``:

1. IoU between every gt box (all classes, ignored rows included) and every tracker box of a
   frame (TrackEval's box IoU, boxes ``left, top, width, height``).
2. MOT16/17/20 gt (9 columns, with a class column): tracker boxes matched one-to-one
   (Hungarian, IoU >= 0.5) to a gt box of a distractor class (2 person on vehicle,
   7 static person, 8 distractor, 12 reflection) are removed: they are neither TP nor FP.
   A tracker box on any other non-pedestrian or ignored box (e.g. class 9 occluder) is
   *not* removed and counts as a false positive, as in TrackEval. (TrackEval's MOT20
   setting also treats class 6, non-MOT vehicle, as a distractor; that is not done here.)
   MOT15 gt (10 columns, no class column) has no distractors: nothing is removed (TrackEval
   skips this step for the MOT15 benchmark).
3. Only gt rows with consider flag != 0 and class 1 (pedestrian) are scored; every other
   row is dropped (MOT15: rows with consider flag 0 are dropped).
   Optional, off by default (``ignore_unconsidered=True``): also remove tracker boxes
   matched to *any* gt row with consider flag 0 (treat those rows as ignore regions). This
   is not what TrackEval or the devkits do; numbers are then not comparable to
   MOTChallenge's. It matters for MOT15 files with consider-0 rows (e.g. PETS09-S2L1) and
   for MOT17 boxes on non-distractor ignored classes (bicycle, occluder, ...).
4. Visibility is not used: a considered pedestrian with visibility 0 is still scored (a
   miss is a false negative), exactly as ``MotChallenge2DBox`` does.
5. Ids are relabelled to be contiguous; an id twice in one frame is an error.

Conventions of the returned numbers (a ``dict[str, float]``):

- ratios are **percentages** (0-100): MOTA, MOTP, MODA, IDF1, IDP, IDR, Recall, Precision,
  HOTA, DetA, AssA, LocA (HOTA family: mean over the 19 IoU thresholds 0.05..0.95, as
  TrackEval reports them);
- MOTP is TrackEval's: the mean **IoU (similarity)** of matched pairs, in percent, so
  higher is better (motmetrics reports the mean ``1 - IoU``, a distance: our MOTP =
  100 * (1 - motmetrics' MOTP));
- counts are whole numbers held in floats: TP, FP, FN, IDS, Frag, MT, PT, ML, num_gt_ids,
  num_tracker_ids, num_gt_dets, num_tracker_dets, num_frames.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from trackeval.metrics import CLEAR, HOTA, Identity

from utrack_ros.data.mot import (
    DISTRACTOR_CLASSES,
    PEDESTRIAN,
    MOTGroundTruth,
    load_mot_gt,
    read_mot_results,
    read_seqinfo,
)

#: IoU a tracker box needs with a distractor gt box to be removed (fixed by MOTChallenge).
DISTRACTOR_IOU = 0.5
_EPS = np.finfo("float").eps

#: Keys reported as percentages.
PERCENT_KEYS = (
    "MOTA", "MOTP", "MODA", "IDF1", "IDP", "IDR", "Recall", "Precision",
    "HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA",
)
#: Keys reported as counts.
COUNT_KEYS = (
    "TP", "FP", "FN", "IDS", "Frag", "MT", "PT", "ML",
    "num_gt_ids", "num_tracker_ids", "num_gt_dets", "num_tracker_dets", "num_frames",
)
#: Default columns of :func:`format_table` (MOTChallenge order).
DEFAULT_COLUMNS = (
    "MOTA", "IDF1", "HOTA", "MOTP", "IDP", "IDR", "Recall", "Precision", "DetA", "AssA",
    "num_gt_ids", "MT", "PT", "ML", "FP", "FN", "IDS", "Frag",
)
#: Short headers for :func:`format_table`.
_HEADERS = {"num_gt_ids": "GT", "Recall": "Rcll", "Precision": "Prcn", "num_frames": "Frames",
            "num_tracker_ids": "TrIDs", "num_gt_dets": "GTdets", "num_tracker_dets": "TrDets"}

OVERALL = "OVERALL"

GroundTruthLike = str | Path | MOTGroundTruth
ResultsLike = str | Path | np.ndarray


def box_iou_xywh(gt_xywh: np.ndarray, tracker_xywh: np.ndarray) -> np.ndarray:
    """IoU matrix ``[G, T]`` of boxes ``left, top, width, height`` (TrackEval's definition).

    Pairs where either box has (near) zero area, or the union is zero, get IoU 0.
    """
    a = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(tracker_xywh, dtype=np.float64).reshape(-1, 4)
    a_x2, a_y2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    b_x2, b_y2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(a_x2[:, None], b_x2[None]) - np.maximum(a[:, 0][:, None], b[:, 0][None])
    ih = np.minimum(a_y2[:, None], b_y2[None]) - np.maximum(a[:, 1][:, None], b[:, 1][None])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    area_a = a[:, 2] * a[:, 3]
    area_b = b[:, 2] * b[:, 3]
    union = area_a[:, None] + area_b[None] - inter
    inter[area_a <= _EPS, :] = 0.0
    inter[:, area_b <= _EPS] = 0.0
    inter[union <= _EPS] = 0.0
    union[union <= _EPS] = 1.0
    return inter / union


# --------------------------------------------------------------------------- inputs


def _seqinfo_length(seq_dir: Path) -> int | None:
    if (seq_dir / "seqinfo.ini").is_file():
        return read_seqinfo(seq_dir).length
    return None


def resolve_gt(gt: GroundTruthLike) -> tuple[MOTGroundTruth, int | None, str | None]:
    """Load ground truth; return ``(gt, sequence length or None, sequence name or None)``.

    ``gt`` is a :class:`MOTGroundTruth`, a ``gt.txt`` file or a MOTChallenge sequence
    directory (``<seq>/gt/gt.txt``). The length comes from ``seqinfo.ini`` when the
    directory (or, for ``<seq>/gt/gt.txt``, its ``<seq>``) has one.
    """
    if isinstance(gt, MOTGroundTruth):
        return gt, None, None
    if not isinstance(gt, (str, Path)):
        raise TypeError(
            f"gt must be a path or a MOTGroundTruth, got {type(gt).__name__}"
        )
    path = Path(gt)
    if path.is_dir():
        gt_file = path / "gt" / "gt.txt"
        if not gt_file.is_file():
            raise FileNotFoundError(
                f"{path} is a directory without gt/gt.txt: expected a MOTChallenge sequence "
                "directory or a gt.txt file"
            )
        seq_dir = path
    elif path.is_file():
        gt_file = path
        seq_dir = path.parent.parent if path.parent.name == "gt" else None
    else:
        raise FileNotFoundError(f"ground truth {path} not found (expected a gt.txt file or "
                                "a MOTChallenge sequence directory)")
    length = _seqinfo_length(seq_dir) if seq_dir is not None else None
    if seq_dir is not None and length is not None:
        name = read_seqinfo(seq_dir).name
    elif seq_dir is not None:
        name = seq_dir.resolve().name
    else:
        name = gt_file.stem
    return load_mot_gt(gt_file), length, name


def _check_results(rows: np.ndarray, source: str) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] < 6:
        raise ValueError(
            f"{source}: results must be an array [N, >=6] (frame, id, left, top, width, "
            f"height[, score]), got shape {rows.shape}"
        )
    if not np.issubdtype(rows.dtype, np.number):
        raise ValueError(f"{source}: results must be numeric, got dtype {rows.dtype}")
    rows = rows[:, :6].astype(np.float64)
    if not np.all(np.isfinite(rows)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(rows), axis=1))[0])
        raise ValueError(f"{source}: row {bad} has a non-finite value: {rows[bad].tolist()}")
    for col, what in ((0, "frame"), (1, "id")):
        values = rows[:, col]
        bad = np.flatnonzero(values != np.round(values))
        if len(bad):
            raise ValueError(
                f"{source}: row {int(bad[0])} has a non-integer {what} {values[bad[0]]!r}; "
                "expected integer frame and id in the first two columns"
            )
    if len(rows) and rows[:, 0].min() < 1:
        bad = int(np.argmin(rows[:, 0]))
        raise ValueError(f"{source}: row {bad} has frame {rows[bad, 0]:g}; frames start at 1")
    negative = np.flatnonzero((rows[:, 4] < 0) | (rows[:, 5] < 0))
    if len(negative):
        bad = int(negative[0])
        raise ValueError(
            f"{source}: row {bad} has a negative width/height {rows[bad, 4:6].tolist()}; "
            "expected left, top, width, height with width, height >= 0"
        )
    pairs, counts = np.unique(rows[:, :2].astype(np.int64), axis=0, return_counts=True)
    if np.any(counts > 1):
        frame, track = pairs[counts > 1][0]
        hint = " (a det.txt, whose id column is -1, is not a results file)" if track == -1 else ""
        raise ValueError(
            f"{source}: id {track} appears {counts[counts > 1][0]} times in frame {frame}; a "
            f"tracker may output each id at most once per frame{hint}"
        )
    return rows


def _load_results(results: ResultsLike) -> np.ndarray:
    if isinstance(results, (str, Path)):
        return _check_results(read_mot_results(results), str(results))
    if isinstance(results, np.ndarray):
        return _check_results(results, "results array")
    raise TypeError(
        f"results must be a path or an ndarray [N, >=6], got {type(results).__name__}"
    )


def _check_frames(frames: range | None, length: int | None, gt: MOTGroundTruth,
                  rows: np.ndarray) -> range:
    if frames is None:
        if length is not None:
            return range(1, length + 1)
        last = max(int(gt.frame.max()) if len(gt) else 0,
                   int(rows[:, 0].max()) if len(rows) else 0)
        return range(1, max(last, 1) + 1)
    if not isinstance(frames, range):
        raise TypeError(f"frames must be a range of 1-based frame numbers or None, "
                        f"got {type(frames).__name__}")
    if frames.step != 1 or len(frames) == 0 or frames.start < 1:
        raise ValueError(
            f"frames={frames!r}: expected a non-empty range of consecutive 1-based frame "
            "numbers, e.g. range(301, 601)"
        )
    if length is not None and frames.stop - 1 > length:
        raise ValueError(f"frames={frames!r} goes beyond the sequence's {length} frames")
    return frames


# --------------------------------------------------------------------------- TrackEval data


def _relabel(ids_per_t: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    all_ids = np.unique(np.concatenate(ids_per_t)) if ids_per_t else np.zeros(0, np.int64)
    relabelled = [np.searchsorted(all_ids, ids).astype(int) for ids in ids_per_t]
    return relabelled, len(all_ids)


def build_trackeval_data(
    gt: MOTGroundTruth,
    rows: np.ndarray,
    frames: range,
    *,
    distractor_handling: bool = True,
    ignore_unconsidered: bool = False,
) -> dict:
    """The ``data`` dict TrackEval's metrics take, after MOTChallenge preprocessing.

    Args:
        gt: ground truth (all rows; filtering happens here).
        rows: checked results ``[N, >=6]`` (frame, id, left, top, width, height).
        frames: consecutive frames to score; timestep ``t`` is frame ``frames.start + t``.
        distractor_handling: remove tracker boxes matched to distractor-class gt boxes
            (MOT16/17/20 gt only; see the module docstring). False scores them as FPs.
        ignore_unconsidered: also remove tracker boxes matched to gt rows with consider
            flag 0 (non-standard; see the module docstring).

    Returns:
        ``gt_ids``, ``tracker_ids`` (contiguous ints), ``similarity_scores`` (IoU ``[G, T]``)
        per timestep, ``num_timesteps``, ``num_gt_ids``, ``num_tracker_ids``,
        ``num_gt_dets``, ``num_tracker_dets``, ``seq``.
    """
    gt = gt.in_frames(frames)
    rows = rows[(rows[:, 0] >= frames.start) & (rows[:, 0] < frames.stop)]
    n_t = len(frames)
    # MOT15 gt (no class column) loads as all class 1, so it has no distractors: the same
    # result as TrackEval skipping the matching for the MOT15 benchmark.
    keep_gt = gt.consider & (gt.cls == PEDESTRIAN)
    removable = np.zeros(len(gt), dtype=bool)
    if distractor_handling:
        removable |= np.isin(gt.cls, DISTRACTOR_CLASSES)
    if ignore_unconsidered:
        removable |= ~gt.consider

    gt_t = gt.frame - frames.start
    tr_t = rows[:, 0].astype(np.int64) - frames.start
    gt_order = np.argsort(gt_t, kind="stable")
    tr_order = np.argsort(tr_t, kind="stable")
    gt_bounds = np.searchsorted(gt_t[gt_order], np.arange(n_t + 1))
    tr_bounds = np.searchsorted(tr_t[tr_order], np.arange(n_t + 1))

    gt_ids: list[np.ndarray] = []
    tracker_ids: list[np.ndarray] = []
    similarity: list[np.ndarray] = []
    for t in range(n_t):
        g = gt_order[gt_bounds[t]:gt_bounds[t + 1]]
        k = tr_order[tr_bounds[t]:tr_bounds[t + 1]]
        sim = box_iou_xywh(gt.boxes_xywh[g], rows[k, 2:6])
        if len(k) and removable[g].any():
            matching = sim.copy()
            matching[matching < DISTRACTOR_IOU - _EPS] = 0.0
            match_rows, match_cols = linear_sum_assignment(-matching)
            matched = matching[match_rows, match_cols] > 0.0 + _EPS
            match_rows, match_cols = match_rows[matched], match_cols[matched]
            remove = match_cols[removable[g][match_rows]]
            k = np.delete(k, remove)
            sim = np.delete(sim, remove, axis=1)
        keep = keep_gt[g]
        gt_ids.append(gt.track_id[g][keep])
        tracker_ids.append(rows[k, 1].astype(np.int64))
        similarity.append(sim[keep])

    gt_ids, num_gt_ids = _relabel(gt_ids)
    tracker_ids, num_tracker_ids = _relabel(tracker_ids)
    return {
        "gt_ids": gt_ids,
        "tracker_ids": tracker_ids,
        "similarity_scores": similarity,
        "num_timesteps": n_t,
        "num_gt_ids": num_gt_ids,
        "num_tracker_ids": num_tracker_ids,
        "num_gt_dets": int(sum(len(x) for x in gt_ids)),
        "num_tracker_dets": int(sum(len(x) for x in tracker_ids)),
        "seq": "sequence",
    }


def _metric_objects(iou_threshold: float) -> tuple[CLEAR, Identity, HOTA]:
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold={iou_threshold}: expected a value in (0, 1]")
    config = {"THRESHOLD": float(iou_threshold), "PRINT_CONFIG": False}
    with contextlib.redirect_stdout(io.StringIO()):
        return CLEAR(dict(config)), Identity(dict(config)), HOTA()


@dataclass
class SequenceResult:
    """TrackEval's raw per-metric results of one sequence (what combining needs)."""

    clear: dict
    identity: dict
    hota: dict
    num_frames: int
    num_gt_ids: int
    num_tracker_ids: int
    num_gt_dets: int
    num_tracker_dets: int

    def summary(self) -> dict[str, float]:
        """Flat metrics dict (percentages and counts, see the module docstring)."""
        c, i, h = self.clear, self.identity, self.hota
        out = {
            "MOTA": c["MOTA"], "MOTP": c["MOTP"], "MODA": c["MODA"],
            "IDF1": i["IDF1"], "IDP": i["IDP"], "IDR": i["IDR"],
            "Recall": c["CLR_Re"], "Precision": c["CLR_Pr"],
            "HOTA": h["HOTA"], "DetA": h["DetA"], "AssA": h["AssA"], "DetRe": h["DetRe"],
            "DetPr": h["DetPr"], "AssRe": h["AssRe"], "AssPr": h["AssPr"], "LocA": h["LocA"],
        }
        result = {k: 100.0 * float(np.mean(v)) for k, v in out.items()}
        result.update({
            "TP": float(c["CLR_TP"]), "FP": float(c["CLR_FP"]), "FN": float(c["CLR_FN"]),
            "IDS": float(c["IDSW"]), "Frag": float(c["Frag"]),
            "MT": float(c["MT"]), "PT": float(c["PT"]), "ML": float(c["ML"]),
            "num_gt_ids": float(self.num_gt_ids),
            "num_tracker_ids": float(self.num_tracker_ids),
            "num_gt_dets": float(self.num_gt_dets),
            "num_tracker_dets": float(self.num_tracker_dets),
            "num_frames": float(self.num_frames),
        })
        return result


def _evaluate(gt: GroundTruthLike, results: ResultsLike, frames: range | None,
              iou_threshold: float, distractor_handling: bool,
              ignore_unconsidered: bool) -> SequenceResult:
    gt_data, length, _ = resolve_gt(gt)
    rows = _load_results(results)
    if length is not None and len(rows) and rows[:, 0].max() > length:
        raise ValueError(
            f"results contain frame {int(rows[:, 0].max())} but the sequence has only "
            f"{length} frames (seqinfo.ini): results and ground truth do not belong together"
        )
    frames = _check_frames(frames, length, gt_data, rows)
    clear, identity, hota = _metric_objects(iou_threshold)
    data = build_trackeval_data(gt_data, rows, frames, distractor_handling=distractor_handling,
                                ignore_unconsidered=ignore_unconsidered)
    return SequenceResult(
        clear=clear.eval_sequence(data),
        identity=identity.eval_sequence(data),
        hota=hota.eval_sequence(data),
        num_frames=data["num_timesteps"],
        num_gt_ids=data["num_gt_ids"],
        num_tracker_ids=data["num_tracker_ids"],
        num_gt_dets=data["num_gt_dets"],
        num_tracker_dets=data["num_tracker_dets"],
    )


def evaluate_sequence(
    gt: GroundTruthLike,
    results: ResultsLike,
    *,
    frames: range | None = None,
    iou_threshold: float = 0.5,
    distractor_handling: bool = True,
    ignore_unconsidered: bool = False,
) -> dict[str, float]:
    """Score one sequence's tracker output against its ground truth (MOTChallenge protocol).

    Args:
        gt: a :class:`MOTGroundTruth`, a ``gt.txt`` (MOT15 10-column or MOT16/17/20 9-column
            layout) or a sequence directory holding ``gt/gt.txt`` (and ``seqinfo.ini``).
        results: a MOTChallenge results file or an array ``[N, >=6]`` with columns frame,
            id, left, top, width, height (further columns are ignored).
        frames: consecutive 1-based frames to score (e.g. the validation half
            ``half_split(L)[1]``); gt and results outside are dropped. None: the whole
            sequence (``seqinfo.ini`` length when known, else the last annotated frame).
        iou_threshold: IoU a match needs for CLEAR MOT and identity metrics (HOTA always
            integrates over thresholds 0.05..0.95; distractor matching always uses 0.5).
        distractor_handling: remove tracker boxes matched to distractor classes 2, 7, 8, 12
            before scoring (MOT16/17/20 gt). False keeps them (they become FPs).
        ignore_unconsidered: also remove tracker boxes matched to gt rows whose consider
            flag is 0, any class (ignore regions; not TrackEval's behaviour, off by default).

    Returns:
        ``{"MOTA", "MOTP", "MODA", "IDF1", "IDP", "IDR", "Recall", "Precision", "HOTA",
        "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA"}`` in percent (MOTP is
        TrackEval's mean IoU of matches, higher is better) and counts ``TP, FP, FN, IDS,
        Frag, MT, PT, ML, num_gt_ids, num_tracker_ids, num_gt_dets, num_tracker_dets,
        num_frames``. See the module docstring for the preprocessing.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: malformed results (shape, non-integer frame/id, duplicate id in a frame,
            negative size), frames outside the sequence, or a bad threshold.
    """
    return _evaluate(gt, results, frames, iou_threshold, distractor_handling,
                     ignore_unconsidered).summary()


def combine_results(per_sequence: Sequence[SequenceResult]) -> dict[str, float]:
    """Combine sequences as TrackEval's ``combine_sequences`` does (sums of counts)."""
    if not per_sequence:
        raise ValueError("nothing to combine: no sequences")
    clear, identity, hota = _metric_objects(0.5)  # thresholds do not enter combining
    combined = SequenceResult(
        clear=clear.combine_sequences({str(i): r.clear for i, r in enumerate(per_sequence)}),
        identity=identity.combine_sequences(
            {str(i): r.identity for i, r in enumerate(per_sequence)}),
        hota=hota.combine_sequences({str(i): r.hota for i, r in enumerate(per_sequence)}),
        num_frames=sum(r.num_frames for r in per_sequence),
        num_gt_ids=sum(r.num_gt_ids for r in per_sequence),
        num_tracker_ids=sum(r.num_tracker_ids for r in per_sequence),
        num_gt_dets=sum(r.num_gt_dets for r in per_sequence),
        num_tracker_dets=sum(r.num_tracker_dets for r in per_sequence),
    )
    return combined.summary()


def evaluate_many(
    sequences: Mapping[str, tuple[GroundTruthLike, ResultsLike, range | None]],
    *,
    iou_threshold: float = 0.5,
    distractor_handling: bool = True,
    ignore_unconsidered: bool = False,
) -> dict[str, dict[str, float]]:
    """Score several sequences and add an ``"OVERALL"`` row.

    Args:
        sequences: ``{name: (gt, results, frames)}`` as for :func:`evaluate_sequence`
            (``frames`` None = whole sequence).
        iou_threshold, distractor_handling, ignore_unconsidered: as for
            :func:`evaluate_sequence`, applied to every sequence.

    Returns:
        ``{name: metrics}`` in the given order, then ``"OVERALL"``: counts summed over the
        sequences and every ratio recomputed from the sums (TrackEval's combined row; HOTA's
        AssA is the TP-weighted mean), not an average of per-sequence ratios.
    """
    if not sequences:
        raise ValueError("evaluate_many needs at least one sequence")
    if OVERALL in sequences:
        raise ValueError(f"{OVERALL!r} is reserved for the combined row; rename that sequence")
    raw: dict[str, SequenceResult] = {}
    for name, entry in sequences.items():
        if not isinstance(entry, tuple) or len(entry) != 3:
            raise ValueError(f"sequence {name!r}: expected a tuple (gt, results, frames), "
                             f"got {entry!r}")
        gt, results, frames = entry
        try:
            raw[name] = _evaluate(gt, results, frames, iou_threshold, distractor_handling,
                                  ignore_unconsidered)
        except ValueError as exc:
            raise ValueError(f"sequence {name!r}: {exc}") from exc
    table = {name: r.summary() for name, r in raw.items()}
    table[OVERALL] = combine_results(list(raw.values()))
    return table


def format_table(rows: Mapping[str, Mapping[str, float]],
                 columns: Sequence[str] | None = None) -> str:
    """A fixed-width MOTChallenge-style table: one line per sequence.

    Percentages (see :data:`PERCENT_KEYS`) print with one decimal, counts as integers.

    Args:
        rows: ``{name: metrics}`` as returned by :func:`evaluate_many`.
        columns: metric keys to show, in order (default :data:`DEFAULT_COLUMNS`).
    """
    columns = list(DEFAULT_COLUMNS if columns is None else columns)
    for name, metrics in rows.items():
        missing = [c for c in columns if c not in metrics]
        if missing:
            raise ValueError(f"row {name!r} has no {missing}; available: {sorted(metrics)}")

    def cell(key: str, value: float) -> str:
        if value is None or not np.isfinite(value):
            return "-"
        if key in COUNT_KEYS:
            return f"{int(round(value))}"
        return f"{value:.1f}"

    headers = [_HEADERS.get(c, c) for c in columns]
    body = [[name] + [cell(c, m[c]) for c in columns] for name, m in rows.items()]
    name_w = max([len("Sequence")] + [len(r[0]) for r in body])
    widths = [max(len(h), *(len(r[i + 1]) for r in body)) if body else len(h)
              for i, h in enumerate(headers)]
    lines = []
    for r in [["Sequence", *headers], *body]:
        cells = [f"{r[0]:<{name_w}}"]
        cells += [f"{v:>{w}}" for v, w in zip(r[1:], widths, strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)
