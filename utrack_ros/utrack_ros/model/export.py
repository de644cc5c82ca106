"""ONNX export of :meth:`JointDetector.forward` and its check against PyTorch.

DESIGN §4.4: the official code's DCNv2 op is CUDA-only and cannot be exported. Here the
MobileNetV2 model and the DLA-34 model with plain IDAUp convs (``deformable=False``)
export with standard ONNX ops; the graph has one input ``images`` ``[B, 3, H, W]``
(dynamic batch, fixed H x W) and one output per head, named as the model's dict keys
(``hm, wh, reg, id[, occ, occ_off]``, heatmaps as logits), so
:func:`utrack_ros.model.decode` takes ``dict(zip(names, session.run(None, ...)))``.
The model config, stride and input size are stored as ONNX metadata
(``utrack_model_config`` JSON, ``utrack_stride``, ``utrack_input_size``).
A ``variant="centertrack"`` model exports with three inputs ``images``, ``pre_images``
``[B, 3, H, W]`` and ``pre_hms`` ``[B, 1, H, W]`` and the ``tracking`` output instead of
``id`` (metadata ``utrack_inputs`` lists the inputs in order).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import STRIDE
from .detector import JointDetector

log = logging.getLogger(__name__)

INPUT_NAME = "images"
DEFAULT_OPSET = 17


class _TupleOutputs(nn.Module):
    """Wraps the model so the traced graph returns a tuple in ``head_names`` order."""

    def __init__(self, model: JointDetector) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(model.head_names)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(*inputs)
        return tuple(out[name] for name in self.names)


def _example_inputs(
    model: JointDetector, batch: int, size: tuple[int, int], generator: torch.Generator | None
) -> dict[str, torch.Tensor]:
    """One tensor per model input (zeros, or random with a ``generator``)."""
    shapes = {"images": 3, "pre_images": 3, "pre_hms": 1}
    out = {}
    for name in model.input_names:
        shape = (batch, shapes[name], *size)
        if generator is None:
            out[name] = torch.zeros(shape)
        elif name == "pre_hms":
            out[name] = torch.rand(shape, generator=generator)
        else:
            out[name] = torch.randn(shape, generator=generator)
    return out


def _check_input_size(input_size: tuple[int, int] | list[int]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in input_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"input_size: expected (height, width), multiples of 32, got {input_size!r}"
        ) from exc
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(
            f"input_size: expected (height, width), positive multiples of 32, got {(h, w)}"
        )
    return h, w


def _uses_deformable(model: nn.Module) -> bool:
    return any(getattr(m, "deformable", False) is True for m in model.modules())


def export_onnx(
    model: JointDetector,
    path: str | Path,
    input_size: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export ``model.forward`` to ONNX at ``path`` (written atomically); returns the path.

    Args:
        model: a :class:`JointDetector` (any device; exported on CPU in eval mode, its own
            mode and device are left unchanged).
        path: output ``.onnx`` file (parent directories are created).
        input_size: ``(height, width)`` of the graph input, multiples of 32; default
            ``model.config.input_size``.
        opset: ONNX opset (>= 11; 17 by default).

    Raises:
        ImportError: the ``onnx`` package is missing.
        ValueError: bad ``input_size`` / ``opset``, or deformable convs (torchvision's
            ``deform_conv2d`` has no ONNX export here; build with ``deformable=False``).
    """
    if not isinstance(model, JointDetector):
        raise ValueError(f"export_onnx: expected a JointDetector, got {type(model).__name__}")
    try:
        import onnx  # noqa: F401 - needed by the exporter and for the metadata
    except ImportError as exc:
        raise ImportError(
            "export_onnx needs the onnx package: pip install onnx (or 'utrack_ros[onnx]')"
        ) from exc
    size = _check_input_size(model.config.input_size if input_size is None else input_size)
    if not isinstance(opset, int) or opset < 11:
        raise ValueError(f"export_onnx: opset must be an int >= 11, got {opset!r}")
    if _uses_deformable(model):
        raise ValueError(
            "export_onnx: this dla34 model uses deformable convs (deformable=True), which "
            "have no ONNX export here; export a model built with deformable=False"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    was_training = model.training
    device = next(model.parameters()).device
    wrapper = _TupleOutputs(model).cpu().eval()
    names = list(wrapper.names)
    dummy = _example_inputs(model, 1, size, None)
    input_names = list(dummy)
    dynamic_axes = {**{n: {0: "batch"} for n in input_names}, **{n: {0: "batch"} for n in names}}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is the one that needs no onnxscript; it warns that it
            # is deprecated in favour of the dynamo exporter.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper,
                tuple(dummy.values()),
                tmp,
                dynamo=False,
                input_names=input_names,
                output_names=names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
            )
        _add_metadata(tmp, model, size)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        model.to(device).train(was_training)
    log.info("exported %s (%s, input %dx%d, opset %d)", path, model.config.backbone, *size, opset)
    return path


