"""Per-term training losses at the start and the end of a run (from OUT_DIR/losses.csv).

    python utrack_ros/training/summarize_losses.py runs/pets09_mobilenetv2 --window 50

Prints, for every loss term, the mean over the first and the last ``window`` logged steps
and the ratio last / first (a term that is learned has a ratio below 1). Steps where a term
is exactly 0 (its batch had no targets for it, e.g. no occlusion) are left out of its means.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

#: Columns of losses.csv that are not loss terms.
NOT_TERMS = {"step", "epoch", "lr", "time", "s_det", "s_id"}


def summarize(path: Path, window: int) -> list[tuple[str, float, float]]:
    """``(term, mean of the first window, mean of the last window)`` for every loss term."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        raise ValueError(f"{path}: {len(rows)} logged steps, need at least 2")
    window = max(1, min(window, len(rows) // 2))
    out = []
    for term in rows[0]:
        if term in NOT_TERMS:
            continue
        values = [float(r[term]) for r in rows if r.get(term) not in (None, "")]
        # Exactly 0 means the batch had no targets for this term (e.g. no occlusion).
        values = [v for v in values if v != 0.0] or [0.0]
        first, last = values[:window], values[-window:]
        out.append((term, sum(first) / len(first), sum(last) / len(last)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="training out_dir (with losses.csv)")
    parser.add_argument("--window", type=int, default=50, help="logged steps per average")
    args = parser.parse_args(argv)
    path = args.run_dir / "losses.csv"
    if not path.is_file():
        print(f"error: {path} not found", file=sys.stderr)
        return 2
    with path.open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    print(f"{path}: logged steps {steps[0]}..{steps[-1]} ({len(steps)} rows)")
    print(f"{'term':<10}{'first':>10}{'last':>10}{'last/first':>12}")
    for term, first, last in summarize(path, args.window):
        ratio = last / first if first else math.nan
        print(f"{term:<10}{first:>10.4f}{last:>10.4f}{ratio:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
