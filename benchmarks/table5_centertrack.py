"""The paper's Table 5, lower half, on PETS09-S2L1: CenterTrack-style tracking without and
with the occlusion estimation module (OTrack_ct), in one command.

Both models are the CenterTrack-style variant (``model.variant: centertrack``) trained on
the first half of the shipped PETS09-S2L1 sample with the same config and budget
(``utrack_ros/training/configs/pets09_centertrack_mobilenetv2.yaml`` plus ``--set``); one
without the occlusion heads (``model.occlusion=false``: CenterTrack), one with them. Both are
then run on the second half (frames 398-795) with :class:`TrackingPipeline`:

    CenterTrack                    occlusion=false model (no occlusion centres, no refinding)
    CenterTrack + occ. head        occlusion=true model, refinding off (what the loss alone does)
    CenterTrack + OccE             occlusion=true model, Algorithm 1 refinding on (OTrack_ct)

and MOTA / IDF1 / HOTA / MT / ML / FP / FN / IDS are written side by side into
``docs/RESULTS.md`` (between ``<!-- table5-centertrack -->`` markers; the rest is kept).

    # the table in docs/RESULTS.md (2-core CPU, ~35 min):
    python benchmarks/table5_centertrack.py --train --jobs 2 --threads 1 \\
        --set train.epochs=3 --set 'train.lr_steps=[2]'
    # on a GPU, the config's full budget:
    python benchmarks/table5_centertrack.py --train --set train.device=cuda
    python benchmarks/table5_centertrack.py          # evaluate existing runs only

``--train`` resumes a killed run (``--resume auto``); ``--set`` overrides go to both runs,
so the budget is the same by construction.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

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

CONFIG = CONFIGS / "pets09_centertrack_mobilenetv2.yaml"
BEGIN, END = "<!-- table5-centertrack:begin -->", "<!-- table5-centertrack:end -->"
COLUMNS = ("MOTA", "IDF1", "HOTA", "MT", "ML", "FP", "FN", "IDS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_table_arguments(parser, ROOT / "runs")
    args = parse_table_arguments(parser, argv)

    runs = {True: args.runs / "table5_ct_occ", False: args.runs / "table5_ct_noocc"}
    if args.train:
        commands = {out.name: train_command(
            CONFIG, out, [f"model.occlusion={str(occ).lower()}", *args.overrides])
            for occ, out in runs.items()}
        run_trainings(commands, args.jobs, args.threads, args.runs / "logs")
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
        metrics, config = track_held_out_half(weights, args.device, refind=refind)
        budgets.add(budget_of(config))
        results.append((name, metrics))
        print(f"{name}: " + ", ".join(f"{k} {format_cell(k, metrics[k])}" for k in COLUMNS),
              flush=True)
    if len(budgets) != 1:
        print(f"warning: the two runs had different budgets: {sorted(budgets)}", file=sys.stderr)
    command = shlex.join(["python", "benchmarks/table5_centertrack.py",
                          *(sys.argv[1:] if argv is None else argv)])
    section = "\n".join([
        BEGIN,
        "### Table 5 (lower half): occlusion module on the CenterTrack-style tracker",
        "",
        "PETS09-S2L1, trained on frames 1-397, evaluated on frames 398-795 (the paper's half "
        "split). Both models: CenterTrack-style variant (OTrack_ct), "
        + "; ".join(sorted(budgets)) + ".",
        "",
        *markdown_table(COLUMNS, results),
        "",
        f"Reproduce: `{command}`",
        END,
    ])
    write_marked_section(args.output, BEGIN, END, section)
    print(f"wrote {args.output}")
    if args.json:
        args.json.write_text(json.dumps(dict(results), indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
