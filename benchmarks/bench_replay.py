"""End-to-end rosbag replay (``utrack bag-eval``) vs offline tracking (``utrack track``).

The shipped PETS09-S2L1 sample (768x576, 7 Hz) is written with ``utrack mot2bag``'s code
(:func:`utrack_ros.ros.bag.write_sequence_bag`) to two bags, raw ``sensor_msgs/Image`` and
jpeg ``CompressedImage``, then replayed through bag-eval's code path:
:func:`utrack_ros.ros.bag.track_bag` with the pipeline bag-eval builds from the node's
default parameters (:func:`utrack_ros.tools.bag_eval.node_pipeline`), writing the node's
topics (tracks, occlusions) to an output bag. The peer, measured in the same run with the
same pipeline object: ``utrack track``'s :func:`utrack_ros.tools.track.track_source` over
the same frames, decoded from the sample's video.

Reported per run: frames/s and ms/frame in the model (the pipeline's ``model_time_s``:
forward pass + head decoding) and outside it: bag read, message -> BGR decode,
pre/post-processing + tracker (the rest of ``pipeline.step``), output messages and bag
write; offline: video decode + pre/post-processing + tracker. Each mode runs
``--repeats`` times, interleaved, after one untimed warm-up run; the fastest run of each
is reported (robust to other load on a shared CPU). Ratios: replay frames/s over offline
frames/s. Uses the shipped default weights when present, else a random-init model of the
same configuration (noted: it detects less, so the tracker costs less).

    python benchmarks/bench_replay.py
    python benchmarks/bench_replay.py --frames 20 --repeats 1     # quicker

Never run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from _common import cpu_name


def _dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def resolve_weights(weights: str | None, workdir: Path) -> tuple[Path, str]:
    """The checkpoint to benchmark and a note on what it is."""
    import torch

    from utrack_ros.model import ModelConfig, build_model
    from utrack_ros.resources import DEFAULT_WEIGHTS

    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"--weights {path} not found")
        return path, f"weights {path}"
    if DEFAULT_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS, f"the shipped default model ({DEFAULT_WEIGHTS.name})"
    torch.manual_seed(0)
    config = ModelConfig()  # the shipped model's configuration: mobilenetv2, 384x512, 64
    path = workdir / "random_init.pt"
    torch.save({"model": build_model(config).state_dict(), "model_config": config.to_dict()},
               path)
    return path, (f"NOTE: {DEFAULT_WEIGHTS} is missing: a random-init model of the same "
                  "configuration (mobilenetv2 384x512, head_conv 64); it detects little, so "
                  "the tracker and message costs are lower than with trained weights")


def replay(pipeline: Any, bag: Path, output: Path) -> dict[str, Any]:
    """bag-eval's tracking run over ``bag`` (node topics written to ``output``)."""
    from utrack_ros.ros.bag import track_bag

    run = track_bag(pipeline, bag, output=output, overwrite=True, progress=False)
    stats = dict(run.stats)
    n = stats["frames"]
    ms = {k: 1e3 * stats[f"{k}_seconds"] / n
          for k in ("read", "convert", "pipeline", "model", "output", "write")}
    ms["total"] = 1e3 * stats["seconds"] / n
    ms["prepost_tracker"] = ms["pipeline"] - ms["model"]
    ms["outside"] = ms["total"] - ms["model"]
    # The replay loop's own bookkeeping (frame mapping, rows, progress): the rest.
    ms["other"] = ms["outside"] - sum(ms[k] for k in ("read", "convert", "output", "write")) \
        - ms["prepost_tracker"]
    rows = run.rows[np.lexsort((run.rows[:, 1], run.rows[:, 0]))]
    return {"fps": stats["fps"], "ms": ms, "rows": rows}


