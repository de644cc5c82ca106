"""OTrack_ct, tracking side: CenterTrackTracker's greedy offset association (hand-made cases),
births and deaths, Algorithm 1 refinding on a synthetic occlusion scene, public detections,
its config, and the variant in TrackingPipeline, the node's parameters, bag-eval and
``utrack track`` on real frames of the shipped sample (small random-init model)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from utrack_ros import cli
from utrack_ros.data.mot import read_mot_results
from utrack_ros.data.sources import open_source
from utrack_ros.model import ModelConfig, build_model
from utrack_ros.pipeline import TrackingPipeline
from utrack_ros.targets import render_previous_heatmap
from utrack_ros.tools.track import track_source
from utrack_ros.tracking import (
    CenterTrackConfig,
    CenterTrackTracker,
    OUTracker,
    TrackerConfig,
)
from utrack_ros.tracking.centertrack import greedy_match

# --------------------------------------------------------------------------- helpers


def box(x: float, y: float, w: float = 40.0, h: float = 120.0) -> np.ndarray:
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def tracker(**kw) -> CenterTrackTracker:
    return CenterTrackTracker(CenterTrackConfig(**{"min_box_area": 0.0, **kw}))


def step(trk, boxes, scores=None, offsets=None, **kw) -> dict[int, object]:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.full(len(boxes), 0.9) if scores is None else np.asarray(scores, float)
    return {t.track_id: t for t in trk.update(boxes, scores, offsets=offsets, **kw)}


def overlap_center(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Eq. (9) centre of a pair (tau 0.7)."""
    o = np.r_[np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])]
    if o[2] <= o[0] or o[3] <= o[1]:
        return None
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return (o[:2] + o[2:]) / 2 if area(o) / min(area(a), area(b)) > 0.7 else None


def visible_fraction(b: np.ndarray, occluder: np.ndarray) -> float:
    o = np.r_[np.maximum(b[:2], occluder[:2]), np.minimum(b[2:], occluder[2:])]
    inter = max(o[2] - o[0], 0) * max(o[3] - o[1], 0)
    return 1.0 - inter / ((b[2] - b[0]) * (b[3] - b[1]))


# --------------------------------------------------------------------------- association


def test_greedy_match_validity_rule_by_hand():
    # det centre (0, 0), 10 x 10 (area 100); track 20 x 20 (area 400)
    det, det_area = [[0.0, 0.0]], [100.0]
    m, ud, ut = greedy_match(det, det_area, [[9.9, 0.0]], [400.0])
    assert m.tolist() == [[0, 0]]
    # d^2 = 121 > the detection's area 100 (though < the track's 400): invalid
    m, ud, ut = greedy_match(det, det_area, [[11.0, 0.0]], [400.0])
    assert m.shape == (0, 2) and ud.tolist() == [0] and ut.tolist() == [0]
    # and the same against the track's area: d^2 = 121 > 100, det area 400
    m, *_ = greedy_match(det, [400.0], [[11.0, 0.0]], [100.0])
    assert m.shape == (0, 2)
    # on the boundary (d^2 == area) the match is valid, as CenterTrack (invalid: d^2 > size)
    m, *_ = greedy_match(det, det_area, [[6.0, 8.0]], [100.0])
    assert m.tolist() == [[0, 0]]
    # empty inputs
    m, ud, ut = greedy_match(np.zeros((0, 2)), [], [[0.0, 0.0]], [1.0])
    assert m.shape == (0, 2) and ud.size == 0 and ut.tolist() == [0]


def test_greedy_match_rows_claim_in_order_the_nearest_track():
    dets = [[0.0, 0.0], [1.0, 0.0]]
    tracks = [[2.0, 0.0], [6.0, 0.0]]
    m, ud, ut = greedy_match(dets, [100.0, 100.0], tracks, [100.0, 100.0])
    # row 0 takes its nearest (track 0) although row 1 is nearer to it; row 1 takes track 1
    assert m.tolist() == [[0, 0], [1, 1]]
    m, *_ = greedy_match(dets[::-1], [100.0, 100.0], tracks, [100.0, 100.0])
    assert m.tolist() == [[0, 0], [1, 1]]


