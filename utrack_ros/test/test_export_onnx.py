"""ONNX export (onnxruntime vs PyTorch) and the ``utrack export-onnx`` tool."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from utrack_ros.model import (  # noqa: E402
    OnnxCheck,
    build_model,
    check_onnx,
    decode,
    export_onnx,
)
from utrack_ros.model import dla as dla_mod  # noqa: E402
from utrack_ros.tools import export_onnx as tool  # noqa: E402

SMALL = (64, 96)
HEADS = ["hm", "wh", "reg", "id", "occ", "occ_off"]


def small_model(backbone: str = "mobilenetv2", **kw):
    torch.manual_seed(0)
    return build_model({"backbone": backbone, "input_size": SMALL, "head_conv": 16, **kw})


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny tensors: one thread is as fast, and immune to OpenMP stalls on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mobilenet():
    return small_model().eval()


@pytest.fixture(scope="module")
def mobilenet_onnx(mobilenet, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    return export_onnx(mobilenet, path, input_size=SMALL)


def test_mobilenet_export_matches_pytorch(mobilenet, mobilenet_onnx):
    check = check_onnx(mobilenet_onnx, mobilenet, input_size=SMALL, batch=2, atol=1e-4)
    assert check.ok, check.report()
    assert list(check.max_abs_diff) == HEADS
    proto = onnx.load(str(mobilenet_onnx))
    assert [o.name for o in proto.graph.output] == HEADS
    assert [i.name for i in proto.graph.input] == ["images"]
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "batch"  # dynamic batch
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["utrack_model_config"]) == mobilenet.config.to_dict()
    assert meta["utrack_stride"] == "4" and json.loads(meta["utrack_input_size"]) == [64, 96]


def test_decode_of_onnxruntime_outputs_matches(mobilenet, mobilenet_onnx):
    x = torch.randn(1, 3, *SMALL)
    session = ort.InferenceSession(str(mobilenet_onnx), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    onnx_out = dict(zip(names, session.run(None, {"images": x.numpy()}), strict=True))
    with torch.no_grad():
        torch_out = mobilenet(x)
    (a,) = decode(onnx_out, max_objects=10)
    (b,) = decode(torch_out, max_objects=10)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


@pytest.mark.slow
def test_dla34_plain_export(tmp_path):
    model = small_model("dla34", deformable=False, occlusion=False, id_dim=32).eval()
    path = export_onnx(model, tmp_path / "dla.onnx")  # input size from the config
    check = check_onnx(path, model, batch=1, atol=1e-3)
    assert check.ok, check.report()
    assert list(check.max_abs_diff) == ["hm", "wh", "reg", "id"]


def test_export_restores_mode_and_validates(mobilenet, tmp_path):
    model = small_model().train()
    export_onnx(model, tmp_path / "a.onnx", input_size=(32, 32))
    assert model.training
    with pytest.raises(ValueError, match="multiples of 32"):
        export_onnx(mobilenet, tmp_path / "b.onnx", input_size=(60, 96))
    with pytest.raises(ValueError, match="opset"):
        export_onnx(mobilenet, tmp_path / "b.onnx", opset=7)
    assert not (tmp_path / "b.onnx").exists()


def test_export_refuses_deformable(monkeypatch, tmp_path):
    monkeypatch.setattr(dla_mod, "torchvision_deform_conv2d", lambda: object())
    model = small_model("dla34", deformable=True)
    with pytest.raises(ValueError, match="deformable=False"):
        export_onnx(model, tmp_path / "d.onnx")


def test_check_report_flags_mismatch():
    check = OnnxCheck({"hm": 1e-6, "id": 0.5}, atol=1e-3, batch=2, input_size=(64, 96))
    assert not check.ok and check.worst == 0.5
    assert "MISMATCH" in check.report()


# --------------------------------------------------------------------------- the tool


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="utrack")
    sub = parser.add_subparsers(dest="command", required=True)
    tool.register(sub)
    return parser.parse_args(argv)


@pytest.fixture
def checkpoint(tmp_path, mobilenet):
    path = tmp_path / "model.pt"
    torch.save(
        {"model": mobilenet.state_dict(), "model_config": mobilenet.config.to_dict(), "epoch": 1},
        path,
    )
    return path


def test_tool_exports_and_checks(checkpoint, tmp_path, capsys):
    out = tmp_path / "out" / "model.onnx"
    args = _parse(["export-onnx", "--weights", str(checkpoint), "--output", str(out),
                   "--input-size", "32", "64", "--opset", "17"])
    assert args.func is tool.run
    assert tool.run(args) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "OK" in text and "32x64" in text
    proto = onnx.load(str(out))
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]]
    assert dims == [3, 32, 64]


def test_tool_defaults_and_no_check(checkpoint, capsys):
    args = _parse(["export-onnx", "--weights", str(checkpoint), "--no-check"])
    assert tool.run(args) == 0
    assert checkpoint.with_suffix(".onnx").is_file()  # default output next to the weights
    assert "onnxruntime" not in capsys.readouterr().out


def test_tool_uses_shipped_weights_by_default(checkpoint, tmp_path, monkeypatch):
    from utrack_ros import resources

    monkeypatch.setattr(resources, "DEFAULT_WEIGHTS", checkpoint)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    assert tool.run(_parse(["export-onnx", "--no-check", "--input-size", "32", "32"])) == 0
    assert (workdir / "model.onnx").is_file()  # the current directory, not the install tree


def test_tool_errors(tmp_path, monkeypatch):
    from utrack_ros import resources

    monkeypatch.setattr(resources, "DEFAULT_WEIGHTS", tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError, match="--weights"):
        tool.run(_parse(["export-onnx"]))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        tool.run(_parse(["export-onnx", "--weights", str(tmp_path / "missing.pt")]))
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="model_config"):
        tool.run(_parse(["export-onnx", "--weights", str(bad)]))


def test_tool_without_onnxruntime_skips_check(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    out = tmp_path / "x.onnx"
    args = _parse(["export-onnx", "--weights", str(checkpoint), "--output", str(out),
                   "--input-size", "32", "32"])
    assert tool.run(args) == 0 and out.is_file()
    assert "check skipped" in capsys.readouterr().err


def test_cli_main_export_onnx(checkpoint, tmp_path):
    from utrack_ros import cli

    for name in cli.TOOL_MODULES:
        try:
            importlib.import_module(f"utrack_ros.tools.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"utrack_ros.tools.{name}":
                raise
            pytest.skip(f"tool module {name} not written yet")
    out = tmp_path / "cli.onnx"
    argv = ["export-onnx", "--weights", str(checkpoint), "--output", str(out),
            "--input-size", "32", "32"]
    assert cli.main(argv) == 0 and out.is_file()
    assert cli.main(["export-onnx", "--weights", str(tmp_path / "nope.pt")]) == 2