def offline(pipeline: Any, frames: range) -> dict[str, Any]:
    """``utrack track``'s run over the same frames of the sample's video."""
    from utrack_ros.data.sources import open_source
    from utrack_ros.tools.track import track_source

    rows, stats = track_source(pipeline, open_source("sample"), frames, progress=False)
    n = stats["frames"]
    ms = {"total": 1e3 * stats["seconds"] / n, "model": 1e3 * stats["model_seconds"] / n}
    ms["outside"] = ms["total"] - ms["model"]
    rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    return {"fps": stats["fps"], "ms": ms, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60,
                        help="frames 1..N of the sample (default 60)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per mode")
    parser.add_argument("--weights", default=None,
                        help="checkpoint (default: the shipped model, else random init)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch CPU threads (default: all cores, as deployed)")
    parser.add_argument("--storage", choices=["sqlite3", "mcap"], default="sqlite3")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    if args.frames < 2 or args.repeats < 1:
        parser.error("--frames must be >= 2 and --repeats >= 1")

    import torch

    from utrack_ros.data.mot import MOTSequence
    from utrack_ros.resources import sample_sequence_path
    from utrack_ros.ros.bag import write_sequence_bag
    from utrack_ros.tools.bag_eval import node_pipeline

    torch.set_num_threads(args.threads)
    print("reproduce: " + shlex.join(["python", os.path.relpath(__file__),
                                      *(sys.argv[1:] if argv is None else argv)]))
    with tempfile.TemporaryDirectory(prefix="bench_replay_") as tmp:
        workdir = Path(tmp)
        weights, note = resolve_weights(args.weights, workdir)
        sequence = MOTSequence(sample_sequence_path())
        frames = range(1, min(args.frames, sequence.length) + 1)
        bags: dict[str, Path] = {}
        try:
            for mode in ("raw", "compressed"):
                bags[mode] = workdir / f"pets_{mode}"
                write_sequence_bag(sequence, bags[mode], frames=frames, storage=args.storage,
                                   compressed=mode == "compressed", progress=False)
        finally:
            sequence.close()
        pipeline = node_pipeline(argparse.Namespace(params_file=None, device=args.device,
                                                    weights=str(weights)))
        print(f"torch {torch.__version__}, {args.threads} CPU thread(s), {cpu_name()}, "
              f"{os.cpu_count()} cores, device {pipeline.device}; PETS09-S2L1 frames "
              f"{frames.start}..{frames.stop - 1} (768x576), model input "
              f"{pipeline.config.input_size[0]}x{pipeline.config.input_size[1]}; "
              f"bag-eval's node pipeline ({args.storage} bags, output bag written); best of "
              f"{args.repeats} runs after 1 warm-up\n{note}")
        sizes = {mode: _dir_mib(path) for mode, path in bags.items()}

        def run_mode(mode: str, r: int) -> dict[str, Any]:
            if mode == "offline":
                return offline(pipeline, frames)
            return replay(pipeline, bags[mode], workdir / f"out_{mode}_{r}")

        modes = ("raw", "compressed", "offline")
        for mode in modes:  # warm-up: caches, allocator, lazy imports
            run_mode(mode, -1)
        best: dict[str, dict[str, Any]] = {}
        for r in range(args.repeats):
            for mode in modes:
                res = run_mode(mode, r)
                if mode not in best or res["fps"] > best[mode]["fps"]:
                    best[mode] = res

    print(f"\n{'run':24s} {'frames/s':>8s} {'ms/frame':>8s} {'model':>13s} {'outside':>13s}"
          "   outside = bag read + decode + pre/post & tracker + messages + bag write "
          "+ loop (ms)")
    for mode in modes:
        res = best[mode]
        ms = res["ms"]
        name = {"raw": "bag-eval raw Image", "compressed": "bag-eval jpeg Compressed",
                "offline": "track (video)"}[mode]
        line = (f"{name:24s} {res['fps']:8.2f} {ms['total']:8.1f} "
                f"{ms['model']:6.1f} ({ms['model'] / ms['total']:4.0%}) "
                f"{ms['outside']:6.1f} ({ms['outside'] / ms['total']:4.0%})")
        if mode == "offline":
            line += "   video decode + pre/post & tracker"
        else:
            line += (f"   {ms['read']:.1f} + {ms['convert']:.1f} + "
                     f"{ms['prepost_tracker']:.1f} + {ms['output']:.1f} + {ms['write']:.1f} + "
                     f"{ms['other']:.1f}"
                     f"   (bag {sizes[mode]:.0f} MiB)")
        print(line)
    print("\nratios (same run, same pipeline object):")
    base = best["offline"]
    for mode in ("raw", "compressed"):
        res = best[mode]
        same = (res["rows"].shape == base["rows"].shape
                and np.allclose(res["rows"], base["rows"], atol=0.01))
        print(f"  replay {mode:10s} / offline: frames/s x{res['fps'] / base['fps']:.2f}, "
              f"time outside the model x{res['ms']['outside'] / base['ms']['outside']:.2f} "
              f"({res['ms']['outside'] - base['ms']['outside']:+.1f} ms/frame); same tracks "
              f"as offline: {'yes' if same else 'no'} ({len(res['rows'])} vs {len(base['rows'])} "
              f"boxes{'; jpeg changes the pixels' if mode == 'compressed' else ''})")
    if args.json:
        out = {mode: {"fps": r["fps"], "ms": r["ms"]} for mode, r in best.items()}
        out["bag_mib"] = sizes
        out["note"] = note
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