def test_detections_are_associated_by_score_order_with_their_offsets():
    trk = tracker()
    first = step(trk, [box(100, 100)])
    (tid,) = first
    # Two detections near the track's previous centre: the lower-scored one is nearer, but
    # the higher-scored one claims the track (CenterTrack: greedy by score).
    near, far = box(104, 100), box(125, 100)
    out = step(trk, [near, far], scores=[0.6, 0.95], offsets=[[0, 0], [-20, 0]])
    assert np.allclose(out[tid].box_xyxy, far) and out[tid].score == pytest.approx(0.95)
    assert out[tid].is_new is False and out[tid].state == "tracked"
    (other,) = set(out) - {tid}
    assert np.allclose(out[other].box_xyxy, near) and out[other].is_new


def test_offsets_carry_a_fast_mover_and_without_them_it_is_a_new_track():
    # moves 80 px per frame (twice its width): beyond the validity radius sqrt(40 * 120)
    for offsets, same in (([[-80.0, 0.0]], True), (None, False)):
        trk = tracker()
        (tid,) = step(trk, [box(0, 0)])
        out = step(trk, [box(80, 0)], offsets=offsets)
        assert (tid in out) is same and len(out) == 1


def test_births_need_new_track_thresh_and_ids_start_at_one():
    trk = tracker(det_thresh=0.3, new_track_thresh=0.5)
    out = step(trk, [box(0, 0), box(100, 0), box(200, 0)], scores=[0.9, 0.4, 0.2])
    assert sorted(out) == [1] and np.allclose(out[1].box_xyxy, box(0, 0))
    # a detection under new_track_thresh still continues an existing track
    out = step(trk, [box(2, 0), box(100, 0)], scores=[0.35, 0.45])
    assert sorted(out) == [1] and out[1].score == pytest.approx(0.35)
    trk.reset()
    assert sorted(step(trk, [box(300, 0)])) == [1]


def test_deaths_after_max_age_scaled_by_frame_rate():
    trk = tracker(max_age=3)
    (tid,) = step(trk, [box(0, 0)])
    for _ in range(3):
        assert step(trk, []) == {}  # lost, kept (w = 1, 2, 3 <= 3)
    assert [t.state for t in trk.tracks] == ["lost"]
    assert tid in step(trk, [box(0, 0)])  # re-associated at its (predicted) place
    for _ in range(4):
        step(trk, [])
    assert trk.tracks == []  # w = 4 > max_age: dead
    assert step(trk, [box(0, 0)]).keys() == {tid + 1}
    assert CenterTrackTracker(CenterTrackConfig(max_age=30), frame_rate=15).max_time_lost == 15
    # max_age = 0: CenterTrack's default, an unmatched track dies at once
    trk = tracker(max_age=0)
    step(trk, [box(0, 0)])
    step(trk, [])
    assert trk.tracks == []


def test_lost_track_is_predicted_by_the_kalman_filter():
    trk = tracker()
    for t in range(10):  # walks 6 px / frame to the right
        (tid,) = step(trk, [box(6.0 * t, 0)], offsets=[[-6.0, 0.0]] if t else None)
    step(trk, [])
    (lost,) = trk.tracks
    assert lost.state == "lost" and lost.frames_lost == 1
    assert 54.0 < lost.box[0] < 61.0  # moved on from 54 towards 60
    # and the walker's next detection, with its offset, continues the same track
    assert tid in step(trk, [box(66.0, 0)], offsets=[[-6.0, 0.0]])


def test_public_detections_gate_births_only():
    trk = tracker()
    (tid,) = step(trk, [box(0, 0)])
    public = np.array([box(305, 2)])  # near the second new detection only
    out = step(trk, [box(2, 0), box(150, 0), box(300, 0)], public_detections=public)
    assert tid in out  # a track continues whatever the public boxes
    new = [t for i, t in out.items() if i != tid]
    assert len(new) == 1 and np.allclose(new[0].box_xyxy, box(300, 0))
    # each public box claims one detection: two detections near one public box -> one birth
    trk = tracker()
    out = step(trk, [box(0, 0), box(3, 0)], public_detections=[box(1, 0)])
    assert len(out) == 1
    assert step(tracker(), [box(0, 0)], public_detections=np.zeros((0, 4))) == {}


