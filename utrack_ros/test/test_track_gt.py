"""``utrack track-gt``: gt boxes as detections, visibility drops, refinding on vs off."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from utrack_ros.data.mot import MOTGroundTruth, load_mot_gt, read_mot_results
from utrack_ros.tools import track_gt
from utrack_ros.tools.track_gt import (
    GTDetectionSettings,
    frame_detections,
    load_sequence,
    overlap_visibility,
)

OCCLUDER = np.array([200.0, 100.0, 270.0, 300.0])  # near the camera (bottom 300)


def walker(t: int) -> np.ndarray:  # further away (bottom 250), walks right behind OCCLUDER
    x = 80.0 + 5.0 * t
    return np.array([x, 120.0, x + 40.0, 250.0])


def write_sequence(root, *, mot15: bool, frames: int = 60):
    """A MOT sequence dir: the walker passes behind the standing occluder."""
    seq = root / ("SYN-15" if mot15 else "SYN-17")
    (seq / "gt").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={seq.name}\nimDir=img1\nframeRate=30\nseqLength={frames}\n"
        "imWidth=640\nimHeight=480\nimExt=.jpg\n"
    )
    lines = []
    for f in range(1, frames + 1):
        boxes = {1: OCCLUDER, 2: walker(f)}
        vis = overlap_visibility(np.stack([OCCLUDER, walker(f)]))
        for (tid, b), v in zip(boxes.items(), vis, strict=True):
            l, t, w, h = b[0], b[1], b[2] - b[0], b[3] - b[1]
            tail = "1,-1,-1,-1" if mot15 else f"1,1,{v:.3f}"
            lines.append(f"{f},{tid},{l:.1f},{t:.1f},{w:.1f},{h:.1f},{tail}")
    (seq / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    return seq


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    track_gt.register(parser.add_subparsers())
    args = parser.parse_args(["track-gt", *argv])
    return args.func(args)


# --------------------------------------------------------------------------- visibility


def test_overlap_visibility_by_hand():
    far = [0.0, 0.0, 10.0, 10.0]  # bottom 10
    near = [5.0, 0.0, 15.0, 20.0]  # bottom 20: nearer, covers the right half of `far`
    np.testing.assert_allclose(overlap_visibility([far, near]), [0.5, 1.0])
    # Two nearer boxes overlapping each other: the union counts once, not the sum.
    near2 = [0.0, 5.0, 8.0, 30.0]  # covers far's [0, 8] x [5, 10] = 40, 15 of it shared
    np.testing.assert_allclose(overlap_visibility([far, near, near2])[0], 1 - (50 + 40 - 15) / 100)
    # Equal bottoms: neither is nearer.
    np.testing.assert_allclose(overlap_visibility([far, [5.0, 0.0, 15.0, 10.0]]), [1, 1])
    assert overlap_visibility(np.zeros((0, 4))).shape == (0,)


def _gt(frames, ids, boxes_xyxy, visibility=None) -> MOTGroundTruth:
    b = np.asarray(boxes_xyxy, dtype=np.float64)
    n = len(b)
    return MOTGroundTruth(
        frame=np.asarray(frames),
        track_id=np.asarray(ids),
        boxes_xywh=np.c_[b[:, :2], b[:, 2:] - b[:, :2]],
        consider=np.ones(n, bool),
        cls=np.ones(n, np.int64),
        visibility=np.full(n, np.nan) if visibility is None else np.asarray(visibility),
        has_visibility=visibility is not None,
    )


def test_frame_detections_drop_by_gt_visibility_column():
    gt = _gt([1, 1, 1], [1, 2, 3], [OCCLUDER, walker(24), [400, 0, 440, 100]], [1.0, 0.2, 0.3])
    boxes, centers, all_boxes = frame_detections(gt, 1, GTDetectionSettings(), None)
    assert len(all_boxes) == 3 and len(boxes) == 2  # 0.2 < 0.3 dropped, 0.3 kept
    np.testing.assert_allclose(boxes[0], OCCLUDER)
    # Eq. (9) centre of the occluder / hidden walker pair, from the full gt.
    assert centers.shape == (1, 2)
    inter = np.r_[
        np.maximum(OCCLUDER[:2], walker(24)[:2]), np.minimum(OCCLUDER[2:], walker(24)[2:])
    ]
    np.testing.assert_allclose(centers[0], (inter[:2] + inter[2:]) / 2)
    off = GTDetectionSettings(occlusion_centers=False, min_visibility=0.0)
    boxes, centers, _ = frame_detections(gt, 1, off, None)
    assert centers is None and len(boxes) == 3


def test_frame_detections_without_visibility_column_use_overlap():
    gt = _gt([1, 1], [1, 2], [OCCLUDER, walker(24)])  # MOT15-like: visibility NaN
    boxes, _, _ = frame_detections(gt, 1, GTDetectionSettings(min_visibility=0.3), None)
    np.testing.assert_allclose(boxes, OCCLUDER[None])  # the walker is fully behind
    with pytest.raises(ValueError, match="no visibility column"):
        frame_detections(gt, 1, GTDetectionSettings(visibility="gt"), None)
    none = GTDetectionSettings(visibility="none")
    assert len(frame_detections(gt, 1, none, None)[0]) == 2


def test_drop_rate_and_jitter_are_seeded():
    boxes = np.array([[i * 50.0, 0, i * 50.0 + 40, 100] for i in range(40)])
    gt = _gt(np.ones(40, int), np.arange(40), boxes)
    s = GTDetectionSettings(drop_rate=0.5, seed=3, visibility="none")
    a = frame_detections(gt, 1, s, np.random.default_rng(3))[0]
    b = frame_detections(gt, 1, s, np.random.default_rng(3))[0]
    c = frame_detections(gt, 1, s, np.random.default_rng(4))[0]
    np.testing.assert_array_equal(a, b)
    assert 5 < len(a) < 35 and (len(a) != len(c) or not np.array_equal(a, c))

    pair = _gt([1, 1], [1, 2], [OCCLUDER, walker(24)])
    jitter = GTDetectionSettings(occlusion_jitter=2.0)
    c0 = frame_detections(pair, 1, GTDetectionSettings(), None)[1]
    c1 = frame_detections(pair, 1, jitter, np.random.default_rng(0))[1]
    assert 0 < np.abs(c1 - c0).max() < 10


# --------------------------------------------------------------------------- command


@pytest.mark.parametrize("mot15", [False, True])
def test_track_gt_refinding_recovers_the_hidden_walker(tmp_path, capsys, mot15):
    seq = write_sequence(tmp_path, mot15=mot15)
    out_dir = tmp_path / "out"
    rc = run_cli(
        [str(seq), "--output", str(out_dir), "--json", str(tmp_path / "m.json"), "--no-progress"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    name = seq.name
    assert f"{name} refind-on" in printed and f"{name} refind-off" in printed
    assert "MOTA" in printed and "IDS" in printed and "refound boxes" in printed
    metrics = json.loads((tmp_path / "m.json").read_text())[name]
    on, off = metrics["refind-on"], metrics["refind-off"]
    assert on["refound"] > 5 and on["refound_on_gt"] == on["refound"]
    assert on["FN"] < off["FN"] and on["MOTA"] > off["MOTA"] and on["IDS"] <= off["IDS"]
    rows_on = read_mot_results(out_dir / "refind-on" / f"{name}.txt")
    rows_off = read_mot_results(out_dir / "refind-off" / f"{name}.txt")
    assert len(rows_on) > len(rows_off)
    # the walker keeps one id with refinding
    gt = load_mot_gt(seq / "gt" / "gt.txt")
    assert gt.has_visibility == (not mot15)
    assert len(np.unique(rows_on[:, 1])) == 2


def test_track_gt_second_half_and_single_mode(tmp_path, capsys):
    seq = write_sequence(tmp_path, mot15=False, frames=60)
    rc = run_cli(
        [
            str(seq / "gt" / "gt.txt"),
            "--frames",
            "second-half",
            "--refind",
            "off",
            "--set",
            "track_buffer=10",
            "--output",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "refind-off" in printed and "refind-on" not in printed
    rows = read_mot_results(tmp_path / "o" / "refind-off" / "SYN-17.txt")
    assert rows[:, 0].min() >= 31


def test_track_gt_errors(tmp_path):
    seq = write_sequence(tmp_path, mot15=False, frames=10)
    with pytest.raises(ValueError, match="drop-rate"):
        run_cli([str(seq), "--drop-rate", "1.5"])
    with pytest.raises(ValueError, match="TrackerConfig"):
        run_cli([str(seq), "--set", "refind_widow=3", "--no-progress"])
    loose = tmp_path / "gt.txt"
    loose.write_text((seq / "gt" / "gt.txt").read_text())
    with pytest.raises(ValueError, match="frame-rate"):
        load_sequence(loose, None, None)
    assert load_sequence(loose, None, 30.0).length == 10
    assert load_sequence(loose, seq / "seqinfo.ini", None).name == "SYN-17"
    with pytest.raises(FileNotFoundError):
        load_sequence(tmp_path / "missing", None, None)
