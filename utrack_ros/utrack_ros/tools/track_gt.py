"""``utrack track-gt SEQ ...``: tracker-only evaluation on ground-truth detections.

The protocol of DESIGN §6: the ground-truth pedestrians of each frame are the detections
(score 1, no embeddings, so the tracker runs in motion-only mode); what a detector would
miss under occlusion is removed, occlusion centres come from Eq. (9) on the full ground
truth, and the tracker runs with Algorithm 1 refinding on and off to show what it adds.

Which boxes are dropped (the "missed detections"):

- gt with a visibility column (MOT16/17/20): boxes with visibility < ``--min-visibility``;
- gt without one (MOT15: PETS09, TUD): an overlap-derived visibility, the fraction of the
  box not covered by the union of the boxes *nearer the camera*, nearer meaning a larger
  bottom edge ``y2`` (ground-plane assumption: feet lower in the image are closer); boxes
  below ``--min-visibility`` are dropped. ``--visibility overlap`` uses this estimate for
  every gt, ``--visibility none`` keeps every box;
- then, optionally, each remaining box with probability ``--drop-rate`` (seeded).

Occlusion centres (``--occlusion-centers``, on by default) are the Eq. (9) overlap centres
(``tau`` = ``--occlusion-tau``) of the considered pedestrians of the frame *before*
dropping, optionally jittered with Gaussian noise of ``--occlusion-jitter`` pixels.

Prints the metric table (``format_table``) for every sequence and mode, the refinding
deltas and how many refound boxes hit a ground-truth box (IoU >= 0.5); ``--output DIR``
writes ``DIR/refind-on/<seq>.txt`` and ``DIR/refind-off/<seq>.txt`` (MOTChallenge).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from utrack_ros.data.mot import (
    MOTGroundTruth,
    load_mot_gt,
    parse_frame_range,
    read_seqinfo,
    write_mot_results,
)
from utrack_ros.targets import occlusion_centers
from utrack_ros.tracking import OUTracker, TrackerConfig
from utrack_ros.tracking.matching import iou_matrix

LOGGER = logging.getLogger(__name__)

MODES = {"on": ("refind-on",), "off": ("refind-off",), "both": ("refind-on", "refind-off")}


@dataclass(frozen=True)
class GTDetectionSettings:
    """How ground truth becomes detections (see the module docstring)."""

    min_visibility: float = 0.3
    visibility: str = "auto"  # "auto" | "gt" | "overlap" | "none"
    drop_rate: float = 0.0
    seed: int = 0
    occlusion_centers: bool = True
    occlusion_tau: float = 0.7
    occlusion_jitter: float = 0.0


@dataclass
class GTSequence:
    """A sequence to track: its name, frame rate, length and pedestrian ground truth."""

    name: str
    frame_rate: float
    length: int
    gt: MOTGroundTruth  # considered pedestrians: the detections
    gt_all: MOTGroundTruth  # every row: what the metrics score against


def overlap_visibility(boxes_xyxy: np.ndarray) -> np.ndarray:
    """Visible fraction ``[N]`` of each box: 1 - (area covered by nearer boxes) / area.

    A box is nearer the camera than box ``i`` when its bottom edge is strictly lower
    (``y2 > y2_i``). Covered area is the exact area of the union of the nearer boxes
    clipped to box ``i`` (coordinate-compressed grid). Empty boxes get visibility 0.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    vis = np.ones(len(boxes))
    for i, b in enumerate(boxes):
        area = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
        if area <= 0:
            vis[i] = 0.0
            continue
        occ = boxes[boxes[:, 3] > b[3]]
        occ = np.concatenate([np.maximum(occ[:, :2], b[:2]), np.minimum(occ[:, 2:], b[2:])], 1)
        occ = occ[(occ[:, 2] > occ[:, 0]) & (occ[:, 3] > occ[:, 1])]
        if len(occ) == 0:
            continue
        xs = np.unique(np.concatenate([b[[0, 2]], occ[:, 0], occ[:, 2]]))
        ys = np.unique(np.concatenate([b[[1, 3]], occ[:, 1], occ[:, 3]]))
        mx, my = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
        inside_x = (occ[:, None, 0] <= mx[None]) & (mx[None] < occ[:, None, 2])  # [M, X]
        inside_y = (occ[:, None, 1] <= my[None]) & (my[None] < occ[:, None, 3])  # [M, Y]
        covered = np.any(inside_x[:, :, None] & inside_y[:, None, :], axis=0)  # [X, Y]
        cell = np.diff(xs)[:, None] * np.diff(ys)[None, :]
        vis[i] = 1.0 - float(np.sum(cell[covered])) / area
    return np.clip(vis, 0.0, 1.0)