# --------------------------------------------------------------------------- refinding


OCCLUDER = np.array([200.0, 100.0, 270.0, 300.0])


def walker(t: int) -> np.ndarray:
    return box(80.0 + 5.0 * t, 120.0, 40.0, 130.0)


def occlusion_scene(trk, frames, *, with_centers=True):
    """A stands still; B walks behind A from the left at 5 px / frame. The detector misses
    B while less than half of it is visible; occlusion centres are Eq. (9)'s."""
    for t in frames:
        b = walker(t)
        detected = visible_fraction(b, OCCLUDER) >= 0.5
        c = overlap_center(b, OCCLUDER) if with_centers else None
        centers = np.zeros((0, 2)) if c is None else c[None]
        dets, offs = ([OCCLUDER, b], [[0, 0], [-5, 0]]) if detected else ([OCCLUDER], [[0, 0]])
        out = step(trk, dets, scores=[0.9, 0.8][: len(dets)], offsets=offs,
                   occlusion_centers=centers)
        yield t, out, b, detected


def _walker_id(out, truth):
    return next(i for i, t in out.items() if np.abs(t.box_xyxy - truth).max() < 1e-6)


def test_walker_behind_occluder_is_refound_with_the_same_id():
    trk = tracker()
    walker_id, hidden, refound = None, 0, 0
    for t, out, truth, detected in occlusion_scene(trk, range(50)):
        if t == 5:
            walker_id = _walker_id(out, truth)
        if t < 5:
            continue
        if detected:
            assert walker_id in out and out[walker_id].state == "tracked", t
            assert np.abs(out[walker_id].box_xyxy - truth).max() < 1e-6
            continue
        hidden += 1
        if overlap_center(truth, OCCLUDER) is not None:
            got = out[walker_id]
            assert got.state == "refound", t
            assert np.abs(got.box_xyxy - truth).max() < 2.0, (t, got.box_xyxy, truth)
            assert got.frames_since_detection > 0 and got.score > 0.7
            # w is unchanged by a refind (Algorithm 1 line 22): lost one frame before the
            # centres appear, the walker keeps w = 1 through all its refinds
            (internal,) = [tr for tr in trk.tracks if tr.track_id == walker_id]
            assert internal.frames_lost == 1
            refound += 1
    assert hidden >= 12 and refound >= 8
    (internal,) = [tr for tr in trk.tracks if tr.track_id == walker_id]
    assert internal.frames_lost == 0  # detected again at the end: w <- 0


def test_without_refind_or_centres_the_hidden_walker_is_not_output():
    for kwargs, centers in (({"refind": False}, True), ({}, False)):
        trk = tracker(**kwargs)
        gaps = 0
        for t, out, _truth, detected in occlusion_scene(trk, range(50), with_centers=centers):
            if t > 5 and not detected:
                assert len(out) == 1 and all(o.state == "tracked" for o in out.values())
                gaps += 1
        assert gaps >= 12


# --------------------------------------------------------------------------- config + input


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("det_thresh", 1.5, "[0, 1]"),
        ("pre_thresh", -0.1, "[0, 1]"),
        ("max_age", -1, "[0, inf"),
        ("max_age", 2.5, "an integer"),
        ("refind_window", 0, "[1, inf"),
        ("refind_threshold", 1.0, "(0, 1)"),
        ("min_box_area", float("nan"), "[0, inf"),
        ("refind", "yes", "bool"),
    ],
)
def test_config_validation_names_field_and_range(field, value, expected):
    with pytest.raises(ValueError, match=rf"CenterTrackConfig\.{field}") as info:
        CenterTrackConfig(**{field: value})
    assert expected in str(info.value)


