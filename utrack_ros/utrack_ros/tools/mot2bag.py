"""``utrack mot2bag SEQ_DIR OUTPUT_BAG``: a MOTChallenge sequence as a rosbag2 bag.

Images go to one topic at the sequence's frame rate (frame i stamped at a fixed epoch +
(i - 1) / fps), the ground truth to another as utrack_msgs/TrackedObjectArray
(track_id = gt id), so that ``ros2 bag play`` feeds the tracker node and ``utrack
bag-eval`` can score what it published. Needs no ROS installation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from utrack_ros.data.mot import MOTSequence, parse_frame_range
from utrack_ros.resources import sample_sequence_path
from utrack_ros.ros.bag import DEFAULT_GT_TOPIC, DEFAULT_IMAGE_TOPIC, STORAGES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mot2bag",
        help="write a MOT sequence (images + ground truth) to a rosbag2 bag",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("sequence",
                        help="MOT sequence directory (seqinfo.ini, img1/ or video, gt/gt.txt) "
                        "or 'sample' for the shipped PETS09-S2L1")
    parser.add_argument("output", type=Path, help="output bag directory (must not exist)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="sqlite3",
                        help="rosbag2 storage plugin")
    parser.add_argument("--compressed", action="store_true",
                        help="jpeg sensor_msgs/CompressedImage on <topic>/compressed instead "
                        "of raw bgr8 Image")
    parser.add_argument("--jpeg-quality", type=int, default=95,
                        help="jpeg quality with --compressed (1-100)")
    parser.add_argument("--frames", default="all",
                        help="all, first-half, second-half or A:B (1-based, inclusive)")
    parser.add_argument("--topic", default=DEFAULT_IMAGE_TOPIC, help="image topic")
    parser.add_argument("--gt-topic", default=DEFAULT_GT_TOPIC,
                        help="ground-truth topic (utrack_msgs/TrackedObjectArray)")
    parser.add_argument("--no-gt", action="store_true", help="do not write the ground truth")
    parser.add_argument("--frame-id", default="camera", help="header frame_id of every message")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT_BAG if it is an existing bag")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from utrack_ros.ros.bag import write_sequence_bag

    if not 1 <= args.jpeg_quality <= 100:
        raise ValueError(f"--jpeg-quality must be in 1..100, got {args.jpeg_quality}")
    seq_dir = sample_sequence_path() if args.sequence == "sample" else Path(args.sequence)
    sequence = MOTSequence(seq_dir)
    try:
        frames = parse_frame_range(args.frames, sequence.length)
        summary = write_sequence_bag(
            sequence, args.output, frames=frames, storage=args.storage,
            compressed=args.compressed, image_topic=args.topic,
            gt_topic=None if args.no_gt else args.gt_topic, frame_id=args.frame_id,
            jpeg_quality=args.jpeg_quality, overwrite=args.overwrite,
        )
    finally:
        sequence.close()
    topics = ", ".join(f"{t} ({n})" for t, n in summary["counts"].items())
    print(f"{sequence.name}: frames {frames.start}..{frames.stop - 1} at "
          f"{summary['frame_rate']:g} Hz -> {args.output} [{args.storage}]: {topics}")
    if not args.no_gt and summary["gt_topic"] is None:
        print(f"note: {seq_dir} has no gt/gt.txt; no ground-truth topic written")
    return 0
