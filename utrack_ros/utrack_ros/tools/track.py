"""``utrack track SOURCE``: run the detector + tracker over a video, image folder or MOT
sequence; write MOTChallenge results, optionally an annotated video, and print the metrics
when the source has ground truth."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from utrack_ros.data.mot import load_mot_det, parse_frame_range, write_mot_results
from utrack_ros.data.sources import FrameSource, open_source

LOGGER = logging.getLogger(__name__)


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Model/tracker options shared by the tools that run a :class:`TrackingPipeline`."""
    parser.add_argument("--weights", default=None,
                        help="checkpoint (.pt); default: the shipped mobilenetv2 PETS09 model")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="model input height width (multiples of 32; default: checkpoint's)")
    parser.add_argument("--det-threshold", type=float, default=None,
                        help="detection score threshold (default: checkpoint's or 0.4)")
    parser.add_argument("--no-refind", action="store_true",
                        help="turn Algorithm 1 occlusion refinding off")
    parser.add_argument("--half", action="store_true", help="fp16 inference on CUDA")


def pipeline_from_args(args: argparse.Namespace, frame_rate: float):
    """Build the pipeline the shared options describe (imported lazily: torch is heavy)."""
    from utrack_ros.pipeline import TrackingPipeline

    overrides: dict = {"frame_rate": frame_rate}
    if args.input_size is not None:
        overrides["input_size"] = tuple(args.input_size)
    if args.det_threshold is not None:
        overrides["det_threshold"] = args.det_threshold
    if args.no_refind:
        overrides["refind"] = False
    if args.half:
        overrides["half"] = True
    return TrackingPipeline.from_checkpoint(args.weights, device=args.device, **overrides)


def track_source(
    pipeline,
    source: FrameSource,
    frames: range,
    *,
    video_path: Path | None = None,
    public_detections=None,
    progress: bool = True,
) -> tuple[np.ndarray, dict]:
    """Track ``frames`` of ``source`` from a fresh tracker state.

    Returns results rows ``[N, 7]`` (frame, id, left, top, width, height, score) and timing
    stats (frames, seconds, seconds in the model). Timestamps are ``(frame - 1) / fps``.
    """
    from utrack_ros.visualize import draw_tracks

    pipeline.reset()
    rows: list[tuple[float, ...]] = []
    writer = None
    model_s = 0.0
    start = time.perf_counter()
    iterator = source.frames(frames)
    if progress:
        iterator = tqdm(iterator, total=len(frames), desc=f"track {source.name}", unit="frame")
    for index, image in iterator:
        public = public_detections.at(index)[0] if public_detections is not None else None
        result = pipeline.step(image, timestamp=(index - 1) / source.frame_rate,
                               public_detections=public)
        model_s += result.model_time_s
        for t in result.tracks:
            x1, y1, x2, y2 = (float(v) for v in t.box_xyxy)
            rows.append((index, t.track_id, x1, y1, x2 - x1, y2 - y1, float(t.score)))
        if video_path is not None:
            canvas = draw_tracks(image, result.tracks, result.occlusion_centers)
            if writer is None:
                video_path.parent.mkdir(parents=True, exist_ok=True)
                fourcc = cv2.VideoWriter_fourcc(*("mp4v" if video_path.suffix == ".mp4"
                                                  else "MJPG"))
                writer = cv2.VideoWriter(str(video_path), fourcc, source.frame_rate,
                                         (image.shape[1], image.shape[0]))
            writer.write(canvas)
    if writer is not None:
        writer.release()
    elapsed = time.perf_counter() - start
    stats = {"frames": len(frames), "seconds": elapsed, "model_seconds": model_s,
             "fps": len(frames) / elapsed if elapsed > 0 else float("nan")}
    return np.asarray(rows, dtype=np.float64).reshape(-1, 7), stats


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track",
        help="track people in a video, image folder or MOT sequence",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("source",
                        help="'sample' (the shipped PETS09-S2L1), a MOT sequence directory, "
                        "an image folder or a video file")
    parser.add_argument("--frames", default="all",
                        help="all, first-half, second-half or A:B (1-based, inclusive)")
    parser.add_argument("--output", type=Path, default=None,
                        help="results file (MOTChallenge txt); default outputs/<name>.txt")
    parser.add_argument("--video", type=Path, default=None,
                        help="also write an annotated video (.mp4 or .avi)")
    parser.add_argument("--public-det", type=Path, default=None,
                        help="det.txt: public-detection mode (births only from these boxes)")
    parser.add_argument("--no-eval", action="store_true",
                        help="do not score against the sequence's gt/gt.txt")
    parser.add_argument("--json", type=Path, default=None, help="write metrics + timing here")
    add_pipeline_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = open_source(args.source)
    frames = parse_frame_range(args.frames, source.length)
    pipeline = pipeline_from_args(args, source.frame_rate)
    public = load_mot_det(args.public_det) if args.public_det else None
    rows, stats = track_source(pipeline, source, frames, video_path=args.video,
                               public_detections=public)
    output = args.output or Path("outputs") / f"{source.name}.txt"
    write_mot_results(output, rows)
    print(f"{source.name}: {len(frames)} frames, {len(rows)} boxes, "
          f"{len(np.unique(rows[:, 1])) if len(rows) else 0} ids, {stats['fps']:.1f} frames/s "
          f"({stats['model_seconds'] / max(stats['seconds'], 1e-9):.0%} in the model) -> {output}")
    report: dict = {"timing": stats}
    gt_path = source.sequence.gt_path if source.sequence is not None else None
    if gt_path is not None and not args.no_eval:
        from utrack_ros.eval import evaluate_sequence, format_table

        metrics = evaluate_sequence(gt_path, rows, frames=frames)
        print(format_table({source.name: metrics}))
        report["metrics"] = metrics
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0
