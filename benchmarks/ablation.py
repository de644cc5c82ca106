"""The paper's ablation at small scale (Tables 1 and 5 upper half; Tables 2 and 4 on
request) on PETS09-S2L1, in one command.

The same detector (``utrack_ros/training/configs/pets09_mobilenetv2.yaml``: mobilenetv2,
ImageNet init, frames 1-397 of the shipped sample) is trained at one budget in several ways,
then each model tracks frames 398-795 (the paper's half split) with :class:`TrackingPipeline`
and its Re-ID head is scored at the ground-truth boxes of those frames (``utrack
reid-eval``'s R1 / mAP). Rows:

    Table 1 / Table 5 upper half (``--tables 1``, the default)
      FairMOT w/o Re-ID         loss.reid=none, no occlusion head; tracked by motion only
      FairMOT (supervised)      loss.reid=supervised (FairMOT's identity classifier)
      FairMOT + UTrack          loss.reid=unsupervised (Eq. 1-8), no occlusion head
      + occ. head, no refinding loss.reid=unsupervised + occlusion head (Eq. 9-14), refind off
      + OccE (OUTrack)          the same model, Algorithm 1 refinding on
      diagnostic                the UTrack model with its embeddings unused (motion only):
                                separates its detector from its Re-ID features
    Table 2 (``--tables 2``): unsupervised loss with terms inter / inter+intra (all = UTrack)
    Table 4 (``--tables 4``): placeholder none / zero (mean = UTrack)

MOTA / IDF1 / HOTA / MT / ML / FP / FN / IDS / R1 / mAP go side by side into
``docs/RESULTS.md`` between ``<!-- ablation:begin/end -->`` markers (the rest is kept).

    # the tables in docs/RESULTS.md (2-core CPU, 2 jobs: ~1 h 50 min for 6 models + 35 min eval):
    python benchmarks/ablation.py --tables 1 4 --train --jobs 2 --threads 1 \\
        --set train.epochs=3 --set 'train.lr_steps=[2]'
    # on a GPU, the config's full budget:
    python benchmarks/ablation.py --train --set train.device=cuda
    python benchmarks/ablation.py --tables 2 --train ...       # Table 2 (not yet run)
    python benchmarks/ablation.py                              # evaluate existing runs only

``--train`` resumes killed runs (``--resume auto``) and leaves finished ones as they are;
``--set`` overrides go to every run, so the budget is the same by construction. Each row's
metrics are cached in ``RUN/eval_cache.json`` under the SHA-256 of its model weights and the
row's settings, so adding a table re-evaluates only the new rows (``--no-cache``: all).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from _common import (
    CONFIGS,
    ROOT,
    add_table_arguments,
    budget_of,
    format_cell,
    markdown_table,
    parse_table_arguments,
    run_trainings,
    track_held_out_half,
    train_command,
    write_marked_section,
)

CONFIG = CONFIGS / "pets09_mobilenetv2.yaml"
BEGIN, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
COLUMNS = ("MOTA", "IDF1", "HOTA", "MT", "ML", "FP", "FN", "IDS", "R1", "mAP")

#: Training runs: name -> overrides on top of CONFIG (and the user's ``--set``).
RUNS: dict[str, list[str]] = {
    "no_reid": ["loss.reid=none", "model.occlusion=false"],
    "supervised": ["loss.reid=supervised", "model.occlusion=false"],
    "utrack": ["loss.reid=unsupervised", "model.occlusion=false"],
    "outrack": ["loss.reid=unsupervised", "model.occlusion=true"],
    "terms_inter": ["loss.reid=unsupervised", "model.occlusion=false", "loss.terms=[inter]"],
    "terms_inter_intra": ["loss.reid=unsupervised", "model.occlusion=false",
                          "loss.terms=[inter, intra]"],
    "placeholder_none": ["loss.reid=unsupervised", "model.occlusion=false",
                         "loss.placeholder=null"],
    "placeholder_zero": ["loss.reid=unsupervised", "model.occlusion=false",
                         "loss.placeholder=zero"],
}


@dataclass(frozen=True)
class Row:
    """One table row: a trained run evaluated with some tracker settings."""

    table: str
    name: str
    run: str
    settings: tuple[tuple[str, Any], ...] = ()
    reid_metrics: bool = True


ROWS = (
    Row("1", "FairMOT w/o Re-ID (motion only)", "no_reid", reid_metrics=False),
    Row("1", "FairMOT, supervised Re-ID", "supervised"),
    Row("1", "FairMOT + UTrack (unsupervised Re-ID)", "utrack"),
    Row("1", "FairMOT + UTrack + occlusion head, refinding off", "outrack",
        (("refind", False),)),
    Row("1", "FairMOT + UTrack + OccE (OUTrack)", "outrack", (("refind", True),)),
    Row("1", "diagnostic: the UTrack model tracked by motion only", "utrack",
        (("use_embeddings", False),), reid_metrics=False),
    Row("2", "L_inter", "terms_inter"),
    Row("2", "L_inter + L_intra", "terms_inter_intra"),
    Row("2", "L_inter + L_intra + L_cycle (UTrack)", "utrack"),
    Row("4", "no placeholder", "placeholder_none"),
    Row("4", "placeholder p = 0", "placeholder_zero"),
    Row("4", "placeholder p = mean (UTrack)", "utrack"),
)
TITLES = {
    "1": "Tables 1 and 5 (upper half): Re-ID learning and the occlusion module on FairMOT",
    "2": "Table 2: the terms of the unsupervised Re-ID loss (Eq. 6)",
    "4": "Table 4: the placeholder of the assignment matrix (Eq. 2)",
}


def reid_scores(weights: Path, device: str) -> dict[str, float]:
    """R1 / mAP of the model's Re-ID head at the gt boxes of frames 398-795."""
    from utrack_ros.data.mot import MOTSequence, parse_frame_range
    from utrack_ros.resources import sample_sequence_path
    from utrack_ros.tools.reid_eval import collect_embeddings, evaluate_embeddings, load_reid_model

    sequence = MOTSequence(sample_sequence_path())
    model, input_size = load_reid_model(weights, device)
    frames = parse_frame_range("second-half", sequence.length)
    run = collect_embeddings(model, sequence, frames, input_size, progress=False)
    metrics = evaluate_embeddings([run])[sequence.name]
    return {"R1": metrics["R1"], "mAP": metrics["mAP"]}


