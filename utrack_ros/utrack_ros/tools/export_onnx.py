"""``utrack export-onnx``: a trained checkpoint -> ONNX file, checked against PyTorch.

    utrack export-onnx                                  # the shipped default weights
    utrack export-onnx --weights runs/exp/model_last.pt --output model.onnx --input-size 608 1088

The graph's input is ``images`` ``[B, 3, H, W]`` (letterboxed, normalised by
``utrack_ros.preprocess``; dynamic batch), its outputs the head maps ``hm, wh, reg, id,
occ, occ_off`` (heatmaps as logits; decode with ``utrack_ros.model.decode``). A centertrack
(OTrack_ct) checkpoint exports with the inputs ``images, pre_images, pre_hms`` and the
``tracking`` output instead of ``id``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``export-onnx`` sub-command to ``utrack``'s parser."""
    parser = subparsers.add_parser(
        "export-onnx",
        help="export a checkpoint's model to ONNX and check it with onnxruntime",
        description="Export a trained checkpoint's model to ONNX (input 'images' [B,3,H,W], "
        "outputs hm, wh, reg, id, occ, occ_off; dynamic batch) and compare onnxruntime with "
        "PyTorch.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options (separate so a stand-alone parser can reuse them)."""
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="checkpoint with 'model' and 'model_config' (default: the shipped weights)",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="output .onnx path (default: the checkpoint path with suffix .onnx; for the "
        "shipped weights, <name>.onnx in the current directory)",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="input height and width, multiples of 32 (default: the checkpoint's input_size)",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip the onnxruntime vs PyTorch comparison"
    )
    parser.add_argument(
        "--atol",
        type=float,
        default=1e-3,
        help="max |onnxruntime - PyTorch| accepted by the check (default 1e-3)",
    )


def run(args: argparse.Namespace) -> int:
    """Export (and check) the model; 0 on success, 1 when the check finds a mismatch.

    Raises:
        FileNotFoundError: no checkpoint (the CLI prints it as one line).
        ValueError: a malformed checkpoint or a bad option.
    """
    from utrack_ros import resources
    from utrack_ros.model import check_onnx, export_onnx, model_from_checkpoint

    weights = args.weights
    output = args.output
    if weights is None:
        if not resources.DEFAULT_WEIGHTS.is_file():
            raise FileNotFoundError(
                f"no --weights given and the default weights {resources.DEFAULT_WEIGHTS} "
                "are not installed; pass --weights PATH (a checkpoint written by training)"
            )
        weights = resources.DEFAULT_WEIGHTS
        if output is None:  # not into the (possibly read-only) install tree
            output = Path(weights.stem + ".onnx")
    weights = Path(weights)
    if output is None:
        output = weights.with_suffix(".onnx")
    output = Path(output)
    if output.resolve() == weights.resolve():
        raise ValueError(f"--output {output} would overwrite the checkpoint; choose another path")

    model = model_from_checkpoint(weights, map_location="cpu")
    size = tuple(args.input_size) if args.input_size is not None else model.config.input_size
    try:
        export_onnx(model, output, input_size=size, opset=args.opset)
    except ImportError as exc:
        print(f"utrack export-onnx: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {output} ({model.config.backbone}, input {size[0]}x{size[1]}, "
        f"opset {args.opset}, outputs {', '.join(model.head_names)})"
    )
    if args.no_check:
        return 0
    try:
        check = check_onnx(output, model, input_size=size, atol=args.atol)
    except ImportError as exc:
        print(f"utrack export-onnx: check skipped: {exc}", file=sys.stderr)
        return 0
    print(check.report())
    return 0 if check.ok else 1
