"""``utrack reid-eval SEQ [SEQ ...]``: Re-ID quality of a model, paper Table 7 protocol.

For every frame (``--frames``, every ``--every``-th) the model runs once on the frame,
preprocessed as the tracking pipeline does (letterbox to the model input, ImageNet
normalisation), and its Re-ID map (the ``id`` head) is read at the centre of every
ground-truth pedestrian box (considered pedestrians: what MOTChallenge scores) and
L2-normalised (:func:`utrack_ros.eval.reid.embeddings_at_boxes`). Boxes entirely outside
the frame are skipped. :func:`utrack_ros.eval.reid_metrics` then splits every track in
time (first half queries, second half gallery), ranks each query against the whole
gallery by cosine distance and reports rank-1 accuracy (R1) and mAP, in percent.

Per sequence the gallery holds only that sequence's tracks; OVERALL pools every sequence
(ids kept apart), so each query is ranked against the galleries of all sequences.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from utrack_ros.data.mot import MOTSequence, load_mot_gt, parse_frame_range, read_seqinfo
from utrack_ros.resources import sample_sequence_path

if TYPE_CHECKING:
    import torch

LOGGER = logging.getLogger(__name__)

#: State-dict prefix of the Re-ID head's parameters in a JointDetector checkpoint.
ID_HEAD_PREFIX = "heads.heads.id."
OVERALL = "OVERALL"


@dataclass
class SequenceEmbeddings:
    """Embeddings of one sequence's ground-truth boxes (rows aligned)."""

    name: str
    embeddings: np.ndarray  # float32 [N, D], unit norm
    track_ids: np.ndarray  # int64 [N]
    frames: np.ndarray  # int64 [N]
    num_frames: int  # frames the model ran on (those with a visible gt box)
    skipped_boxes: int  # boxes with no visible area in the frame


def load_reid_model(
    weights: str | Path | None,
    device: str | torch.device = "cpu",
    input_size: tuple[int, int] | None = None,
) -> tuple[torch.nn.Module, tuple[int, int]]:
    """The checkpoint's model (eval mode, on ``device``) and the input size to run it at.

    ``weights=None`` is the shipped default model. The input size is the one the pipeline
    would use: ``input_size`` if given, else the checkpoint's ``pipeline_config``, else its
    ``model_config``.

    Raises:
        FileNotFoundError: the checkpoint (or the shipped default) does not exist.
        ValueError: not a utrack_ros checkpoint, no Re-ID (``id``) head, weights that do
            not match the config, or a bad input size.
    """
    from utrack_ros.model import load_checkpoint, model_from_checkpoint
    from utrack_ros.pipeline import resolve_device
    from utrack_ros.resources import default_weights_path

    path = Path(weights) if weights is not None else default_weights_path()
    checkpoint = load_checkpoint(path)
    state_keys = [str(k).removeprefix("module.") for k in checkpoint["model"]]
    if not any(k.startswith(ID_HEAD_PREFIX) for k in state_keys):
        heads = sorted({k.split(".")[2] for k in state_keys if k.startswith("heads.heads.")})
        raise ValueError(
            f"{path}: the model has no Re-ID head ('id'; its heads: {heads or 'none'}), so "
            "it gives no embeddings to evaluate; reid-eval needs a joint detector checkpoint "
            "with an id head"
        )
    training = checkpoint.get("config") or checkpoint.get("training_config") or {}
    loss = training.get("loss") if isinstance(training, Mapping) else None
    if isinstance(loss, Mapping) and loss.get("reid") == "none":
        LOGGER.warning("%s was trained with loss.reid = none: its id head never learnt; "
                       "expect chance-level R1 / mAP", path)
    model = model_from_checkpoint(checkpoint)
    size = input_size
    if size is None:
        pipeline_config = checkpoint.get("pipeline_config") or {}
        size = pipeline_config.get("input_size") or model.config.input_size
    size = (int(size[0]), int(size[1]))
    if size[0] <= 0 or size[1] <= 0 or size[0] % 32 or size[1] % 32:
        raise ValueError(f"input size must be two positive multiples of 32 (H W), got {size}")
    return model.to(resolve_device(device)).eval(), size