def weights_digest(weights: Path) -> str:
    """SHA-256 of a checkpoint's model tensors (names and values): unchanged when ``--train``
    rewrites a finished run's ``model.pt`` (whose zip bytes differ from write to write)."""
    state = torch.load(weights, map_location="cpu", weights_only=False)["model"]
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached(run_dir: Path, key: str, compute, use_cache: bool) -> dict[str, float]:
    """``compute()``, or its earlier result for the same model weights and ``key``."""
    digest = weights_digest(run_dir / "model.pt")
    cache_path = run_dir / "eval_cache.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    entry = f"{digest}|{key}"
    if not use_cache or entry not in cache:
        cache[entry] = {k: float(v) for k, v in compute().items()}
        cache_path.write_text(json.dumps(cache, indent=1))
    return cache[entry]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", choices=sorted(TITLES), default=["1"],
                        help="which tables (default: 1, which also gives Table 5's upper half)")
    add_table_arguments(parser, ROOT / "runs" / "ablation")
    parser.add_argument("--no-cache", action="store_true",
                        help="re-evaluate every row (default: reuse RUN/eval_cache.json)")
    args = parse_table_arguments(parser, argv)

    rows = [row for row in ROWS if row.table in args.tables]
    needed = list(dict.fromkeys(row.run for row in rows))
    if args.train:
        commands = {name: train_command(CONFIG, args.runs / name,
                                        [*RUNS[name], *args.overrides]) for name in needed}
        run_trainings(commands, args.jobs, args.threads, args.runs / "logs")
    missing = [str(args.runs / n / "model.pt") for n in needed
               if not (args.runs / n / "model.pt").is_file()]
    if missing:
        parser.error(f"not found: {', '.join(missing)}: run with --train first")

    results: dict[str, list[tuple[str, dict[str, float]]]] = {t: [] for t in args.tables}
    budgets: set[str] = set()
    use_cache = not args.no_cache
    for row in rows:
        run_dir = args.runs / row.run
        weights = run_dir / "model.pt"
        budgets.add(budget_of(torch.load(weights, map_location="cpu", weights_only=False)
                              .get("training_config") or {}))
        metrics = cached(run_dir, f"track {sorted(row.settings)}",
                         lambda w=weights, r=row: track_held_out_half(
                             w, args.device, **dict(r.settings))[0], use_cache)
        if row.reid_metrics:
            metrics = {**metrics, **cached(run_dir, "reid", lambda w=weights: reid_scores(
                w, args.device), use_cache)}
        results[row.table].append((row.name, metrics))
        print(f"[Table {row.table}] {row.name}: "
              + ", ".join(f"{k} {format_cell(k, metrics.get(k, float('nan')))}"
                          for k in COLUMNS), flush=True)
    if len(budgets) != 1:
        print(f"warning: the runs had different budgets: {sorted(budgets)}", file=sys.stderr)

    command = shlex.join(["python", "benchmarks/ablation.py",
                          *(sys.argv[1:] if argv is None else argv)])
    lines = [
        BEGIN,
        "PETS09-S2L1, trained on frames 1-397, evaluated on frames 398-795 (the paper's half "
        "split). Every model: " + "; ".join(sorted(budgets)) + ". R1 / mAP: the Re-ID head "
        "at the ground-truth boxes of frames 398-795 (`utrack reid-eval` protocol); '-' where "
        "the tracker uses no embeddings.",
    ]
    for table in args.tables:
        lines += ["", f"### {TITLES[table]}", "", *markdown_table(COLUMNS, results[table])]
    lines += ["", f"Reproduce: `{command}`", END]
    write_marked_section(args.output, BEGIN, END, "\n".join(lines))
    print(f"wrote {args.output}")
    if args.json:
        args.json.write_text(json.dumps({t: dict(r) for t, r in results.items()}, indent=2,
                                        default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
