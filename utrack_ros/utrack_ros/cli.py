"""The ``utrack`` command: one sub-command per module in :mod:`utrack_ros.tools`.

Each tool module defines ``register(subparsers)``, which adds its parser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Sub-command modules, in the order ``utrack --help`` lists them.
TOOL_MODULES = (
    "track",
    "track_gt",
    "reid_eval",
    "eval",
    "mot2bag",
    "bag_eval",
    "export_onnx",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="utrack",
        description="OUTrack people tracking: offline tracking, evaluation, bag tools, export.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in TOOL_MODULES:
        importlib.import_module(f"utrack_ros.tools.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        # Bad input from the user: one clear line, no traceback.
        print(f"utrack {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