def collect_embeddings(
    model: torch.nn.Module,
    sequence: MOTSequence,
    frames: range,
    input_size: tuple[int, int],
    *,
    every: int = 1,
    min_visibility: float = 0.0,
    progress: bool = True,
) -> SequenceEmbeddings:
    """Run ``model`` on every ``every``-th frame of ``frames`` with ground truth and read
    its embedding at each considered pedestrian box (see the module docstring).

    ``min_visibility`` > 0 drops boxes whose gt visibility column is below it (MOT16/17/20;
    a gt without that column, as MOT15's, keeps every box, with a warning).

    Raises:
        FileNotFoundError: the sequence has no ``gt/gt.txt``.
        ValueError: ``every < 1`` or ``min_visibility`` outside [0, 1].
    """
    from utrack_ros.eval.reid import embeddings_at_boxes

    if every < 1:
        raise ValueError(f"--every must be >= 1, got {every}")
    if not 0.0 <= min_visibility <= 1.0:
        raise ValueError(f"--min-visibility must be in [0, 1], got {min_visibility}")
    if sequence.gt_path is None:
        raise FileNotFoundError(f"{sequence.path} has no gt/gt.txt: nothing to evaluate")
    gt = load_mot_gt(sequence.gt_path).pedestrians()
    if min_visibility > 0:
        if gt.has_visibility:
            gt = gt.select(gt.visibility >= min_visibility)
        else:
            LOGGER.warning("%s: the ground truth has no visibility column; "
                           "--min-visibility ignored", sequence.name)
    annotated = set(gt.frame.tolist())
    wanted = [f for f in frames[::every] if f in annotated]
    embeddings: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    frame_col: list[np.ndarray] = []
    skipped = run_on = 0
    iterator = tqdm(wanted, desc=f"reid-eval {sequence.name}", unit="frame",
                    disable=not progress)
    for frame in iterator:
        sel = gt.frame == frame
        boxes, track_ids = gt.boxes_xyxy[sel], gt.track_id[sel]
        image = sequence.frame(frame)
        fh, fw = image.shape[:2]  # the decoded frame's size, not seqinfo.ini's
        visible = ((np.minimum(boxes[:, 2], fw) > np.maximum(boxes[:, 0], 0))
                   & (np.minimum(boxes[:, 3], fh) > np.maximum(boxes[:, 1], 0)))
        skipped += int(np.count_nonzero(~visible))
        if not np.any(visible):
            continue
        embeddings.append(embeddings_at_boxes(model, image, boxes[visible], input_size))
        run_on += 1
        ids.append(track_ids[visible])
        frame_col.append(np.full(int(np.count_nonzero(visible)), frame, dtype=np.int64))
    dim = _embedding_dim(model)
    return SequenceEmbeddings(
        name=sequence.name,
        embeddings=np.concatenate(embeddings) if embeddings else np.zeros((0, dim), np.float32),
        track_ids=np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, np.int64),
        frames=np.concatenate(frame_col) if frame_col else np.zeros(0, np.int64),
        num_frames=run_on,
        skipped_boxes=skipped,
    )


def _embedding_dim(model: torch.nn.Module) -> int:
    config = getattr(model, "config", None)
    return int(getattr(config, "id_dim", 0))


def evaluate_embeddings(runs: list[SequenceEmbeddings]) -> dict[str, dict[str, float]]:
    """Table 7 metrics per sequence and, for several sequences, pooled as ``OVERALL``.

    Each entry: ``R1``, ``mAP`` (percent; NaN without queries), ``num_queries``,
    ``boxes``, ``ids``, ``frames`` (frames the model ran on), ``skipped_boxes``.
    """
    from utrack_ros.eval.reid import reid_metrics

    def entry(emb: np.ndarray, ids: np.ndarray, frames: np.ndarray, num_frames: int,
              skipped: int) -> dict[str, float]:
        metrics = reid_metrics(emb, ids, frames)
        return {**metrics, "boxes": float(len(ids)), "ids": float(len(np.unique(ids))),
                "frames": float(num_frames), "skipped_boxes": float(skipped)}

    table = {r.name: entry(r.embeddings, r.track_ids, r.frames, r.num_frames,
                           r.skipped_boxes) for r in runs}
    if len(runs) > 1:
        # Unique ids across sequences: (sequence index, track id) -> one integer.
        seq_index = np.concatenate([np.full(len(r.track_ids), i) for i, r in enumerate(runs)])
        pairs = np.stack([seq_index, np.concatenate([r.track_ids for r in runs])], axis=1)
        _, pooled_ids = np.unique(pairs, axis=0, return_inverse=True)
        table[OVERALL] = entry(
            np.concatenate([r.embeddings for r in runs]), pooled_ids.reshape(-1),
            np.concatenate([r.frames for r in runs]), sum(r.num_frames for r in runs),
            sum(r.skipped_boxes for r in runs))
    return table


