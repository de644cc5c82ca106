"""Per-frame update time of OUTracker vs boxmot's ByteTrack and OC-SORT.

All trackers get the same synthetic detections: N people (10, 50, 100 by default) walking
with constant velocity plus noise in a 1920x1080 frame, detected with box noise, 5 % of
them missed per frame, a few false positives, scores in [0.5, 1]. OUTracker runs twice:
motion-only (``embeddings=None``, the ByteTrack/OC-SORT setting) and "full" (128-d
embeddings per person plus the Eq. (9) occlusion centres of the true boxes, i.e. FairMOT
association + Algorithm 1 refinding). Inputs (and occlusion centres) are built before
timing; only ``update`` is timed (``time.perf_counter`` around each call, after a warm-up
run). Numbers are milliseconds per frame: mean, median and 95th percentile, and the ratio
of each tracker's mean to the motion-only OUTracker's.

boxmot brings ``lapx``, which installs the same ``lap`` module as ``lap`` (the main
environment's), so it lives in its own virtual environment (``.venv-*`` is gitignored):

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install boxmot 'torch==2.13.0'   # the pin avoids a CUDA torch
    .venv-bench/bin/pip install --no-deps -e utrack_ros  # --no-deps: keep lapx's lap
    .venv-bench/bin/python benchmarks/bench_tracker.py

Without boxmot (e.g. in the main environment) only OUTracker is timed. BLAS and torch are
limited to one thread so that runs on a shared CPU are comparable. Never run by CI.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

from utrack_ros.targets import occlusion_centers  # noqa: E402
from utrack_ros.tracking import OUTracker, TrackerConfig  # noqa: E402

WIDTH, HEIGHT = 1920, 1080


@dataclass
class Frame:
    boxes: np.ndarray  # [n, 4] xyxy
    scores: np.ndarray  # [n]
    embeddings: np.ndarray  # [n, D]
    centers: np.ndarray  # [k, 2]


def synthetic_sequence(num_people: int, num_frames: int, seed: int, dim: int = 128):
    """Detections of ``num_people`` walkers over ``num_frames`` frames (deterministic)."""
    rng = np.random.default_rng(seed)
    h = rng.uniform(80, 300, num_people)
    w = 0.4 * h
    pos = np.c_[rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)]
    vel = np.c_[rng.normal(0, 4, num_people), rng.normal(0, 1, num_people)]
    identity = rng.normal(size=(num_people, dim))
    frames = []
    for _ in range(num_frames):
        pos += vel
        for axis, size, limit in ((0, w, WIDTH), (1, h, HEIGHT)):
            out = (pos[:, axis] < 0) | (pos[:, axis] + size > limit)
            vel[out, axis] *= -1
            pos[:, axis] = np.clip(pos[:, axis], 0, limit - size)
        true = np.c_[pos, pos + np.c_[w, h]]
        seen = rng.random(num_people) >= 0.05
        noise = rng.normal(0, 1, (num_people, 4)) * (0.02 * h)[:, None]
        boxes = (true + noise)[seen]
        feats = (identity + 0.3 * rng.normal(size=identity.shape))[seen]
        n_fp = rng.poisson(0.02 * num_people)
        if n_fp:
            fp_h = rng.uniform(80, 300, n_fp)
            fp_xy = np.c_[rng.uniform(0, WIDTH - 0.4 * fp_h), rng.uniform(0, HEIGHT - fp_h)]
            boxes = np.r_[boxes, np.c_[fp_xy, fp_xy + np.c_[0.4 * fp_h, fp_h]]]
            feats = np.r_[feats, rng.normal(size=(n_fp, dim))]
        scores = rng.uniform(0.5, 1.0, len(boxes))
        centers, _ = occlusion_centers(true)
        frames.append(Frame(boxes, scores, feats.astype(np.float32), centers))
    return frames


def time_updates(update: Callable[[Frame], object], frames: list[Frame]) -> np.ndarray:
    times = np.empty(len(frames))
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        update(frame)
        times[i] = time.perf_counter() - start
    return times * 1e3


def trackers(frame_rate: int) -> dict[str, Callable[[], Callable[[Frame], object]]]:
    """name -> factory of a fresh per-frame update function."""

    def ours(full: bool):
        def make():
            tracker = OUTracker(TrackerConfig(), frame_rate=frame_rate)
            if full:
                return lambda f: tracker.update(f.boxes, f.scores, f.embeddings, f.centers)
            return lambda f: tracker.update(f.boxes, f.scores)

        return make

    out = {"OUTracker (motion-only)": ours(False), "OUTracker (emb + refind)": ours(True)}
    try:
        import torch
        from boxmot import ByteTrack, OcSort

        torch.set_num_threads(1)
        logging.getLogger("boxmot").setLevel(logging.ERROR)  # configured on import
    except ImportError:
        logging.warning("boxmot not importable: timing OUTracker only (see the docstring)")
        return out

    def boxmot(cls, **kwargs):
        def make():
            tracker = cls(**kwargs)

            def update(f: Frame):
                dets = np.c_[f.boxes, f.scores, np.zeros(len(f.boxes))]
                return tracker.update(dets, None)

            return update

        return make

    out["boxmot ByteTrack"] = boxmot(ByteTrack, frame_rate=frame_rate, track_buffer=30)
    out["boxmot OC-SORT"] = boxmot(OcSort)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30, help="untimed frames first")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    factories = trackers(frame_rate=30)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.frames} frames per run, times in ms per update()"
    )
    header = f"{'people':>6}  {'tracker':<26}{'mean':>8}{'median':>8}{'p95':>8}  ratio"
    print(header)
    for n in args.people:
        frames = synthetic_sequence(n, args.frames, args.seed)
        warm = synthetic_sequence(n, args.warmup, args.seed + 1)
        results = {}
        for name, make in factories.items():
            update = make()
            for f in warm:
                update(f)
            update = make()
            results[name] = time_updates(update, frames)
        base = results["OUTracker (motion-only)"].mean()
        for name, t in results.items():
            print(
                f"{n:>6}  {name:<26}{t.mean():8.3f}{np.median(t):8.3f}"
                f"{np.percentile(t, 95):8.3f}  {t.mean() / base:5.2f}x"
            )
    cmd = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"\nreproduce: {cmd}\n(ratio = mean / mean of OUTracker motion-only; lower is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
