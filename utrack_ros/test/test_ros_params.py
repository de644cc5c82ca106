"""The node's parameters, its YAML, and its rclpy-free per-frame machinery."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from utrack_ros.pipeline import PipelineConfig
from utrack_ros.ros import convert, params
from utrack_ros.ros.processor import FrameProcessor, LatestSlot, ThroughputStats
from utrack_ros.ros.typestore import msg_types
from utrack_ros.tracking import TrackerConfig

PACKAGE = Path(__file__).resolve().parents[1]
CONFIG = PACKAGE / "config" / "tracker.yaml"


def test_config_yaml_lists_every_parameter_with_its_default():
    values = params.load_params_file(CONFIG)
    assert sorted(values) == sorted(params.SPECS)
    for name, default in params.defaults().items():
        assert type(values[name]) is type(default), name
        assert values[name] == pytest.approx(default), name


def test_config_yaml_comments_every_parameter():
    lines = CONFIG.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":"):
            continue
        j = i - 1
        while j >= 0 and lines[j].strip() and not lines[j].lstrip().startswith("#"):
            j -= 1
        assert j >= 0 and lines[j].lstrip().startswith("#"), f"uncommented: {stripped}"
    assert list(yaml.safe_load(CONFIG.read_text())) == [params.NODE_NAME]


def test_tracker_parameters_are_the_tracker_config_fields():
    fields = {f.name: f for f in dataclasses.fields(TrackerConfig)}
    tracker_specs = [p for p in params.PARAMETERS if p.name.startswith("tracker.")]
    assert {p.target for p in tracker_specs} == set(fields)
    assert set(params.TRACKER_DESCRIPTIONS) == set(fields)
    defaults = TrackerConfig()
    for p in tracker_specs:
        assert p.default == getattr(defaults, p.target)


def test_overrides_are_pipeline_or_tracker_settings():
    _, device, overrides = params.pipeline_arguments(params.defaults())
    known = {f.name for f in dataclasses.fields(PipelineConfig)} | {
        f.name for f in dataclasses.fields(TrackerConfig)}
    assert set(overrides) <= known
    assert device == "cuda" and "input_size" not in overrides  # 0x0 = the checkpoint's
    # The node's defaults are the classes' defaults, so the node, bag-eval and
    # `utrack track` agree unless a checkpoint stores its own settings.
    pipeline_defaults = PipelineConfig()
    for key, value in overrides.items():
        if hasattr(pipeline_defaults, key) and key != "min_box_area":
            assert value == getattr(pipeline_defaults, key), key
    PipelineConfig(**{k: v for k, v in overrides.items()
                      if k in {f.name for f in dataclasses.fields(PipelineConfig)}})
    TrackerConfig(**{k: v for k, v in overrides.items() if hasattr(TrackerConfig(), k)})


def test_validate_collects_every_problem(tmp_path):
    with pytest.raises(ValueError) as err:
        params.validate({
            "det_threshold": 1.5, "qos_reliability": "sometimes", "input_height": 100,
            "device": "tpu", "weights": str(tmp_path / "missing.pt"), "qos_depth": "1",
            "tracker.track_buffer": -1, "no_such_param": 3,
        })
    text = str(err.value)
    for needle in ["det_threshold must be <= 1.0", "qos_reliability must be one of",
                   "input_height must be a multiple of 32", "device must be cpu, cuda",
                   "missing.pt' not found", "qos_depth must be a int",
                   "tracker.track_buffer must be >= 0", "unknown parameter(s) ['no_such_param']"]:
        assert needle in text, needle


def test_validate_input_size_pairs_and_int_for_float():
    with pytest.raises(ValueError, match="input_height and input_width must both be 0"):
        params.validate({"input_height": 320})
    values = params.validate({"input_height": 320, "input_width": 416, "det_threshold": 1,
                              "device": "cuda:1"})
    assert values["det_threshold"] == 1.0 and isinstance(values["det_threshold"], float)
    weights, device, overrides = params.pipeline_arguments(values)
    assert overrides["input_size"] == (320, 416) and device == "cuda:1" and weights is None


def test_load_params_file_sections(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    device: cpu\n    det_threshold: 0.2\n"
        "other_node:\n  ros__parameters:\n    device: cuda\n"
        "/robot/utrack_tracker:\n  ros__parameters:\n    det_threshold: 0.3\n"
        "    tracker:\n      refind: false\n")
    assert params.load_params_file(path) == {
        "device": "cpu", "det_threshold": 0.3, "tracker.refind": False}
    path.write_text("other_node:\n  ros__parameters: {}\n")
    with pytest.raises(ValueError, match="no section for node 'utrack_tracker'"):
        params.load_params_file(path)
    with pytest.raises(FileNotFoundError):
        params.load_params_file(tmp_path / "nope.yaml")


def test_latest_slot_drops_stale_frames_and_counts_them():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(0) == 3 and slot.take(0) is None
    assert (slot.received, slot.dropped) == (3, 2)

    # A slow consumer sees only the newest frames; every frame is received or dropped.
    slot = LatestSlot()
    seen: list[int] = []

    def consumer():
        while True:
            item = slot.take(1.0)
            if item is None and slot.closed:
                return
            if item is not None:
                seen.append(item)
                time.sleep(0.01)

    worker = threading.Thread(target=consumer)
    worker.start()
    for i in range(200):
        slot.put(i)
        time.sleep(0.0005)
    time.sleep(0.05)
    slot.close()
    worker.join(5)
    assert not worker.is_alive()
    assert seen[-1] == 199 and seen == sorted(seen)
    assert len(seen) + slot.dropped == 200 and slot.dropped > 0


def test_throughput_line():
    stats = ThroughputStats()
    stats.add(0.1, 0.06, 0.2)
    stats.add(0.3, 0.1, 0.4)
    stats.errors, stats.stale = 1, 2
    line = stats.line(dropped=5)
    assert "2 frames" in line and "200.0 ms/frame (80.0 ms model)" in line
    assert "latency 300 ms" in line and "dropped 5 (stale 2), errors 1" in line
    stats.restart()
    assert stats.frames == 0 and stats.total_s == 0.0


class RecordingPipeline:
    """Returns one fixed track; records what it was given."""

    def __init__(self):
        self.model_time_s = 0.0
        self.calls: list[tuple[tuple[int, ...], float | None]] = []
        self.resets = 0

    def reset(self):
        self.resets += 1

    def step(self, image, timestamp=None):
        self.calls.append((image.shape, timestamp))
        self.model_time_s = 0.002
        track = SimpleNamespace(track_id=3, box_xyxy=np.array([1.0, 2.0, 5.0, 9.0]),
                                score=0.5, state="tracked", is_new=False, age=4,
                                frames_since_detection=0)
        return SimpleNamespace(tracks=[track], occlusion_centers=np.array([[3.0, 4.0]]),
                               occlusion_scores=np.array([0.7]), model_time_s=0.002)


def test_frame_processor_uses_header_stamp_and_keeps_the_header():
    T = msg_types()
    pipeline = RecordingPipeline()
    proc = FrameProcessor(pipeline, T, debug_image=True, vision_msgs=True)
    image = np.zeros((6, 8, 3), np.uint8)
    msg = convert.bgr_to_image(T, image, convert.make_header(T, 1_700_000_002_500_000_000,
                                                             "cam"))
    out = proc.process(msg)
    assert pipeline.calls == [((6, 8, 3), pytest.approx(1_700_000_002.5))]
    for m in (out.tracks, out.occlusions, out.debug_image, out.detections):
        assert (m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id) == (
            1_700_000_002, 500_000_000, "cam")
    assert [o.track_id for o in out.tracks.objects] == [3]
    assert out.occlusions.points[0].score == pytest.approx(0.7)
    assert out.model_s == 0.002 and out.stamp_ns == 1_700_000_002_500_000_000
    assert proc.process(msg, debug_image=False).debug_image is None

    proc = FrameProcessor(pipeline, T, frame_id="base_link")
    out = proc.process(msg)
    assert out.tracks.header.frame_id == "base_link"
    assert out.debug_image is None and out.detections is None
    proc.reset()
    assert pipeline.resets == 1 and proc.last_stamp_ns is None

    bad = convert.bgr_to_image(T, image, msg.header)
    bad.encoding = "mono16"
    with pytest.raises(ValueError, match="8-bit colour or mono"):
        proc.process(bad)