def format_reid_table(table: Mapping[str, Mapping[str, float]]) -> str:
    """The metric table as aligned text (one row per sequence, OVERALL last)."""
    width = max([len("sequence"), *(len(name) for name in table)])
    lines = [f"{'sequence':<{width}}  {'frames':>6} {'boxes':>7} {'ids':>5} {'queries':>7} "
             f"{'R1':>6} {'mAP':>6}"]
    for name, m in table.items():
        lines.append(f"{name:<{width}}  {m['frames']:6.0f} {m['boxes']:7.0f} {m['ids']:5.0f} "
                     f"{m['num_queries']:7.0f} {m['R1']:6.2f} {m['mAP']:6.2f}")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reid-eval",
        help="Re-ID quality of a model at ground-truth boxes: R1 and mAP (paper Table 7)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sequences", nargs="+", metavar="SEQ",
                        help="MOT sequence directory (seqinfo.ini, img1/ or video, "
                        "gt/gt.txt) or 'sample' for the shipped PETS09-S2L1")
    parser.add_argument("--weights", default=None,
                        help="checkpoint (.pt); default: the shipped mobilenetv2 PETS09 model")
    parser.add_argument("--frames", default="all",
                        help="all, first-half, second-half (the paper's validation half) or "
                        "A:B, 1-based inclusive (default all)")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="use every N-th frame of the range (default 1: all)")
    parser.add_argument("--min-visibility", type=float, default=0.0,
                        help="skip gt boxes less visible than this (gt visibility column, "
                        "MOT16/17/20; default 0: every box)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="model input height width (multiples of 32; default: "
                        "the checkpoint's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.every < 1:
        raise ValueError(f"--every must be >= 1, got {args.every}")
    if not 0.0 <= args.min_visibility <= 1.0:
        raise ValueError(f"--min-visibility must be in [0, 1], got {args.min_visibility}")
    seq_dirs = [sample_sequence_path() if s == "sample" else Path(s) for s in args.sequences]
    for seq_dir in seq_dirs:
        if not (seq_dir / "seqinfo.ini").is_file():
            raise FileNotFoundError(f"{seq_dir}: not a MOT sequence directory (no seqinfo.ini)")
        if not (seq_dir / "gt" / "gt.txt").is_file():
            raise FileNotFoundError(f"{seq_dir} has no gt/gt.txt: nothing to evaluate")
    names = [read_seqinfo(d).name for d in seq_dirs]
    if len(set(names)) != len(names):
        raise ValueError(f"sequence names repeat: {names}")
    model, input_size = load_reid_model(
        args.weights, args.device, tuple(args.input_size) if args.input_size else None)
    runs: list[SequenceEmbeddings] = []
    for seq_dir in seq_dirs:
        sequence = MOTSequence(seq_dir)
        try:
            frames = parse_frame_range(args.frames, sequence.length)
            runs.append(collect_embeddings(model, sequence, frames, input_size,
                                           every=args.every, min_visibility=args.min_visibility,
                                           progress=not args.no_progress))
        finally:
            sequence.close()
    table = evaluate_embeddings(runs)
    weights = args.weights if args.weights is not None else "the shipped default model"
    print(f"Re-ID at ground-truth boxes (Table 7 protocol), {weights}, input "
          f"{input_size[0]}x{input_size[1]}, frames {args.frames}"
          + (f" every {args.every}" if args.every > 1 else "")
          + (f", visibility >= {args.min_visibility:g}" if args.min_visibility > 0 else "")
          + ":")
    print(format_reid_table(table))
    skipped = sum(r.skipped_boxes for r in runs)
    if skipped:
        print(f"note: {skipped} ground-truth boxes lie entirely outside their frame (skipped)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {"weights": str(weights), "input_size": list(input_size), "frames": args.frames,
             "every": args.every, "min_visibility": args.min_visibility, "metrics": table},
            indent=2))
    return 0


__all__ = [
    "ID_HEAD_PREFIX",
    "SequenceEmbeddings",
    "collect_embeddings",
    "evaluate_embeddings",
    "format_reid_table",
    "load_reid_model",
]