def frame_detections(
    gt: MOTGroundTruth,
    frame: int,
    settings: GTDetectionSettings,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(detection boxes [n, 4], occlusion centres [K, 2] or None, gt boxes [N, 4])``.

    ``rng`` draws the random drops and the centre jitter (needed only when those are on).
    """
    sel = gt.frame == frame
    boxes = gt.boxes_xyxy[sel]
    keep = np.ones(len(boxes), dtype=bool)
    mode = settings.visibility
    if mode == "auto":
        mode = "gt" if gt.has_visibility else "overlap"
    if mode == "gt":
        if not gt.has_visibility:
            raise ValueError("--visibility gt: this ground truth has no visibility column")
        keep &= gt.visibility[sel] >= settings.min_visibility
    elif mode == "overlap":
        keep &= overlap_visibility(boxes) >= settings.min_visibility
    if settings.drop_rate > 0:
        keep &= rng.random(len(boxes)) >= settings.drop_rate
    centers = None
    if settings.occlusion_centers:
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        centers, _ = occlusion_centers(boxes[valid], tau=settings.occlusion_tau)
        if settings.occlusion_jitter > 0 and len(centers):
            centers = centers + rng.normal(0.0, settings.occlusion_jitter, centers.shape)
    return boxes[keep], centers, boxes


@dataclass
class TrackRun:
    """Results of tracking one sequence in one mode."""

    rows: np.ndarray  # [N, 7] frame, id, left, top, width, height, score
    num_detections: int
    num_refound: int
    num_refound_hits: int  # refound boxes with IoU >= 0.5 to some gt box of the frame


def track_gt_sequence(
    seq: GTSequence,
    frames: range,
    settings: GTDetectionSettings,
    config: TrackerConfig,
    *,
    progress: bool = False,
    desc: str = "",
) -> TrackRun:
    """Track ``frames`` of ``seq`` from a fresh tracker with gt boxes as detections.

    The random generator is seeded per run, so both modes see the same detections.
    """
    rng = np.random.default_rng(settings.seed)
    tracker = OUTracker(config, frame_rate=seq.frame_rate)
    rows: list[list[float]] = []
    n_det = n_ref = n_hit = 0
    iterator = frames
    if progress:
        iterator = tqdm(frames, desc=desc or seq.name, unit="frame", leave=False)
    for frame in iterator:
        boxes, centers, gt_boxes = frame_detections(seq.gt, frame, settings, rng)
        n_det += len(boxes)
        tracks = tracker.update(boxes, np.ones(len(boxes)), occlusion_centers=centers)
        for t in tracks:
            x1, y1, x2, y2 = t.box_xyxy
            rows.append([frame, t.track_id, x1, y1, x2 - x1, y2 - y1, t.score])
            if t.state == "refound":
                n_ref += 1
                if len(gt_boxes) and iou_matrix(t.box_xyxy[None], gt_boxes).max() >= 0.5:
                    n_hit += 1
    return TrackRun(np.asarray(rows, dtype=np.float64).reshape(-1, 7), n_det, n_ref, n_hit)


def load_sequence(path: Path, seqinfo: Path | None, frame_rate: float | None) -> GTSequence:
    """A sequence directory (``seqinfo.ini`` + ``gt/gt.txt``) or a gt file.

    A gt file takes its ``seqinfo.ini`` from ``--seqinfo`` or from ``<seq>/`` when it lies
    at ``<seq>/gt/gt.txt``; without one, ``--frame-rate`` is needed and the length is the
    last annotated frame.
    """
    if path.is_dir():
        gt_file, seq_dir = path / "gt" / "gt.txt", path
    elif path.is_file():
        gt_file = path
        seq_dir = path.parent.parent if path.parent.name == "gt" else None
    else:
        raise FileNotFoundError(f"{path}: not a MOT sequence directory or gt file")
    if not gt_file.is_file():
        raise FileNotFoundError(f"{path} has no gt/gt.txt")
    if seqinfo is not None:
        seq_dir = seqinfo.parent if seqinfo.name == "seqinfo.ini" else seqinfo
    gt_all = load_mot_gt(gt_file)
    gt = gt_all.pedestrians()
    if seq_dir is not None and (seq_dir / "seqinfo.ini").is_file():
        info = read_seqinfo(seq_dir)
        rate = frame_rate if frame_rate is not None else info.frame_rate
        return GTSequence(info.name, rate, info.length, gt, gt_all)
    if frame_rate is None:
        raise ValueError(f"{path}: no seqinfo.ini found; pass --seqinfo or --frame-rate")
    length = int(gt.frame.max()) if len(gt) else 1
    name = seq_dir.resolve().name if seq_dir is not None else gt_file.stem
    return GTSequence(name, frame_rate, length, gt, gt_all)


def _parse_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` tracker options (values parsed as JSON, else kept as strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. refind_window=15")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track-gt",
        help="tracker-only evaluation: gt boxes as detections, refinding on vs off",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sequences",
        nargs="+",
        type=Path,
        metavar="SEQ",
        help="MOT sequence directory (seqinfo.ini, gt/gt.txt) or a gt.txt",
    )
    parser.add_argument(
        "--seqinfo",
        type=Path,
        default=None,
        help="seqinfo.ini (or its directory) for a loose gt file",
    )
    parser.add_argument(
        "--frame-rate", type=float, default=None, help="frame rate (default: seqinfo.ini's)"
    )
    parser.add_argument(
        "--frames",
        default="all",
        help="all, first-half, second-half (the paper's validation half) or "
        "A:B, 1-based inclusive (default all)",
    )
    parser.add_argument(
        "--refind",
        choices=sorted(MODES),
        default="both",
        help="run the tracker with refinding on, off or both (default both)",
    )
    parser.add_argument(
        "--min-visibility",
        type=float,
        default=0.3,
        help="drop gt boxes less visible than this (default 0.3)",
    )
    parser.add_argument(
        "--visibility",
        choices=("auto", "gt", "overlap", "none"),
        default="auto",
        help="visibility source: the gt column (MOT17), the overlap estimate "
        "(nearer = lower bottom edge), none; auto = gt column if present, "
        "else overlap (default)",
    )
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        help="also drop each remaining box with this probability (default 0)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of drops and jitter")
    parser.add_argument(
        "--occlusion-centers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give the tracker Eq. (9) occlusion centres of the full gt (default on)",
    )
    parser.add_argument(
        "--occlusion-tau",
        type=float,
        default=0.7,
        help="tau of Eq. (9) for the occlusion centres (default 0.7)",
    )
    parser.add_argument(
        "--occlusion-jitter",
        type=float,
        default=0.0,
        metavar="PX",
        help="std of Gaussian noise added to the centres, pixels (default 0)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="TrackerConfig field, e.g. --set refind_window=15 (repeatable)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write results to DIR/refind-on/<seq>.txt, DIR/refind-off/...",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from utrack_ros.eval import evaluate_many, format_table

    if not 0.0 <= args.drop_rate < 1.0:
        raise ValueError(f"--drop-rate {args.drop_rate}: expected a value in [0, 1)")
    if not 0.0 <= args.min_visibility <= 1.0:
        raise ValueError(f"--min-visibility {args.min_visibility}: expected a value in [0, 1]")
    if args.occlusion_jitter < 0:
        raise ValueError(f"--occlusion-jitter {args.occlusion_jitter}: expected >= 0")
    if args.frame_rate is not None and not args.frame_rate > 0:
        raise ValueError(f"--frame-rate {args.frame_rate}: expected a positive number")
    settings = GTDetectionSettings(
        min_visibility=args.min_visibility,
        visibility=args.visibility,
        drop_rate=args.drop_rate,
        seed=args.seed,
        occlusion_centers=args.occlusion_centers,
        occlusion_tau=args.occlusion_tau,
        occlusion_jitter=args.occlusion_jitter,
    )
    overrides = _parse_overrides(args.overrides)
    overrides.pop("refind", None)
    if args.seqinfo is not None and len(args.sequences) > 1:
        raise ValueError("--seqinfo applies to a single gt file; give sequence directories")
    sequences = [load_sequence(p, args.seqinfo, args.frame_rate) for p in args.sequences]
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise ValueError(f"sequence names repeat: {names}")

    table: dict[str, dict[str, float]] = {}
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES[args.refind]:
        config = TrackerConfig.from_dict({**overrides, "refind": mode == "refind-on"})
        to_score = {}
        for seq in sequences:
            frames = parse_frame_range(args.frames, seq.length)
            result = track_gt_sequence(
                seq,
                frames,
                settings,
                config,
                progress=not args.no_progress and len(frames) > 200,
                desc=f"{seq.name} {mode}",
            )
            LOGGER.info(
                "%s %s: %d detections, %d output boxes, %d refound (%d on a gt box)",
                seq.name,
                mode,
                result.num_detections,
                len(result.rows),
                result.num_refound,
                result.num_refound_hits,
            )
            summary.setdefault(seq.name, {})[mode] = {
                "detections": result.num_detections,
                "refound": result.num_refound,
                "refound_on_gt": result.num_refound_hits,
            }
            if args.output is not None:
                write_mot_results(args.output / mode / f"{seq.name}.txt", result.rows)
            to_score[seq.name] = (seq.gt_all, result.rows, frames)
        scored = evaluate_many(to_score)
        for name, metrics in scored.items():
            if name == "OVERALL" and len(sequences) == 1:
                continue
            table[f"{name} {mode}"] = metrics
            summary.setdefault(name, {}).setdefault(mode, {}).update(metrics)

    print(format_table(table))
    if args.refind == "both":
        print("\nrefinding on - off (MOTA and IDF1 in points; counts):")
        for name in [*names, *(["OVERALL"] if len(sequences) > 1 else [])]:
            on, off = summary[name]["refind-on"], summary[name]["refind-off"]
            extra = ""
            if "refound" in on:
                extra = f"  refound boxes {on['refound']} ({on['refound_on_gt']} on a gt box)"
            print(
                f"  {name}: MOTA {on['MOTA'] - off['MOTA']:+.2f}  IDF1 "
                f"{on['IDF1'] - off['IDF1']:+.2f}  FN {on['FN'] - off['FN']:+.0f}  FP "
                f"{on['FP'] - off['FP']:+.0f}  IDS {on['IDS'] - off['IDS']:+.0f}{extra}"
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    return 0
