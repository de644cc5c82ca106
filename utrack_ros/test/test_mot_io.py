"""MOTChallenge files, sequences, frame ranges and frame sources."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from utrack_ros.data import (
    MOTSequence,
    half_split,
    load_mot_det,
    load_mot_gt,
    parse_frame_range,
    read_mot_results,
    read_seqinfo,
    write_mot_results,
)
from utrack_ros.data.sources import open_source
from utrack_ros.resources import sample_sequence_path


def test_sample_sequence_is_video_backed_pets09():
    seq = MOTSequence(sample_sequence_path())
    assert (seq.name, seq.length, seq.info.frame_rate) == ("PETS09-S2L1", 795, 7.0)
    image = seq.frame(1)
    assert image.shape == (576, 768, 3) and image.dtype == np.uint8


def test_sample_gt_is_mot15_layout():
    gt = load_mot_gt(sample_sequence_path() / "gt" / "gt.txt")
    assert len(gt) == 4650 and not gt.has_visibility
    assert np.isnan(gt.visibility).all() and (gt.cls == 1).all()
    # SOURCES.md: 4476 rows have the consider flag set.
    assert len(gt.pedestrians()) == 4476
    assert len(np.unique(gt.track_id)) == 19


def test_mot17_gt_class_and_visibility(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text(
        "1,1,10,20,30,40,1,1,0.8\n"
        "1,2,50,20,30,40,1,7,1.0\n"  # static person: distractor class
        "2,1,12,20,30,40,0,1,0.1\n"  # ignored by the benchmark
    )
    gt = load_mot_gt(path)
    assert gt.has_visibility
    np.testing.assert_allclose(gt.visibility, [0.8, 1.0, 0.1])
    ped = gt.pedestrians()
    assert ped.track_id.tolist() == [1] and ped.frame.tolist() == [1]
    np.testing.assert_allclose(gt.boxes_xyxy[0], [10, 20, 40, 60])


def test_det_file_and_per_frame_boxes(tmp_path):
    path = tmp_path / "det.txt"
    path.write_text("1,-1,10,20,30,40,0.9,-1,-1,-1\n2,-1,0,0,10,10,0.5,-1,-1,-1\n")
    det = load_mot_det(path)
    boxes, scores = det.at(1)
    np.testing.assert_allclose(boxes, [[10, 20, 40, 60]])
    np.testing.assert_allclose(scores, [0.9])
    assert det.at(3)[0].shape == (0, 4)


def test_results_round_trip_sorted_and_atomic(tmp_path):
    rows = np.array([[2, 1, 1, 2, 3, 4, 0.5], [1, 2, 5, 6, 7, 8, 0.9], [1, 1, 0, 0, 1, 1, 1]])
    path = write_mot_results(tmp_path / "out" / "seq.txt", rows)
    back = read_mot_results(path)
    np.testing.assert_allclose(back[:, :2], [[1, 1], [1, 2], [2, 1]])
    assert path.read_text().splitlines()[0].endswith(",-1,-1,-1")
    assert [p.name for p in path.parent.iterdir()] == ["seq.txt"]


def test_empty_results_file(tmp_path):
    path = write_mot_results(tmp_path / "empty.txt", np.zeros((0, 7)))
    assert read_mot_results(path).shape == (0, 7)


def test_malformed_files_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="columns"):
        load_mot_gt(bad)
    bad.write_text("a,b,c,d,e,f,g\n")
    with pytest.raises(ValueError, match="comma-separated"):
        load_mot_gt(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mot_gt(tmp_path / "missing.txt")


def test_seqinfo_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="seqinfo.ini"):
        read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nname=x\nframeRate=10\n")
    with pytest.raises(ValueError, match="seqLength"):
        read_seqinfo(tmp_path)


def test_half_split_is_the_papers():
    train, val = half_split(795)
    assert (train.start, train.stop - 1, val.start, val.stop - 1) == (1, 397, 398, 795)
    with pytest.raises(ValueError):
        half_split(1)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("all", (1, 10)), ("first-half", (1, 5)), ("second-half", (6, 10)), ("3:7", (3, 7)),
     (":4", (1, 4)), ("8:", (8, 10))],
)
def test_parse_frame_range(spec, expected):
    frames = parse_frame_range(spec, 10)
    assert (frames.start, frames.stop - 1) == expected


@pytest.mark.parametrize("spec", ["half", "0:3", "5:3", "1:11", "x:y"])
def test_parse_frame_range_rejects(spec):
    with pytest.raises(ValueError, match="frame range"):
        parse_frame_range(spec, 10)


def _write_video(path, frames: int, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, size)
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 20 * i, dtype=np.uint8)
        writer.write(image)
    writer.release()


def test_open_source_video_and_frame_subset(tmp_path):
    path = tmp_path / "clip.avi"
    _write_video(path, 6)
    source = open_source(path)
    assert (source.length, source.frame_rate, source.sequence) == (6, 5.0, None)
    got = list(source.frames(range(3, 5)))
    assert [i for i, _ in got] == [3, 4]
    # Frame brightness encodes its index (MJPG is lossy: compare the mean).
    assert abs(got[0][1].mean() - 40) < 4 and abs(got[1][1].mean() - 60) < 4


def test_open_source_image_folder(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((8, 8, 3), i, np.uint8))
    source = open_source(tmp_path)
    frames = list(source.frames())
    assert source.length == 3 and [int(img[0, 0, 0]) for _, img in frames] == [0, 1, 2]


def test_open_source_sample_and_errors(tmp_path):
    assert open_source("sample").sequence is not None
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no seqinfo.ini and no images"):
        open_source(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a MOT sequence"):
        open_source(tmp_path / "notes.txt")