def test_config_from_dict_and_from_settings(caplog):
    cfg = CenterTrackConfig.from_dict({"max_age": 5, "pre_thresh": 0.6})
    assert cfg.max_age == 5 and CenterTrackConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown CenterTrackConfig field"):
        CenterTrackConfig.from_dict({"track_buffer": 5})
    # The ROS node's tracker.* parameters (every TrackerConfig field) translate.
    with caplog.at_level(logging.WARNING):
        cfg = CenterTrackConfig.from_settings({**TrackerConfig().to_dict(), "track_buffer": 12,
                                               "refind": False})
    assert cfg.max_age == 12 and cfg.refind is False and cfg.det_thresh == 0.4
    assert "ignoring" not in caplog.text  # FairMOT-only fields at their defaults: silent
    with caplog.at_level(logging.WARNING):
        cfg = CenterTrackConfig.from_settings({"match_thresh_iou": 0.3, "track_buffer": 12,
                                               "max_age": 4})
    assert "match_thresh_iou=0.3" in caplog.text and cfg.max_age == 4
    with pytest.raises(ValueError, match="unknown tracker setting"):
        CenterTrackConfig.from_settings({"max_ages": 4})
    with pytest.raises(ValueError, match="CenterTrackConfig or a dict"):
        CenterTrackTracker(TrackerConfig())


def test_bad_input_raises_and_bad_rows_are_dropped(caplog):
    trk = tracker()
    with pytest.raises(ValueError, match=r"offsets must have shape \[2, 2\]"):
        trk.update(np.array([box(0, 0), box(50, 0)]), [0.9, 0.9], offsets=[[0, 0]])
    with pytest.raises(ValueError, match="public_detections"):
        trk.update(np.array([box(0, 0)]), [0.9], public_detections=[[0, 0, 1]])
    with caplog.at_level(logging.WARNING):
        out = step(trk, [box(0, 0), box(50, 0)], offsets=[[0, 0], [np.nan, 0]])
    assert len(out) == 1 and "dropping 1 of 2" in caplog.text
    # embeddings are accepted and ignored; the output has none
    out = trk.update(np.array([box(0, 0)]), [0.9], embeddings=np.ones((1, 8)))
    assert out[0].embedding is None
    assert trk.update(np.zeros((0, 4)), np.zeros(0), offsets=np.zeros((0, 2))) == []


# --------------------------------------------------------------------------- pipeline

FRAMES = range(1, 4)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(input_size=(96, 128), head_conv=16, variant="centertrack")
    model = build_model(config)
    with torch.no_grad():  # centre scores around sigmoid(0) = 0.5 so random weights detect
        model.heads.heads.hm[2].bias.zero_()
        model.heads.heads.wh[2].bias.fill_(3.0)  # boxes about 6 x 6 output cells
    path = tmp_path_factory.mktemp("ckpt") / "ct.pt"
    torch.save({"model": model.state_dict(), "model_config": config.to_dict(),
                "pipeline_config": {"det_threshold": 0.5},
                "tracker_config": {"pre_thresh": 0.45, "min_box_area": 10.0}}, path)
    return path


@pytest.fixture(scope="module")
def frames():
    return [image for _, image in open_source("sample").frames(FRAMES)]


