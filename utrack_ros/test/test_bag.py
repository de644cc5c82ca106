"""Bags without ROS: ``utrack mot2bag`` and ``utrack bag-eval`` on the shipped sample."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from utrack_ros import cli
from utrack_ros.data.mot import MOTSequence, load_mot_gt
from utrack_ros.data.sources import open_source
from utrack_ros.resources import sample_sequence_path
from utrack_ros.ros import bag as bags
from utrack_ros.ros import convert
from utrack_ros.tools import bag_eval
from utrack_ros.tools.track import track_source

FIRST, LAST = 1, 6  # a few frames of PETS09-S2L1 (768x576 at 7 Hz)
FPS = 7.0


@pytest.fixture(scope="module")
def sequence():
    seq = MOTSequence(sample_sequence_path())
    yield seq
    seq.close()


def make_bag(path, *extra):
    assert cli.main(["mot2bag", "sample", str(path), "--frames", f"{FIRST}:{LAST}",
                     *extra]) == 0
    return path


@pytest.fixture(scope="module")
def sqlite_bag(tmp_path_factory):
    return make_bag(tmp_path_factory.mktemp("bags") / "pets_sqlite")


@pytest.fixture(scope="module")
def mcap_bag(tmp_path_factory):
    return make_bag(tmp_path_factory.mktemp("bags") / "pets_mcap", "--storage", "mcap")


def read_all(path):
    with bags.open_bag(path) as reader:
        topics = {t: (i.msgtype, i.msgcount) for t, i in reader.topics.items()}
        custom = bags.bag_custom_data(reader)
        messages = {t: list(bags.iter_messages(reader, t)) for t in topics}
    return topics, custom, messages


@pytest.mark.parametrize("which", ["sqlite_bag", "mcap_bag"])
def test_mot2bag_reads_back(which, request, sequence):
    path = request.getfixturevalue(which)
    n = LAST - FIRST + 1
    suffix = ".db3" if which == "sqlite_bag" else ".mcap"
    assert any(p.suffix == suffix for p in path.iterdir())
    topics, custom, messages = read_all(path)
    assert topics == {"/camera/image_raw": ("sensor_msgs/msg/Image", n),
                      "/utrack/ground_truth": ("utrack_msgs/msg/TrackedObjectArray", n)}
    assert custom["utrack.sequence"] == "PETS09-S2L1"
    assert float(custom["utrack.frame_rate"]) == FPS
    assert (int(custom["utrack.first_frame"]), int(custom["utrack.last_frame"])) == (FIRST,
                                                                                     LAST)
    gt = load_mot_gt(sequence.gt_path)
    for frame, ((t_img, img), (t_gt, gtmsg)) in enumerate(
            zip(messages["/camera/image_raw"], messages["/utrack/ground_truth"], strict=True),
            start=FIRST):
        stamp = bags.EPOCH_NS + round((frame - 1) * 1e9 / FPS)
        assert t_img == t_gt == stamp
        assert convert.stamp_to_ns(img.header.stamp) == stamp
        assert convert.stamp_to_ns(gtmsg.header.stamp) == stamp
        assert img.header.frame_id == gtmsg.header.frame_id == "camera"
        assert (img.encoding, img.width, img.height) == ("bgr8", 768, 576)
        np.testing.assert_array_equal(convert.image_to_bgr(img), sequence.frame(frame))
        keep = gt.frame == frame
        expected = sorted(zip(gt.track_id[keep].tolist(), gt.boxes_xyxy[keep].tolist(),
                              strict=True))
        got = [(o.track_id, [o.x1, o.y1, o.x2, o.y2]) for o in gtmsg.objects]
        assert [i for i, _ in got] == [i for i, _ in expected]
        np.testing.assert_allclose([b for _, b in got], [b for _, b in expected], atol=1e-3)
        assert all(o.score == 1.0 for o in gtmsg.objects)
    first = {o.track_id: o for o in messages["/utrack/ground_truth"][0][1].objects}
    second = {o.track_id: o for o in messages["/utrack/ground_truth"][1][1].objects}
    assert all(o.state == 0 and o.age == 0 for o in first.values())
    assert all(second[i].state == 1 and second[i].age == 1 for i in set(first) & set(second))


def test_mot2bag_compressed_frames_and_refusal_to_overwrite(tmp_path, sequence):
    path = tmp_path / "c"
    assert cli.main(["mot2bag", "sample", str(path), "--frames", "4:5", "--compressed",
                     "--storage", "mcap", "--topic", "/cam/image", "--no-gt"]) == 0
    topics, custom, messages = read_all(path)
    assert topics == {"/cam/image/compressed": ("sensor_msgs/msg/CompressedImage", 2)}
    assert custom["utrack.first_frame"] == "4"
    (t, msg), _ = messages["/cam/image/compressed"]
    assert t == bags.frame_stamp_ns(4, FPS) and msg.format == "bgr8; jpeg compressed bgr8"
    diff = np.abs(convert.compressed_to_bgr(msg).astype(int) - sequence.frame(4)).mean()
    assert diff < 3.0

    assert cli.main(["mot2bag", "sample", str(path), "--frames", "4:5"]) == 2  # exists
    assert cli.main(["mot2bag", "sample", str(path), "--frames", "4:5", "--overwrite"]) == 0
    assert read_all(path)[0]["/camera/image_raw"] == ("sensor_msgs/msg/Image", 2)
    not_a_bag = tmp_path / "notes"
    not_a_bag.mkdir()
    (not_a_bag / "keep.txt").write_text("mine")
    assert cli.main(["mot2bag", "sample", str(not_a_bag), "--overwrite"]) == 2
    assert (not_a_bag / "keep.txt").read_text() == "mine"


def bag_eval_args(*argv):
    return cli.build_parser().parse_args(["bag-eval", *map(str, argv)])


@pytest.mark.parametrize("which", ["sqlite_bag", "mcap_bag"])
def test_bag_eval_of_ground_truth_as_tracks_is_perfect(which, request, tmp_path, capsys):
    path = request.getfixturevalue(which)
    out = tmp_path / "report.json"
    assert cli.main(["bag-eval", str(path), "--tracks-topic", "/utrack/ground_truth",
                     "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PETS09-S2L1" in text and "MOTA" in text
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["MOTA"] == pytest.approx(100.0)
    assert metrics["IDF1"] == pytest.approx(100.0)
    assert metrics["FP"] == 0 and metrics["FN"] == 0 and metrics["IDS"] == 0


def test_bag_eval_of_recorded_tracks_places_them_by_stamp(sqlite_bag, tmp_path, sequence):
    """A bag as `ros2 bag record` makes it (no custom data, receive times != stamps, one
    tracks message lost): tracks are matched to frames by header stamp."""
    _, _, messages = read_all(sqlite_bag)
    recorded = tmp_path / "recorded"
    with bags.BagWriter(recorded, "mcap") as out:
        out.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
        out.add_topic("/utrack/ground_truth", "utrack_msgs/msg/TrackedObjectArray")
        out.add_topic("/utrack_tracker/tracks", "utrack_msgs/msg/TrackedObjectArray")
        for i, ((t, img), (_, gt)) in enumerate(zip(messages["/camera/image_raw"],
                                                   messages["/utrack/ground_truth"],
                                                   strict=True)):
            out.write("/camera/image_raw", t + 5_000_000, img)
            out.write("/utrack/ground_truth", t + 6_000_000, gt)
            if i != 2:  # the node dropped frame 3
                out.write("/utrack_tracker/tracks", t + 90_000_000, gt)
    report = tmp_path / "r.json"
    args = bag_eval_args(recorded, "--tracks-topic", "/utrack_tracker/tracks",
                         "--gt-topic", "/utrack/ground_truth", "--json", report)
    assert bag_eval.run(args) == 0
    metrics = json.loads(report.read_text())["metrics"]
    missing = len(messages["/utrack/ground_truth"][2][1].objects)
    assert missing > 0
    assert metrics["FN"] == missing and metrics["FP"] == 0 and metrics["IDS"] == 0

    # The same, scored against the gt.txt: frames numbered by order from 1 here.
    args = bag_eval_args(recorded, "--tracks-topic", "/utrack_tracker/tracks",
                         "--gt", sequence.gt_path, "--frames", "1:6", "--json", report)
    assert bag_eval.run(args) == 0
    assert json.loads(report.read_text())["metrics"]["FN"] == missing


class DeterministicPipeline:
    """A stand-in for TrackingPipeline: tracks derived from the image and the time step.

    Six "tracks" at fixed x, with y from the image's column-band brightness and the time
    since the previous frame, ids from 1, ``age`` counting frames since reset.
    """

    def __init__(self):
        self.model_time_s = 0.0
        self.reset()

    def reset(self):
        self.frames = 0
        self.last_time = None

    def step(self, image, timestamp=None, public_detections=None):
        dt = 0.0 if self.last_time is None else timestamp - self.last_time
        self.last_time = timestamp
        self.frames += 1
        self.model_time_s = 0.001
        bands = image[:, : 6 * 64].reshape(image.shape[0], 6, 64, 3).mean(axis=(0, 2, 3))
        tracks = [
            SimpleNamespace(track_id=k + 1,
                            box_xyxy=np.array([64.0 * k, b + 70 * dt, 64.0 * k + 30,
                                               b + 70 * dt + 80]),
                            score=float(b) / 255, state="refound" if k == 4 else "tracked",
                            is_new=self.frames == 1, age=self.frames - 1,
                            frames_since_detection=int(k == 4))
            for k, b in enumerate(bands)
        ]
        return SimpleNamespace(tracks=tracks, occlusion_centers=np.array([[10.0, 20.0]]),
                               occlusion_scores=np.array([0.5]), model_time_s=0.001)


def test_bag_eval_runs_the_pipeline_like_the_offline_tracker(sqlite_bag, tmp_path, capsys):
    output = tmp_path / "out"
    results = tmp_path / "res.txt"
    report = tmp_path / "r.json"
    args = bag_eval_args(sqlite_bag, "--output", output, "--storage", "mcap", "--debug-image",
                         "--vision-msgs", "--results", results, "--json", report,
                         "--no-progress")
    assert bag_eval.run(args, pipeline=DeterministicPipeline()) == 0
    text = capsys.readouterr().out
    assert "frames/s" in text and "outside the model" in text and "MOTA" in text

    source = open_source(sample_sequence_path())
    expected, _ = track_source(DeterministicPipeline(), source, range(FIRST, LAST + 1),
                               progress=False)
    from utrack_ros.data.mot import read_mot_results

    got = read_mot_results(results)
    assert got.shape == expected.shape == (6 * (LAST - FIRST + 1), 7)
    np.testing.assert_allclose(got, expected, atol=0.01)  # results file has 2 decimals

    timing = json.loads(report.read_text())["timing"]
    assert timing["frames"] == LAST - FIRST + 1
    assert timing["model_seconds"] == pytest.approx(0.001 * (LAST - FIRST + 1))
    assert 0.0 < timing["outside_model_share"] <= 1.0

    topics, _, messages = read_all(output)
    n = LAST - FIRST + 1
    assert topics == {
        "/utrack_tracker/tracks": ("utrack_msgs/msg/TrackedObjectArray", n),
        "/utrack_tracker/occlusions": ("utrack_msgs/msg/OcclusionPointArray", n),
        "/utrack_tracker/debug_image": ("sensor_msgs/msg/Image", n),
        "/utrack_tracker/detections": ("vision_msgs/msg/Detection2DArray", n),
    }
    for frame, (t, msg) in enumerate(messages["/utrack_tracker/tracks"], start=FIRST):
        assert t == convert.stamp_to_ns(msg.header.stamp) == bags.frame_stamp_ns(frame, FPS)
        assert msg.header.frame_id == "camera"
        assert [o.state for o in msg.objects][4] == convert.STATE_REFOUND
    first = messages["/utrack_tracker/tracks"][0][1].objects
    assert all(o.state in (convert.STATE_NEW, convert.STATE_REFOUND) for o in first)
    debug = messages["/utrack_tracker/debug_image"][0][1]
    assert (debug.width, debug.height, debug.encoding) == (768, 576, "bgr8")

    # Scoring the written bag's tracks gives the same rows back.
    with bags.open_bag(output) as reader, bags.open_bag(sqlite_bag) as images:
        stamp_to_frame = bags.image_frames(images, "/camera/image_raw",
                                           bags.frame_map_for(images))
        rows, unmatched = bags.rows_from_tracks_topic(reader, "/utrack_tracker/tracks",
                                                      stamp_to_frame)
        det_rows, _ = bags.rows_from_tracks_topic(reader, "/utrack_tracker/detections",
                                                  stamp_to_frame)
    assert unmatched == 0
    np.testing.assert_allclose(rows, expected, atol=1e-3)
    np.testing.assert_allclose(det_rows[:, :6], expected[:, :6], atol=1e-3)


def test_bag_eval_frames_subset_starts_a_fresh_tracker(sqlite_bag):
    pipeline = DeterministicPipeline()
    run = bags.track_bag(pipeline, sqlite_bag, frames=range(3, 6), progress=False)
    assert run.frames == [3, 4, 5]
    assert sorted(set(run.rows[:, 0].astype(int))) == [3, 4, 5]
    assert run.frame_map.mode == "stamp"
    assert pipeline.frames == 3  # reset before frame 3, then 3 steps
    with pytest.raises(ValueError, match="no image .* maps to frames 40..50"):
        bags.track_bag(DeterministicPipeline(), sqlite_bag, frames=range(40, 51),
                       progress=False)


def test_frame_mapping_and_topic_errors(tmp_path, sqlite_bag):
    plain = tmp_path / "plain"
    with bags.BagWriter(plain, "sqlite3") as out:
        T = out.types
        out.add_topic("/a/image", "sensor_msgs/msg/Image")
        out.add_topic("/b/image", "sensor_msgs/msg/Image")
        for i in range(3):
            header = convert.make_header(T, 5_000_000_000 + i * 40_000_000, "c")
            img = convert.bgr_to_image(T, np.full((64, 400, 3), 10 * i, np.uint8), header)
            out.write("/a/image", 1 + i, img)
            out.write("/b/image", 1 + i, img)
    with pytest.raises(ValueError, match="2 image topics"):
        bags.track_bag(DeterministicPipeline(), plain, progress=False)
    with pytest.raises(ValueError, match="no topic /c/image; its image topics"):
        bags.track_bag(DeterministicPipeline(), plain, image_topic="/c/image", progress=False)
    with pytest.raises(ValueError, match="needs the frame rate"):
        bags.track_bag(DeterministicPipeline(), plain, image_topic="/a/image",
                       frame_mapping="stamp", progress=False)
    run = bags.track_bag(DeterministicPipeline(), plain, image_topic="/a/image",
                         progress=False)
    assert run.frame_map.mode == "order" and run.frames == [1, 2, 3]
    # Stamps 40 ms apart, numbered from the first image: 25 Hz is every frame, 50 Hz
    # every other one, and 12.5 Hz puts two images on one frame.
    run = bags.track_bag(DeterministicPipeline(), plain, image_topic="/a/image",
                         frame_rate=25.0, progress=False)
    assert run.frame_map.mode == "stamp" and run.frames == [1, 2, 3]
    with pytest.raises(ValueError, match="two images map to frame"):
        bags.track_bag(DeterministicPipeline(), plain, image_topic="/a/image",
                       frame_rate=12.5, progress=False)
    run = bags.track_bag(DeterministicPipeline(), plain, image_topic="/a/image",
                         frame_rate=50.0, progress=False)
    assert run.frames == [1, 3, 5]
    with pytest.raises(ValueError, match="utrack_msgs/msg/TrackedObjectArray, not a image"):
        bags.track_bag(DeterministicPipeline(), sqlite_bag,
                       image_topic="/utrack/ground_truth", progress=False)
    with pytest.raises(FileNotFoundError), bags.open_bag(tmp_path / "missing"):
        pass


def test_failed_run_leaves_no_partial_output(tmp_path, sqlite_bag):
    class Exploding(DeterministicPipeline):
        def step(self, image, timestamp=None, public_detections=None):
            if self.frames == 2:
                raise RuntimeError("boom")
            return super().step(image, timestamp)

    output = tmp_path / "partial"
    with pytest.raises(RuntimeError, match="boom"):
        bags.track_bag(Exploding(), sqlite_bag, output=output, progress=False)
    assert not output.exists()