def _add_metadata(path: str, model: JointDetector, size: tuple[int, int]) -> None:
    import onnx

    proto = onnx.load(path)
    meta = {
        "utrack_model_config": json.dumps(model.config.to_dict()),
        "utrack_stride": str(STRIDE),
        "utrack_input_size": json.dumps(list(size)),
        "utrack_heatmaps_are_logits": "hm,occ",
        "utrack_inputs": ",".join(model.input_names),
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


@dataclass
class OnnxCheck:
    """Result of :func:`check_onnx`: per-output max |onnxruntime - PyTorch|."""

    max_abs_diff: dict[str, float]
    atol: float
    batch: int
    input_size: tuple[int, int]

    @property
    def ok(self) -> bool:
        return all(v <= self.atol for v in self.max_abs_diff.values())

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values()) if self.max_abs_diff else 0.0

    def report(self) -> str:
        """One line per output and a verdict."""
        lines = [f"onnxruntime vs PyTorch, batch {self.batch}, input {self.input_size[0]}x"
                 f"{self.input_size[1]}: max |diff| per output (atol {self.atol:g})"]
        lines += [f"  {k:8s} {v:.3g}" for k, v in self.max_abs_diff.items()]
        lines.append("  OK" if self.ok else f"  MISMATCH: worst {self.worst:.3g} > {self.atol:g}")
        return "\n".join(lines)


def check_onnx(
    path: str | Path,
    model: JointDetector,
    input_size: tuple[int, int] | None = None,
    batch: int = 2,
    atol: float = 1e-3,
    seed: int = 0,
) -> OnnxCheck:
    """Run the ONNX file with onnxruntime (CPU) and the model with PyTorch on the same
    random input; report the max absolute difference of every output.

    ``batch`` defaults to 2 so that the dynamic batch axis is exercised (export traces 1).

    Raises:
        ImportError: onnxruntime is not installed (``pip install 'utrack_ros[onnx]'``).
        ValueError: the file's outputs are not the model's heads.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError(
            "check_onnx needs onnxruntime: pip install onnxruntime (or 'utrack_ros[onnx]')"
        ) from exc
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} not found")
    size = _check_input_size(model.config.input_size if input_size is None else input_size)
    gen = torch.Generator().manual_seed(seed)
    inputs = _example_inputs(model, batch, size, gen)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in session.get_outputs()]
    if set(out_names) != set(model.head_names):
        raise ValueError(f"{path}: outputs {out_names}, expected the heads {model.head_names}")
    feeds = {name: t.numpy() for name, t in inputs.items()}
    onnx_out = dict(zip(out_names, session.run(None, feeds), strict=True))

    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            torch_out = model(*(t.to(device) for t in inputs.values()))
    finally:
        model.train(was_training)
    diffs = {
        name: float(np.abs(onnx_out[name] - torch_out[name].float().cpu().numpy()).max())
        for name in model.head_names
    }
    return OnnxCheck(max_abs_diff=diffs, atol=float(atol), batch=batch, input_size=size)