def test_pipeline_feeds_previous_image_and_track_heatmap(checkpoint, frames):
    pipeline = TrackingPipeline.from_checkpoint(checkpoint, frame_rate=7.0)
    assert pipeline.variant == "centertrack"
    assert isinstance(pipeline.tracker, CenterTrackTracker)
    assert pipeline.tracker_config.pre_thresh == 0.45
    assert pipeline.tracker_config.min_box_area == 10
    seen = []
    hook = pipeline.model.register_forward_pre_hook(
        lambda module, args: seen.append([a.detach().clone() for a in args]))
    try:
        results = [pipeline.step(f, timestamp=i / 7.0) for i, f in enumerate(frames)]
    finally:
        hook.remove()
    images, pre_images, pre_hms = zip(*seen, strict=True)
    # first frame: CenterTrack's initialisation (previous = current, empty heatmap)
    torch.testing.assert_close(pre_images[0], images[0])
    assert not pre_hms[0].any()
    lb = pipeline._letterbox
    for k in (1, 2):
        torch.testing.assert_close(pre_images[k], images[k - 1])
        kept = [t.box_xyxy for t in results[k - 1].tracks if t.score >= 0.45]
        assert kept, "the random model should output some tracks"
        expected = render_previous_heatmap(lb.boxes_to_input(np.array(kept)), (96, 128))
        np.testing.assert_array_equal(pre_hms[k][0].numpy(), expected)
    det = results[0].detections
    assert det.embeddings is None and det.offsets.shape == (len(det.boxes), 2)
    ids = sorted(t.track_id for t in results[0].tracks)
    assert ids == list(range(1, len(ids) + 1))
    # reset forgets the previous frame too
    pipeline.reset()
    seen.clear()
    hook = pipeline.model.register_forward_pre_hook(
        lambda module, args: seen.append([a.detach().clone() for a in args]))
    pipeline.step(frames[0])
    hook.remove()
    torch.testing.assert_close(seen[0][1], seen[0][0])
    assert not seen[0][2].any()
    # tracks scoring under pre_thresh are not drawn
    pipeline = TrackingPipeline.from_checkpoint(checkpoint, pre_thresh=0.99)
    seen.clear()
    hook = pipeline.model.register_forward_pre_hook(
        lambda module, args: seen.append([a.detach().clone() for a in args]))
    assert pipeline.step(frames[0]).tracks
    pipeline.step(frames[1])
    hook.remove()
    assert not seen[1][2].any()


def test_pipeline_settings_per_variant(checkpoint):
    pipeline = TrackingPipeline.from_checkpoint(checkpoint, max_age=3, track_buffer=9,
                                                refind=False)
    assert pipeline.tracker_config.max_age == 3 and pipeline.tracker_config.refind is False
    with pytest.raises(ValueError, match="unknown pipeline/tracker setting"):
        TrackingPipeline.from_checkpoint(checkpoint, max_ages=3)
    fair = build_model({"input_size": (64, 96), "head_conv": 8})
    with pytest.raises(ValueError, match="needs a centertrack-variant model"):
        TrackingPipeline(fair, tracker_config=CenterTrackConfig())
    assert isinstance(TrackingPipeline(fair).tracker, OUTracker)


def test_node_parameters_bag_eval_and_track_cli_run_the_variant(checkpoint, tmp_path):
    from utrack_ros.ros import params

    node = params.build_pipeline(params.validate({"weights": str(checkpoint), "device": "cpu",
                                                  "frame_rate": 7.0}))
    assert isinstance(node.tracker, CenterTrackTracker)
    assert node.tracker_config.max_age == 30  # tracker.track_buffer
    # bag-eval builds the node's pipeline from the same parameters
    bag = tmp_path / "bag"
    assert cli.main(["mot2bag", "sample", str(bag), "--frames",
                     f"{FRAMES.start}:{FRAMES.stop - 1}"]) == 0
    results = tmp_path / "bag.txt"
    assert cli.main(["bag-eval", str(bag), "--weights", str(checkpoint), "--device", "cpu",
                     "--results", str(results), "--no-progress"]) == 0
    offline, _ = track_source(TrackingPipeline.from_checkpoint(checkpoint), open_source("sample"),
                              FRAMES, progress=False)
    offline = offline[np.lexsort((offline[:, 1], offline[:, 0]))]
    got = read_mot_results(results)
    assert len(offline) > 0 and got.shape == offline.shape
    np.testing.assert_allclose(got, offline, atol=0.01)
    # utrack track, with public detections (births only near them)
    det = tmp_path / "det.txt"
    det.write_text("1,-1,100,100,40,100,0.9,-1,-1,-1\n")
    out = tmp_path / "track.txt"
    assert cli.main(["track", "sample", "--frames", "1:2", "--weights", str(checkpoint),
                     "--output", str(out), "--no-eval", "--public-det", str(det)]) == 0
    rows = read_mot_results(out)
    # one public box in frame 1, none in frame 2: one track at most, continued or not
    assert len(rows) >= 1 and set(rows[:, 1]) == {1} and (rows[:, 0] == 1).sum() == 1
