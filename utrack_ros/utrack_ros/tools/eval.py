"""``utrack eval``: score MOTChallenge results files against ground truth.

One or more sequences (``--gt``, a sequence directory or a gt.txt each) are scored against
their results (``--results``: one file per sequence, in the same order, or one directory
holding ``<sequence name>.txt`` for every sequence, the MOTChallenge layout). Prints one
table with a combined OVERALL row (counts summed over sequences, TrackEval's combination).
Ratios are percentages; MOTP is the mean IoU of matches (higher is better).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from utrack_ros.data.mot import load_mot_gt, parse_frame_range, read_seqinfo

LOGGER = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score MOTChallenge results (MOTA, IDF1, HOTA, ...) against ground truth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gt", required=True, nargs="+", action="extend", type=Path,
                        metavar="SEQ_DIR_OR_GT",
                        help="MOTChallenge sequence directory (with gt/gt.txt, seqinfo.ini) "
                        "or gt.txt; repeatable")
    parser.add_argument("--results", required=True, nargs="+", action="extend", type=Path,
                        metavar="RES_FILE_OR_DIR",
                        help="results file per --gt (same order), or one directory with "
                        "<sequence name>.txt files; repeatable")
    parser.add_argument("--frames", default="all",
                        help="frames scored in every sequence: all, first-half, second-half "
                        "(the paper's validation half) or A:B (1-based, inclusive); "
                        "default: all")
    parser.add_argument("--iou", type=float, default=0.5,
                        help="IoU threshold of a match for CLEAR MOT and IDF1 (default 0.5)")
    parser.add_argument("--no-distractors", action="store_true",
                        help="do not remove tracker boxes on distractor classes 2, 7, 8, 12 "
                        "(they then count as false positives)")
    parser.add_argument("--ignore-unconsidered", action="store_true",
                        help="also remove tracker boxes on gt rows with consider flag 0 "
                        "(ignore regions; not MOTChallenge/TrackEval behaviour)")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write {sequence: metrics, OVERALL: metrics} here")
    parser.set_defaults(func=run)


def _sequence_dir(path: Path) -> Path | None:
    """The MOTChallenge sequence directory of a ``--gt`` (None for a loose gt file)."""
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "gt" else None


def sequence_name_and_length(gt: Path) -> tuple[str, int | None]:
    """Name (seqinfo.ini ``name``, else the directory or file name) and length of a ``--gt``.

    Raises:
        FileNotFoundError: ``gt`` is neither a gt file nor a directory holding gt/gt.txt.
    """
    if gt.is_dir() and not (gt / "gt" / "gt.txt").is_file():
        raise FileNotFoundError(f"{gt} is a directory without gt/gt.txt: expected a "
                                "MOTChallenge sequence directory or a gt.txt file")
    if not gt.exists():
        raise FileNotFoundError(f"ground truth {gt} not found (expected a MOTChallenge "
                                "sequence directory or a gt.txt file)")
    seq_dir = _sequence_dir(gt)
    if seq_dir is None:
        return gt.stem, None
    if (seq_dir / "seqinfo.ini").is_file():
        info = read_seqinfo(seq_dir)
        return info.name, info.length
    return seq_dir.resolve().name, None


def frames_for(spec: str, length: int | None, gt: Path, name: str) -> range | None:
    """The frames ``--frames spec`` means for one sequence (None: the whole sequence).

    Without a seqinfo.ini the half splits are refused (they must match the training split,
    defined by the sequence length) and ``A:B`` is checked against the last gt frame.
    """
    key = spec.strip().lower()
    if key == "all":
        return None
    if length is None:
        if key in ("first-half", "second-half"):
            raise ValueError(
                f"{name}: --frames {spec} needs the sequence length from seqinfo.ini; pass "
                "the sequence directory (or <seq>/gt/gt.txt next to <seq>/seqinfo.ini)"
            )
        gt_frames = load_mot_gt(gt).frame
        length = int(gt_frames.max()) if len(gt_frames) else 1
    return parse_frame_range(spec, length)


def resolve_pairs(gts: list[Path], results: list[Path]) -> list[tuple[str, Path, Path]]:
    """``(sequence name, gt path, results file)`` for every ``--gt``.

    Raises:
        FileNotFoundError: a gt or results path does not exist.
        ValueError: the number of results does not fit the number of sequences, or two
            sequences share a name.
    """
    names = [sequence_name_and_length(gt)[0] for gt in gts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"several --gt have the sequence name(s) {duplicates}; "
                         "each sequence must be given once")
    if len(results) == 1 and results[0].is_dir():
        results = results * len(gts)
    elif len(results) != len(gts):
        raise ValueError(
            f"{len(gts)} --gt but {len(results)} --results: give one results file per "
            "sequence (same order) or a single directory with <sequence name>.txt files"
        )
    pairs = []
    for name, gt, res in zip(names, gts, results, strict=True):
        if res.is_dir():
            res_file = res / f"{name}.txt"
            if not res_file.is_file():
                raise FileNotFoundError(
                    f"results directory {res} has no {name}.txt for sequence {name}"
                )
        elif res.is_file():
            res_file = res
        else:
            raise FileNotFoundError(f"results {res} for sequence {name} not found")
        pairs.append((name, gt, res_file))
    return pairs


def run(args: argparse.Namespace) -> int:
    from utrack_ros.eval import evaluate_many, format_table

    sequences = {}
    for name, gt_path, res_file in resolve_pairs(list(args.gt), list(args.results)):
        _, length = sequence_name_and_length(gt_path)
        frames = frames_for(args.frames, length, gt_path, name)
        LOGGER.debug("%s: gt %s, results %s, frames %s", name, gt_path, res_file,
                     "all" if frames is None else f"{frames.start}..{frames.stop - 1}")
        sequences[name] = (gt_path, res_file, frames)
    table = evaluate_many(sequences, iou_threshold=args.iou,
                          distractor_handling=not args.no_distractors,
                          ignore_unconsidered=args.ignore_unconsidered)
    print(format_table(table))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(table, indent=2))
        LOGGER.info("metrics written to %s", args.json)
    return 0
