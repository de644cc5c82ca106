"""``utrack bag-eval BAG``: track (or read tracks) in a rosbag2 bag and score them.

Default: run the tracker node's own per-frame work (same message conversion, same
pipeline, same parameters as ``config/tracker.yaml``) over the bag's image topic, frame
by frame with the header stamps as timestamps, optionally writing the node's topics to
an output bag. With ``--tracks-topic``: score tracks recorded from a running node
(``ros2 bag record``) instead. Ground truth comes from a MOT gt.txt (``--gt``), from a
topic (``--gt-topic``; ``utrack mot2bag`` writes /utrack/ground_truth) or, by default,
from that topic when the bag has it. Prints the metric table, frames/s and the share of
time spent outside the model. Reads sqlite3 and mcap bags; needs no ROS installation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from utrack_ros.data.mot import parse_frame_range, write_mot_results
from utrack_ros.ros.bag import DEFAULT_GT_TOPIC, NODE_PREFIX, STORAGES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bag-eval",
        help="run the tracker over a rosbag2 bag (or read recorded tracks) and score it",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("bag", type=Path, help="input bag (directory or .mcap/.db3 file)")
    parser.add_argument("--image-topic", default=None,
                        help="Image or CompressedImage topic (default: the bag's only one)")
    gt = parser.add_mutually_exclusive_group()
    gt.add_argument("--gt", type=Path, default=None,
                    help="ground truth: MOT gt.txt or sequence directory (frames by number)")
    gt.add_argument("--gt-topic", default=None,
                    help=f"ground truth topic (TrackedObjectArray; default {DEFAULT_GT_TOPIC} "
                    "when the bag has it)")
    parser.add_argument("--tracks-topic", default=None,
                        help="score this recorded TrackedObjectArray (or vision_msgs "
                        "Detection2DArray) topic instead of running the pipeline")
    parser.add_argument("--frames", default="all",
                        help="all, first-half, second-half or A:B (1-based, inclusive)")
    parser.add_argument("--frame-mapping", choices=("auto", "order", "stamp"), default="auto",
                        help="image message -> MOT frame: by stamp (mot2bag bags, or with "
                        "--frame-rate) or by order (1, 2, ...)")
    parser.add_argument("--frame-rate", type=float, default=None,
                        help="frame rate for --frame-mapping stamp on bags not made by mot2bag")
    parser.add_argument("--output", type=Path, default=None,
                        help="write the node's topics (tracks, occlusions, ...) to this bag")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="sqlite3",
                        help="storage plugin of --output")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument("--debug-image", action="store_true",
                        help="also write ~/debug_image (annotated frames) to --output")
    parser.add_argument("--vision-msgs", action="store_true",
                        help="also write ~/detections (vision_msgs) to --output")
    parser.add_argument("--prefix", default=NODE_PREFIX,
                        help="topic prefix of the written node topics")
    parser.add_argument("--params-file", type=Path, default=None,
                        help="the node's parameter YAML (utrack_tracker section); default: "
                        "the node's defaults (= config/tracker.yaml)")
    parser.add_argument("--weights", default=None, help="checkpoint (overrides the params)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (overrides the params; default cpu)")
    parser.add_argument("--results", type=Path, default=None,
                        help="also write the tracks as a MOTChallenge results file")
    parser.add_argument("--json", type=Path, default=None, help="write metrics + timing here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def node_pipeline(args: argparse.Namespace) -> Any:
    """The pipeline the node would build from ``--params-file`` (+ --weights/--device)."""
    from utrack_ros.ros import params

    values: dict[str, Any] = {}
    if args.params_file is not None:
        values.update(params.load_params_file(args.params_file))
    values["device"] = args.device or values.get("device", "cpu")
    if args.weights is not None:
        values["weights"] = str(args.weights)
    return params.build_pipeline(params.validate(values))


def run(args: argparse.Namespace, pipeline: Any = None) -> int:
    """The sub-command; ``pipeline`` may be given by a caller (tests) instead of built."""
    from utrack_ros.ros import bag as bags
    from utrack_ros.ros.typestore import COMPRESSED_IMAGE, IMAGE, TRACKED_OBJECT_ARRAY

    progress = not args.no_progress
    with bags.open_bag(args.bag) as reader:
        image_types = (IMAGE, COMPRESSED_IMAGE)
        has_images = bool(bags.topics_of_type(reader, image_types))
        if args.tracks_topic is None or has_images or args.image_topic:
            ref_topic = bags.choose_topic(reader, args.image_topic, image_types, "image")
        else:  # recorded tracks only: number the tracks messages themselves
            ref_topic = args.tracks_topic
        frame_map = bags.frame_map_for(reader, args.frame_mapping, args.frame_rate)
        gt_topic = args.gt_topic
        if args.gt is None and gt_topic is None and DEFAULT_GT_TOPIC in reader.topics:
            gt_topic = DEFAULT_GT_TOPIC
        if gt_topic is not None:
            bags.choose_topic(reader, gt_topic, (TRACKED_OBJECT_ARRAY,), "ground-truth")
        if args.tracks_topic is not None:
            bags.choose_topic(reader, args.tracks_topic,
                              (TRACKED_OBJECT_ARRAY, "vision_msgs/msg/Detection2DArray"),
                              "tracks")
        name = frame_map.sequence or args.bag.name
        count = reader.topics[ref_topic].msgcount
        # Frames named by --frames are checked against the bag's last frame.
        custom_last = bags.bag_custom_data(reader).get("utrack.last_frame")
        stamp_to_frame: dict[int, int] = {}
        if args.tracks_topic is not None or (frame_map.mode == "stamp" and not custom_last):
            stamp_to_frame = bags.image_frames(reader, ref_topic, frame_map)
    if count == 0:
        raise ValueError(f"{args.bag}: no message on {ref_topic}")
    if stamp_to_frame:
        last_frame = max(stamp_to_frame.values())
    elif frame_map.mode == "stamp":
        last_frame = int(custom_last)
    else:
        last_frame = frame_map.first_frame + count - 1
    frames = parse_frame_range(args.frames, last_frame) if args.frames != "all" else None

    report: dict[str, Any] = {"bag": str(args.bag), "frame_mapping": frame_map.mode}
    if args.tracks_topic is not None:
        with bags.open_bag(args.bag) as reader:
            rows, unmatched = bags.rows_from_tracks_topic(reader, args.tracks_topic,
                                                          stamp_to_frame)
        wanted = set(stamp_to_frame.values())
        if frames is not None:
            wanted &= set(frames)
            rows = rows[np.isin(rows[:, 0], list(frames))]
        covered = len(set(rows[:, 0].astype(int).tolist())) if len(rows) else 0
        print(f"{args.tracks_topic}: {len(rows)} boxes on {covered} of {len(wanted)} frames"
              + (f"; {unmatched} messages match no image stamp (skipped)" if unmatched
                 else ""))
        report["unmatched_messages"] = unmatched
    else:
        if pipeline is None:
            pipeline = node_pipeline(args)
        result = bags.track_bag(
            pipeline, args.bag, image_topic=ref_topic, frames=frames,
            frame_mapping=args.frame_mapping, frame_rate=args.frame_rate,
            output=args.output, storage=args.storage, output_prefix=args.prefix,
            debug_image=args.debug_image, vision_msgs=args.vision_msgs,
            overwrite=args.overwrite, progress=progress,
        )
        rows, stats, stamp_to_frame = result.rows, result.stats, result.stamp_to_frame
        report["timing"] = stats
        n = max(stats["frames"], 1.0)
        print(f"{name}: {int(stats['frames'])} frames of {result.image_topic} in "
              f"{stats['seconds']:.1f} s = {stats['fps']:.2f} frames/s; model "
              f"{1e3 * stats['model_seconds'] / n:.1f} ms/frame ({stats['model_share']:.0%}), "
              f"outside the model {1e3 * (stats['seconds'] - stats['model_seconds']) / n:.1f} "
              f"ms/frame ({stats['outside_model_share']:.0%}: bag read "
              f"{1e3 * stats['read_seconds'] / n:.1f}, decode "
              f"{1e3 * stats['convert_seconds'] / n:.1f}, pre/post-processing + tracker "
              f"{1e3 * (stats['pipeline_seconds'] - stats['model_seconds']) / n:.1f}, "
              f"messages {1e3 * stats['output_seconds'] / n:.1f}, bag write "
              f"{1e3 * stats['write_seconds'] / n:.1f} ms)")
        if args.output is not None:
            print(f"node topics written to {args.output} [{args.storage}]")

    if args.results is not None:
        write_mot_results(args.results, rows)
    metrics = _evaluate(args, gt_topic, stamp_to_frame, rows, frames, name)
    if metrics is not None:
        report["metrics"] = metrics
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


def _evaluate(args: argparse.Namespace, gt_topic: str | None, stamp_to_frame: dict[int, int],
              rows: np.ndarray, frames: range | None, name: str) -> dict[str, float] | None:
    from utrack_ros.eval import evaluate_sequence, format_table
    from utrack_ros.ros import bag as bags

    if args.gt is not None:
        gt: Any = args.gt
    elif gt_topic is not None:
        with bags.open_bag(args.bag) as reader:
            gt_rows, unmatched = bags.rows_from_tracks_topic(reader, gt_topic, stamp_to_frame)
        if unmatched and frames is None:
            print(f"note: {unmatched} ground-truth messages match no image stamp (skipped)")
        gt = bags.gt_from_rows(gt_rows)
    else:
        print("no ground truth (--gt or --gt-topic): metrics skipped")
        return None
    if frames is None:
        present = sorted(set(stamp_to_frame.values()))
        frames = range(present[0], present[-1] + 1)
    metrics = evaluate_sequence(gt, rows, frames=frames)
    print(format_table({name: metrics}))
    return metrics
