"""The paper's Table 5, lower half, on PETS09-S2L1: CenterTrack-style tracking without and
with the occlusion estimation module (OTrack_ct), in one command.

Both models are the CenterTrack-style variant (``model.variant: centertrack``) trained on
the first half of the shipped PETS09-S2L1 sample with the same config and budget
(``utrack_ros/training/configs/pets09_centertrack_mobilenetv2.yaml``); one without the
occlusion heads (``model.occlusion=false``: CenterTrack), one with them. Both are then run
on the second half (frames 398-795) with :class:`TrackingPipeline`:

    CenterTrack                    occlusion=false model (no occlusion centres, no refinding)
    CenterTrack + occ. head        occlusion=true model, refinding off (what the loss alone does)
    CenterTrack + OccE             occlusion=true model, Algorithm 1 refinding on (OTrack_ct)

and MOTA / IDF1 / MT / ML / FP / FN / IDS are written side by side into ``docs/RESULTS.md``
(between ``<!-- table5-centertrack -->`` markers; the rest of the file is kept).

    python scripts/table5_centertrack.py --train               # train both, then evaluate
    python scripts/table5_centertrack.py --train --set train.device=cuda --set train.epochs=30
    python scripts/table5_centertrack.py                       # evaluate existing runs

``--train`` resumes a killed run (``--resume auto``); ``--set`` overrides go to both runs,
so the budget is the same by construction.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "utrack_ros" / "training" / "configs" / "pets09_centertrack_mobilenetv2.yaml"
TRAIN = ROOT / "utrack_ros" / "training" / "train.py"
BEGIN, END = "<!-- table5-centertrack:begin -->", "<!-- table5-centertrack:end -->"
COLUMNS = ("MOTA", "IDF1", "MT", "ML", "FP", "FN", "IDS")


def train(out_dir: Path, overrides: list[str], occlusion: bool) -> None:
    cmd = [sys.executable, str(TRAIN), "--config", str(CONFIG), "--out-dir", str(out_dir),
           "--resume", "auto", "--set", f"model.occlusion={str(occlusion).lower()}"]
    for o in overrides:
        cmd += ["--set", o]
    print("+ " + shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def evaluate(weights: Path, refind: bool, device: str) -> tuple[dict[str, float], dict]:
    from utrack_ros.data.mot import parse_frame_range
    from utrack_ros.data.sources import open_source
    from utrack_ros.eval import evaluate_sequence
    from utrack_ros.pipeline import TrackingPipeline
    from utrack_ros.tools.track import track_source

    source = open_source("sample")
    frames = parse_frame_range("second-half", source.length)
    pipeline = TrackingPipeline.from_checkpoint(weights, device=device,
                                                frame_rate=source.frame_rate, refind=refind)
    rows, _ = track_source(pipeline, source, frames, progress=False)
    metrics = evaluate_sequence(source.sequence.gt_path, rows, frames=frames)
    ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    return metrics, ckpt.get("training_config") or {}


def _cell(key: str, value: float) -> str:
    return f"{value:.1f}" if key in ("MOTA", "IDF1") else f"{int(round(value))}"


def table(results: list[tuple[str, dict[str, float]]], budget: str, command: str) -> str:
    lines = [
        BEGIN,
        "### Table 5 (lower half): occlusion module on the CenterTrack-style tracker",
        "",
        "PETS09-S2L1, trained on frames 1-397, evaluated on frames 398-795 (the paper's half "
        "split). Both models: CenterTrack-style variant (OTrack_ct), " + budget + ".",
        "",
        "| tracker | " + " | ".join(COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    for name, m in results:
        lines.append(f"| {name} | " + " | ".join(_cell(k, m[k]) for k in COLUMNS) + " |")
    lines += ["", f"Reproduce: `{command}`", END]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.is_file() else "# Results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", action="store_true", help="train (or resume) both models")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="training override for both runs")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="runs folder")
    parser.add_argument("--device", default="cpu", help="inference device (default cpu)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for inference (default: torch's; use 1 on a "
                        "CPU shared with a training job)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    runs = {True: args.runs / "table5_ct_occ", False: args.runs / "table5_ct_noocc"}
    if args.train:
        for occlusion, out_dir in runs.items():
            train(out_dir, args.overrides, occlusion)
    for out_dir in runs.values():
        if not (out_dir / "model.pt").is_file():
            parser.error(f"{out_dir / 'model.pt'} not found: run with --train first")

    rows = [
        ("CenterTrack", runs[False] / "model.pt", False),
        ("CenterTrack + occlusion head (no refinding)", runs[True] / "model.pt", False),
        ("CenterTrack + OccE (OTrack_ct)", runs[True] / "model.pt", True),
    ]
    results, budgets = [], set()
    for name, weights, refind in rows:
        metrics, config = evaluate(weights, refind, args.device)
        train_cfg = config.get("train", {})
        budgets.add(f"{train_cfg.get('epochs')} epochs x batch {train_cfg.get('batch_size')}"
                    f" (max_steps {train_cfg.get('max_steps')}), lr {train_cfg.get('lr')}")
        results.append((name, metrics))
        print(f"{name}: " + ", ".join(f"{k} {_cell(k, metrics[k])}" for k in COLUMNS), flush=True)
    if len(budgets) != 1:
        print(f"warning: the two runs had different budgets: {sorted(budgets)}", file=sys.stderr)
    command = shlex.join(["python", "scripts/table5_centertrack.py",
                          *(sys.argv[1:] if argv is None else argv)])
    write_section(args.output, table(results, "; ".join(sorted(budgets)), command))
    print(f"wrote {args.output}")
    if args.json:
        args.json.write_text(json.dumps(dict(results), indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
