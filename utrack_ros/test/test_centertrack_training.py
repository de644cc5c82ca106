"""OTrack_ct (the CenterTrack-style variant), model and training side: the variant's network,
decoding of the tracking offsets, previous-frame heatmap and its disturbances, tracking-offset
targets, training samples from the shipped sample, the loss and two training steps."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from utrack_ros.data import MOTSequence, load_mot_gt
from utrack_ros.data.centertrack import (
    STILL_IMAGE_MOTION,
    CenterTrackDataset,
    PreHeatmapConfig,
    build_centertrack_dataset,
    collate_centertrack,
)
from utrack_ros.data.pairs import VideoPairDataset
from utrack_ros.losses import CenterTrackLoss, OUTrackLoss, reg_l1_loss
from utrack_ros.model import ModelConfig, build_model, decode, model_from_checkpoint
from utrack_ros.preprocess import Letterbox
from utrack_ros.resources import sample_sequence_path
from utrack_ros.targets import (
    build_targets,
    draw_gaussian,
    gaussian_radius,
    render_previous_heatmap,
    tracking_targets,
)

SMALL = (64, 96)


def small_model(backbone: str = "mobilenetv2", **kw):
    torch.manual_seed(0)
    cfg = {"backbone": backbone, "input_size": SMALL, "head_conv": 16, "variant": "centertrack"}
    return build_model({**cfg, **kw})


# --------------------------------------------------------------------------- model


def test_variant_config_and_old_checkpoints_load_as_fairmot():
    assert ModelConfig().variant == "fairmot"
    assert ModelConfig.from_dict({"backbone": "mobilenetv2"}).variant == "fairmot"
    cfg = ModelConfig(variant="centertrack", input_size=SMALL)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert tuple(cfg.head_channels) == ("hm", "wh", "reg", "tracking", "occ", "occ_off")
    assert cfg.head_channels["tracking"] == 2
    assert tuple(ModelConfig(variant="centertrack", occlusion=False).head_channels) == (
        "hm", "wh", "reg", "tracking")
    with pytest.raises(ValueError, match="ModelConfig.variant.*'fairmot', 'centertrack'"):
        ModelConfig(variant="ctrack")
    # A checkpoint written before the field existed (no "variant" key) loads as fairmot.
    fair = build_model({"input_size": SMALL, "head_conv": 16})
    old = {k: v for k, v in fair.config.to_dict().items() if k != "variant"}
    model = model_from_checkpoint({"model": fair.state_dict(), "model_config": old})
    assert model.config.variant == "fairmot" and "id" in model.head_names


@pytest.mark.parametrize("backbone", ["mobilenetv2", "dla34"])
def test_centertrack_model_inputs_and_heads(backbone):
    model = small_model(backbone).eval()
    # CenterTrack's base_layer + pre_img_layer + pre_hm_layer: same structure as the stem.
    stem = model.backbone.features[0] if backbone == "mobilenetv2" else model.backbone.base_layer
    for layer, channels in ((model.pre_img_layer, 3), (model.pre_hm_layer, 1)):
        assert layer[0].in_channels == channels
        assert layer[0].out_channels == stem[0].out_channels
        assert layer[0].kernel_size == stem[0].kernel_size and layer[0].stride == stem[0].stride
    assert model.input_names == ("images", "pre_images", "pre_hms")
    images, pre = torch.randn(2, 3, *SMALL), torch.randn(2, 3, *SMALL)
    hm = torch.rand(2, 1, *SMALL)
    with torch.no_grad():
        out = model(images, pre, hm)
        first = model(images)  # CenterTrack's first frame: previous = current, empty heatmap
        same = model(images, images, torch.zeros(2, 1, *SMALL))
        other = model(images, pre, torch.zeros(2, 1, *SMALL))
    assert tuple(out) == ("hm", "wh", "reg", "tracking", "occ", "occ_off")
    assert out["tracking"].shape == (2, 2, SMALL[0] // 4, SMALL[1] // 4)
    for name in out:
        torch.testing.assert_close(first[name], same[name])
    assert not torch.allclose(out["hm"], other["hm"])  # the heatmap input matters
    assert not torch.allclose(other["hm"], same["hm"])  # so does the previous image
    with pytest.raises(ValueError, match="pre_hms"):
        model(images, pre, torch.zeros(2, 3, *SMALL))
    with pytest.raises(ValueError, match="pre_images"):
        model(images, pre[:1])


def test_fairmot_model_rejects_previous_inputs_and_keeps_its_keys():
    fair = build_model({"input_size": SMALL, "head_conv": 16})
    assert fair.input_names == ("images",)
    assert not any(k.startswith(("pre_img_layer", "pre_hm_layer")) for k in fair.state_dict())
    with pytest.raises(ValueError, match="centertrack variant only"):
        fair(torch.randn(1, 3, *SMALL), torch.randn(1, 3, *SMALL))


def test_every_centertrack_parameter_gets_a_gradient():
    for backbone in ("mobilenetv2", "dla34"):
        model = small_model(backbone).train()
        out = model(torch.randn(2, 3, 32, 64), torch.randn(2, 3, 32, 64), torch.rand(2, 1, 32, 64))
        sum(v.float().mean() for v in out.values()).backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, (backbone, missing[:5])


def test_decode_reads_tracking_offsets_in_input_pixels():
    h, w = 8, 12
    maps = {k: torch.zeros(1, c, h, w) for k, c in (("wh", 4), ("reg", 2), ("tracking", 2))}
    maps["hm"] = torch.full((1, 1, h, w), -10.0)
    maps["hm"][0, 0, 3, 5] = 10.0
    maps["tracking"][0, :, 3, 5] = torch.tensor([1.5, -2.0])
    det = decode(maps, max_objects=1)[0]
    np.testing.assert_allclose(det.offsets, [[6.0, -8.0]])  # x R = 4
    assert decode({k: v for k, v in maps.items() if k != "tracking"})[0].offsets is None
    maps["tracking"] = torch.zeros(1, 3, h, w)
    with pytest.raises(ValueError, match="'tracking'"):
        decode(maps)


def test_centertrack_onnx_export_has_three_inputs(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from utrack_ros.model import check_onnx, export_onnx

    model = small_model().eval()
    path = export_onnx(model, tmp_path / "ct.onnx")
    check = check_onnx(path, model, batch=2, atol=1e-4)
    assert check.ok, check.report()
    assert "tracking" in check.max_abs_diff and "id" not in check.max_abs_diff
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images", "pre_images", "pre_hms"]


# --------------------------------------------------------------------------- previous heatmap


def test_previous_heatmap_without_disturbance_is_centernets_peaks():
    boxes = np.array([[10.0, 8.0, 30.0, 48.0], [60.0, 20.0, 81.0, 70.0], [90.0, 0.0, 120.0, 10.0]])
    hm = render_previous_heatmap(boxes, SMALL)
    assert hm.shape == (1, *SMALL) and hm.dtype == np.float32
    expected = np.zeros(SMALL, np.float32)
    for x1, y1, x2, y2 in [(10, 8, 30, 48), (60, 20, 81, 60 + 4), (90, 0, 96, 10)]:
        # clipped to the 96 x 64 input; radius of the input-pixel size, ceil'ed
        y2 = min(y2, SMALL[0])
        r = max(0, int(gaussian_radius(math.ceil(y2 - y1), math.ceil(x2 - x1))))
        draw_gaussian(expected, ((x1 + x2) / 2, (y1 + y2) / 2), r)
    np.testing.assert_array_equal(hm[0], expected)
    peaks = {tuple(p) for p in np.argwhere(hm[0] == 1.0)}
    assert peaks == {(28, 20), (42, 70), (5, 93)}  # (row, col) = floor(centre)
    assert not render_previous_heatmap(np.zeros((0, 4)), SMALL).any()
    assert not render_previous_heatmap([[200.0, 0, 220, 10]], SMALL).any()  # outside


def test_previous_heatmap_argument_checks():
    with pytest.raises(ValueError, match="needs an rng"):
        render_previous_heatmap([[0, 0, 10, 10]], SMALL, hm_disturb=0.05)
    with pytest.raises(ValueError, match="lost_disturb"):
        render_previous_heatmap([[0, 0, 10, 10]], SMALL, rng=np.random.default_rng(),
                                lost_disturb=1.5)
    with pytest.raises(ValueError, match="hm_disturb"):
        render_previous_heatmap([[0, 0, 10, 10]], SMALL, rng=np.random.default_rng(),
                                hm_disturb=-0.1)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        render_previous_heatmap([[0, 0, 10]], SMALL)
    with pytest.raises(ValueError, match="PreHeatmapConfig.fp_disturb"):
        PreHeatmapConfig(fp_disturb=2.0)
    with pytest.raises(ValueError, match="unknown pre_hm"):
        PreHeatmapConfig.from_dict({"hm_jitter": 0.1})
    assert PreHeatmapConfig() == PreHeatmapConfig(0.05, 0.4, 0.1)  # CenterTrack's MOT recipe


def _peaks(hm: np.ndarray) -> np.ndarray:
    return np.argwhere(hm[0] == 1.0)


def test_previous_heatmap_lost_rate_is_honoured():
    rng = np.random.default_rng(1)
    box = [[20.0, 10.0, 40.0, 50.0]]
    trials = 2000
    drawn = sum(
        len(_peaks(render_previous_heatmap(box, SMALL, rng=rng, lost_disturb=0.4))) > 0
        for _ in range(trials)
    )
    # binomial: sd = sqrt(n p q) ~ 22 -> 4 sd
    assert abs(drawn / trials - 0.6) < 4 * math.sqrt(0.24 / trials)


def test_previous_heatmap_false_positive_rate_is_honoured():
    rng = np.random.default_rng(2)
    box = [[0.0, 0.0, 96.0, 64.0]]  # large box: the false peak's jitter (5 %) leaves its cell
    trials = 2000
    extra = sum(
        len(_peaks(render_previous_heatmap(box, SMALL, rng=rng, fp_disturb=0.3))) == 2
        for _ in range(trials)
    )
    # a false peak falling on the true peak's cell (~3 %) cannot be seen: allow for it
    assert 0.3 * 0.95 - 4 * math.sqrt(0.21 / trials) < extra / trials < 0.3 + 4 * math.sqrt(
        0.21 / trials
    )


def test_previous_heatmap_jitter_is_bounded_and_scaled():
    rng = np.random.default_rng(3)
    w, h = 60.0, 40.0
    box = [[18.0, 12.0, 18.0 + w, 12.0 + h]]
    centre = np.array([12.0 + h / 2, 18.0 + w / 2])  # (row, col)
    shifts = []
    for _ in range(1000):
        (peak,) = _peaks(render_previous_heatmap(box, SMALL, rng=rng, hm_disturb=0.05))
        shifts.append(peak + 0.5 - centre)
    shifts = np.array(shifts)
    # truncated at 3 sd (+ the cell's quantisation)
    assert np.all(np.abs(shifts[:, 0]) <= 3 * 0.05 * h + 1)
    assert np.all(np.abs(shifts[:, 1]) <= 3 * 0.05 * w + 1)
    np.testing.assert_allclose(shifts.std(axis=0), [0.05 * h, 0.05 * w], rtol=0.15)
    assert np.abs(shifts.mean(axis=0)).max() < 0.3
    # seeded: the same stream gives the same heatmap
    a = render_previous_heatmap(box * 3, SMALL, rng=np.random.default_rng(7), hm_disturb=0.05,
                                lost_disturb=0.4, fp_disturb=0.1)
    b = render_previous_heatmap(box * 3, SMALL, rng=np.random.default_rng(7), hm_disturb=0.05,
                                lost_disturb=0.4, fp_disturb=0.1)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- tracking targets


def test_tracking_targets_by_hand():
    out = (16, 24)  # input 64 x 96
    prev = build_targets([[8.0, 8, 24, 40], [40, 4, 56, 36], [0, 0, 4, 4]], out, ids=[3, 7, -1])
    cur = build_targets(
        [[12.0, 8, 28, 40], [60, 20, 80, 60], [88, 30, 100, 60], [1, 1, 5, 5]], out,
        ids=[3, 9, 7, -1],
    )
    t = tracking_targets(cur, prev)
    assert t["tracking"].shape == (500, 2) and t["tracking_mask"].shape == (500,)
    # id 3: centre (16, 24) px -> (20, 24) px: offset (-4, 0) px = (-1, 0) cells
    np.testing.assert_allclose(t["tracking"][0], [-1.0, 0.0])
    # id 7: previous (48, 20) px; current box clipped to x <= 96 -> centre (92, 45) px
    np.testing.assert_allclose(t["tracking"][2], [(48 - 92) / 4, (20 - 45) / 4])
    # id 9 is new, id -1 is unknown, unused rows: no target
    np.testing.assert_array_equal(t["tracking_mask"][:5], [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(t["tracking"][[1, 3]], 0.0)
    with pytest.raises(ValueError, match="output sizes"):
        tracking_targets(cur, build_targets([], (8, 12)))
    with pytest.raises(ValueError, match="build_targets"):
        tracking_targets({"hm": cur["hm"]}, prev)


# --------------------------------------------------------------------------- training samples


@pytest.fixture(scope="module")
def sample_gt():
    seq = MOTSequence(sample_sequence_path())
    return seq, load_mot_gt(seq.gt_path).pedestrians()


def test_samples_from_real_frames_match_the_ground_truth(sample_gt):
    seq, gt = sample_gt
    pairs = VideoPairDataset([sample_sequence_path()], "1:6", SMALL, max_frame_gap=1,
                             augment=False, seed=0)
    ds = CenterTrackDataset(pairs)
    item = ds[2]
    prev_f, cur_f = item["meta"]["frame"]
    assert abs(int(prev_f) - int(cur_f)) == 1 and prev_f == 3
    assert item["images"].shape == item["pre_images"].shape == (3, *SMALL)
    assert item["pre_hms"].shape == (1, *SMALL) and item["negative"] is False
    lb = Letterbox.fit((seq.info.height, seq.info.width), SMALL)

    def frame_boxes(f):
        sel = gt.frame == f
        return lb.boxes_to_input(gt.boxes_xyxy[sel]), gt.track_id[sel]

    prev_boxes, prev_ids = frame_boxes(prev_f)
    cur_boxes, cur_ids = frame_boxes(cur_f)
    # validation (augment=False): the exact previous boxes, no disturbance
    np.testing.assert_array_equal(item["pre_hms"], render_previous_heatmap(prev_boxes, SMALL))
    # tracking targets = previous centre - current centre (output cells) by identity
    tgt = item["targets"]
    rows = np.flatnonzero(tgt["tracking_mask"] > 0)
    assert len(rows) >= 3
    centres = {int(i): (b[:2] + b[2:]) / 2 for b, i in zip(prev_boxes, prev_ids, strict=True)}
    w = SMALL[1] // 4
    for k in rows:
        cell = np.array([tgt["ind"][k] % w, tgt["ind"][k] // w]) + tgt["reg"][k]
        match = [i for b, i in zip(cur_boxes, cur_ids, strict=True)
                 if np.allclose((b[:2] + b[2:]) / 8, cell, atol=1e-4)]
        assert len(match) == 1
        np.testing.assert_allclose(tgt["tracking"][k], centres[int(match[0])] / 4 - cell,
                                   atol=1e-4)


def test_same_augment_moves_both_frames_alike_and_disturbs_the_heatmap():
    pairs = VideoPairDataset([sample_sequence_path()], "1:6", SMALL, max_frame_gap=1,
                             augment=True, seed=3)
    ds = CenterTrackDataset(pairs, {"hm_disturb": 0.0, "lost_disturb": 1.0, "fp_disturb": 0.0})
    prev, cur, *_ = ds._views(1)
    np.testing.assert_allclose(prev.matrix, cur.matrix)
    assert not ds[1]["pre_hms"].any()  # every object "lost"
    independent = CenterTrackDataset(pairs, same_augment=False)
    prev, cur, *_ = independent._views(1)
    assert not np.allclose(prev.matrix, cur.matrix)
    # the same item twice is the same sample (seeded by (seed, epoch, index))
    a, b = ds[4], ds[4]
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["targets"]["tracking"], b["targets"]["tracking"])


def test_still_images_get_a_small_simulated_motion():
    class OneImage:
        def __len__(self):
            return 1

        def image(self, i):
            return np.full((120, 180, 3), 90, np.uint8)

        def boxes(self, i):
            return np.array([[20.0, 10, 60, 100], [100, 20, 140, 110]])

        def image_path(self, i):
            return Path("still.jpg")

    from utrack_ros.data.pairs import ImagePairDataset

    ds = CenterTrackDataset(ImagePairDataset([OneImage()], SMALL, augment=True, seed=0))
    item = ds[0]
    tgt = item["targets"]
    assert tgt["tracking_mask"].sum() == 2  # both objects in both views
    # a shift of at most 5 % of the input and a scale of 5 % (about the centre)
    limit = STILL_IMAGE_MOTION.translate * np.array(SMALL[::-1]) / 4 + 0.05 * np.array(
        SMALL[::-1]) / 4 / 2
    assert np.all(np.abs(tgt["tracking"][:2]) <= limit + 1e-6)


def test_build_centertrack_dataset_and_collate():
    spec = {"mot": [{"path": str(sample_sequence_path()), "frames": "1:6"}],
            "input_size": list(SMALL), "max_frame_gap": 1, "neg_ratio": 0.25,
            "pre_hm": {"lost_disturb": 0.2}, "same_augment": False}
    ds = build_centertrack_dataset(spec)
    assert len(ds) == 6 and ds.pre_hm.lost_disturb == 0.2 and ds.same_augment is False
    assert ds.pairs.num_negative == 0
    batch = collate_centertrack([ds[0], ds[1], ds[2]])
    assert batch["images"].shape == batch["pre_images"].shape == (3, 3, *SMALL)
    assert batch["pre_hms"].shape == (3, 1, *SMALL)
    assert batch["targets"]["tracking"].shape == (3, 500, 2)
    assert batch["negative"].dtype == torch.bool and not batch["negative"].any()
    with pytest.raises(ValueError, match="unknown pre_hm"):
        build_centertrack_dataset({**spec, "pre_hm": {"lost": 0.1}})


# --------------------------------------------------------------------------- loss


def test_centertrack_loss_adds_the_tracking_l1():
    torch.manual_seed(0)
    out = {k: torch.randn(2, c, 16, 24, requires_grad=True)
           for k, c in (("hm", 1), ("wh", 4), ("reg", 2), ("tracking", 2), ("occ", 1),
                        ("occ_off", 2))}
    t0 = build_targets([[8.0, 8, 24, 40], [40, 4, 56, 36]], (16, 24), ids=[1, 2])
    t1 = build_targets([[10.0, 8, 26, 40], [40, 4, 60, 40]], (16, 24), ids=[1, 2])
    for t in (t0, t1):
        t.update(tracking_targets(t, t0))
    targets = {k: torch.from_numpy(np.stack([t0[k], t1[k]])) for k in t0}
    loss = CenterTrackLoss(tracking_weight=1.0)
    total, stats = loss(out, targets)
    det, det_stats = OUTrackLoss(reid="none", uncertainty=False)(out, targets)
    trk = reg_l1_loss(out["tracking"], targets["ind"], targets["tracking_mask"],
                      targets["tracking"])
    torch.testing.assert_close(total, det + trk)
    assert stats["tracking"] == pytest.approx(float(trk.detach())) and stats["id"] == 0.0
    assert stats["det"] == pytest.approx(det_stats["det"])
    # by hand: mean |pred - target| over the 4 masked objects x 2 coordinates
    ind, mask = targets["ind"], targets["tracking_mask"]
    pred = torch.stack([out["tracking"][b].flatten(1)[:, ind[b, :2]].T for b in range(2)])
    manual = (pred - targets["tracking"][:, :2]).abs().sum() / 8
    assert float(mask.sum()) == 4
    assert float(trk.detach()) == pytest.approx(float(manual.detach()), rel=1e-4)
    total.backward()
    assert out["tracking"].grad.abs().sum() > 0
    with pytest.raises(ValueError, match="tracking"):
        loss({k: v for k, v in out.items() if k != "tracking"}, targets)


# --------------------------------------------------------------------------- training


@pytest.mark.slow
def test_two_training_steps_of_the_variant_on_the_sample(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    import train

    overrides = [
        "model.input_size=[64, 96]", "model.pretrained=null", "model.head_conv=16",
        "model.variant=centertrack", "data.mot=[{path: sample, frames: '1:8'}]",
        "data.max_frame_gap=1", "train.batch_size=2", "train.workers=0", "train.epochs=1",
        "train.max_steps=2", "train.log_every=1", "train.save_every=1", "train.device=cpu",
    ]
    args = ["--out-dir", str(tmp_path)]
    for o in overrides:
        args += ["--set", o]
    assert train.main(args) == 0
    lines = (tmp_path / "losses.csv").read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == [1, 2]
    for term in ("hm", "wh", "reg", "occ", "tracking", "total"):
        values = [float(r[header.index(term)]) for r in rows]
        assert all(math.isfinite(v) and v >= 0 for v in values), term
    assert all(float(r[header.index("tracking")]) > 0 for r in rows)
    ckpt = torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=False)
    assert ckpt["model_config"]["variant"] == "centertrack"
    assert "heads.heads.tracking.2.weight" in ckpt["model"]
    assert not any(k.startswith("heads.heads.id.") for k in ckpt["model"])

    from utrack_ros.pipeline import TrackingPipeline
    from utrack_ros.tracking import CenterTrackTracker

    pipeline = TrackingPipeline.from_checkpoint(tmp_path / "model.pt")
    assert isinstance(pipeline.tracker, CenterTrackTracker)
