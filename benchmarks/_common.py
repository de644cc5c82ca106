"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def cpu_name() -> str:
    """The CPU model, for the header every benchmark prints."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_worker(script: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``script --worker SPEC_JSON`` in a fresh process (clean peak-memory figures) and
    return the JSON dict it prints last."""
    cmd = [sys.executable, script, "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed for {spec}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- trained-model tables
# Shared by ablation.py (paper Tables 1, 2, 4, 5 upper half) and table5_centertrack.py
# (Table 5 lower half): train at one budget, track the held-out half of the sample,
# write a marked section of docs/RESULTS.md.

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = ROOT / "utrack_ros" / "training" / "train.py"
CONFIGS = ROOT / "utrack_ros" / "training" / "configs"


def add_table_arguments(parser: Any, runs_default: Path) -> None:
    """The options every trained-model table script takes (``--train``, ``--set``,
    ``--runs``, ``--jobs``, ``--threads``, ``--device``, ``--output``, ``--json``)."""
    parser.add_argument("--train", action="store_true", help="train (or resume) the runs")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="training override for every run")
    parser.add_argument("--runs", type=Path, default=runs_default,
                        help=f"runs folder (default {runs_default.relative_to(ROOT)})")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings run at once (default 1; 2 on a 2-core CPU)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for each training and for inference "
                        "(default: torch's)")
    parser.add_argument("--device", default="cpu", help="inference device (default cpu)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")


def parse_table_arguments(parser: Any, argv: list[str] | None) -> Any:
    """Parse, check ``--jobs`` and apply ``--threads`` to this process's torch."""
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    return args


def train_command(config: Path, out_dir: Path, overrides: list[str]) -> list[str]:
    """The ``train.py`` command line of one run (``--resume auto``: a killed run continues,
    a finished one only rewrites its ``model.pt``)."""
    cmd = [sys.executable, str(TRAIN_SCRIPT), "--config", str(config), "--out-dir",
           str(out_dir), "--resume", "auto"]
    for override in overrides:
        cmd += ["--set", override]
    return cmd


def run_trainings(commands: dict[str, list[str]], jobs: int, threads: int | None,
                  log_dir: Path) -> None:
    """Run the training commands, ``jobs`` at a time, each logging to ``log_dir/NAME.log``
    (``threads``: OMP/MKL threads per run; on a 2-core CPU use 2 jobs x 1 thread)."""
    import os
    import shlex
    from concurrent.futures import ThreadPoolExecutor

    env = dict(os.environ)
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log_dir.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> None:
        log = log_dir / f"{name}.log"
        print(f"+ {shlex.join(commands[name])} > {log}", flush=True)
        with log.open("a") as out:
            proc = subprocess.run(commands[name], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"training {name!r} failed (exit {proc.returncode}); see {log}")
        print(f"done: {name}", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(one, name) for name in commands]:
            future.result()


def track_held_out_half(weights: Path, device: str = "cpu", **settings: Any
                        ) -> tuple[dict[str, float], dict[str, Any]]:
    """Track frames 398-795 of the shipped PETS09-S2L1 sample (the paper's half split)
    with ``TrackingPipeline.from_checkpoint(weights, **settings)``; returns the metrics of
    :func:`utrack_ros.eval.evaluate_sequence` and the checkpoint's training config."""
    import torch

    from utrack_ros.data.mot import parse_frame_range
    from utrack_ros.data.sources import open_source
    from utrack_ros.eval import evaluate_sequence
    from utrack_ros.pipeline import TrackingPipeline
    from utrack_ros.tools.track import track_source

    source = open_source("sample")
    frames = parse_frame_range("second-half", source.length)
    pipeline = TrackingPipeline.from_checkpoint(weights, device=device,
                                                frame_rate=source.frame_rate, **settings)
    rows, _ = track_source(pipeline, source, frames, progress=False)
    metrics = evaluate_sequence(source.sequence.gt_path, rows, frames=frames)
    checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
    return metrics, checkpoint.get("training_config") or {}


def budget_of(training_config: dict[str, Any]) -> str:
    """The training budget in words, to check that the rows of a table share it."""
    train = training_config.get("train", {})
    model = training_config.get("model", {})
    return (f"{model.get('backbone')} {model.get('input_size')}, {train.get('epochs')} epochs "
            f"x batch {train.get('batch_size')} (max_steps {train.get('max_steps')}), "
            f"lr {train.get('lr')} (x0.1 at epochs {train.get('lr_steps')}), "
            f"seed {train.get('seed')}")


def format_cell(key: str, value: float) -> str:
    """Percentages with one decimal, counts as integers."""
    if value != value:  # NaN
        return "-"
    if key in ("MOTA", "IDF1", "HOTA", "R1", "mAP", "Recall", "Precision"):
        return f"{value:.1f}"
    return f"{int(round(value))}"


def markdown_table(columns: tuple[str, ...], rows: list[tuple[str, dict[str, float]]],
                   first: str = "tracker") -> list[str]:
    """A markdown table: one row per (name, metrics), the given metric columns."""
    lines = [f"| {first} | " + " | ".join(columns) + " |",
             "| --- | " + " | ".join("---:" for _ in columns) + " |"]
    for name, metrics in rows:
        lines.append(f"| {name} | "
                     + " | ".join(format_cell(k, metrics.get(k, float("nan")))
                                  for k in columns) + " |")
    return lines


def write_marked_section(path: Path, begin: str, end: str, section: str) -> None:
    """Replace the text between the ``begin`` and ``end`` markers of ``path`` with
    ``section`` (which holds the markers), or append it; the rest of the file is kept."""
    text = path.read_text() if path.is_file() else "# Results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
