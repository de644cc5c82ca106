"""TrackingPipeline on real frames with a small real model (random weights, fixed seed)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from utrack_ros import cli
from utrack_ros.data.mot import read_mot_results
from utrack_ros.data.sources import open_source
from utrack_ros.model import ModelConfig, build_model
from utrack_ros.pipeline import (
    PipelineConfig,
    TrackingPipeline,
    public_detection_filter,
    resolve_device,
)
from utrack_ros.tools import bag_eval
from utrack_ros.tools.track import track_source

FRAMES = range(1, 5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(backbone="mobilenetv2", input_size=(96, 128), head_conv=16, id_dim=32)
    model = build_model(config)
    with torch.no_grad():  # centre scores around sigmoid(0) = 0.5 so random weights detect
        model.heads.heads.hm[2].bias.zero_()
        model.heads.heads.wh[2].bias.fill_(3.0)  # boxes about 6 x 6 output cells
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save({"model": model.state_dict(), "model_config": config.to_dict(),
                "pipeline_config": {"det_threshold": 0.5}}, path)
    return path


@pytest.fixture(scope="module")
def frames():
    source = open_source("sample")
    return [image for _, image in source.frames(FRAMES)]


def test_step_returns_frame_pixel_results(checkpoint, frames):
    pipeline = TrackingPipeline.from_checkpoint(checkpoint)
    result = pipeline.step(frames[0], timestamp=0.0)
    det = result.detections
    assert len(det.boxes) > 0
    assert det.boxes.shape[1] == 4 and len(det.scores) == len(det.boxes)
    assert (det.boxes[:, [0, 2]] >= 0).all() and (det.boxes[:, [0, 2]] <= 768).all()
    assert (det.boxes[:, [1, 3]] >= 0).all() and (det.boxes[:, [1, 3]] <= 576).all()
    assert (det.scores >= 0.5).all()
    np.testing.assert_allclose(np.linalg.norm(det.embeddings, axis=1), 1.0, atol=1e-5)
    assert result.occlusion_centers.shape[1] == 2
    assert len(result.occlusion_scores) == len(result.occlusion_centers)
    assert result.model_time_s > 0 and result.total_time_s >= result.model_time_s
    # First frame: every confirmed track is new, ids from 1 without gaps.
    ids = sorted(t.track_id for t in result.tracks)
    assert ids == list(range(1, len(ids) + 1))


def test_reset_restarts_ids_and_runs_are_repeatable(checkpoint, frames):
    pipeline = TrackingPipeline.from_checkpoint(checkpoint)
    first = [[(t.track_id, *np.round(t.box_xyxy, 3)) for t in pipeline.step(f).tracks]
             for f in frames]
    pipeline.reset()
    again = [[(t.track_id, *np.round(t.box_xyxy, 3)) for t in pipeline.step(f).tracks]
             for f in frames]
    assert first == again


def test_overrides_reach_pipeline_and_tracker(checkpoint):
    pipeline = TrackingPipeline.from_checkpoint(checkpoint, input_size=(64, 96), refind=False,
                                                det_threshold=0.5, frame_rate=7)
    assert pipeline.config.input_size == (64, 96) and pipeline.config.det_threshold == 0.5
    assert pipeline.tracker_config.refind is False
    with pytest.raises(ValueError, match="unknown pipeline/tracker setting"):
        TrackingPipeline.from_checkpoint(checkpoint, det_treshold=0.5)


def test_no_reid_checkpoint_tracks_by_motion_only(checkpoint, tmp_path, frames):
    """A model trained with ``loss.reid: none`` has an untrained id head: its embeddings
    must not reach the tracker (FairMOT w/o Re-ID), unless the user asks for them."""
    ckpt = torch.load(checkpoint, weights_only=False)
    ckpt["training_config"] = {"loss": {"reid": "none"}}
    torch.save(ckpt, tmp_path / "no_reid.pt")
    pipeline = TrackingPipeline.from_checkpoint(tmp_path / "no_reid.pt")
    assert pipeline.config.use_embeddings is False
    result = pipeline.step(frames[0])
    assert len(result.detections.boxes) > 0 and result.detections.embeddings is None
    assert all(t.embedding is None for t in result.tracks)
    forced = TrackingPipeline.from_checkpoint(tmp_path / "no_reid.pt", use_embeddings=True)
    assert forced.step(frames[0]).detections.embeddings is not None
    assert TrackingPipeline.from_checkpoint(checkpoint).config.use_embeddings is True


def test_bad_checkpoints_and_images(checkpoint, tmp_path, frames):
    with pytest.raises(FileNotFoundError):
        TrackingPipeline.from_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a utrack_ros checkpoint"):
        TrackingPipeline.from_checkpoint(tmp_path / "other.pt")
    pipeline = TrackingPipeline.from_checkpoint(checkpoint)
    with pytest.raises(ValueError, match="single-channel"):
        pipeline.step(frames[0][:, :, 0])
    with pytest.raises(ValueError, match="uint8"):
        pipeline.step(frames[0].astype(np.float32))
    with pytest.raises(ValueError, match="empty"):
        pipeline.step(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="numpy"):
        pipeline.step("frame.jpg")
    with pytest.raises(ValueError, match="multiples of 32"):
        PipelineConfig(input_size=(100, 128))


def test_cuda_request_falls_back_to_cpu(caplog):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available: no fallback to test")
    with caplog.at_level(logging.WARNING):
        assert resolve_device("cuda").type == "cpu"
    assert "CUDA is not available" in caplog.text
    with pytest.raises(ValueError, match="device"):
        resolve_device("mps")


def test_public_detection_filter_by_hand():
    boxes = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [50, 50, 60, 60.0]])
    public = np.array([[0, 0, 10, 11.0]])  # IoU with box 0: 100/110
    tracks = np.array([[51, 50, 61, 60.0]])  # IoU with box 2: 90/110
    np.testing.assert_array_equal(public_detection_filter(boxes, public, tracks),
                                  [True, False, True])
    np.testing.assert_array_equal(public_detection_filter(boxes, public, np.zeros((0, 4)),
                                                          iou_threshold=0.95),
                                  [False, False, False])


def test_bag_eval_equals_offline_tracking_with_the_real_pipeline(checkpoint, tmp_path):
    bag = tmp_path / "bag"
    assert cli.main(["mot2bag", "sample", str(bag), "--frames",
                     f"{FRAMES.start}:{FRAMES.stop - 1}"]) == 0
    results = tmp_path / "bag.txt"
    args = cli.build_parser().parse_args(["bag-eval", str(bag), "--weights", str(checkpoint),
                                          "--results", str(results), "--no-progress"])
    pipeline = TrackingPipeline.from_checkpoint(checkpoint, frame_rate=7.0)
    assert bag_eval.run(args, pipeline=pipeline) == 0
    offline, _ = track_source(TrackingPipeline.from_checkpoint(checkpoint, frame_rate=7.0),
                              open_source("sample"), FRAMES, progress=False)
    offline = offline[np.lexsort((offline[:, 1], offline[:, 0]))]  # files sort by frame, id
    got = read_mot_results(results)
    assert len(offline) > 0 and got.shape == offline.shape
    np.testing.assert_allclose(got, offline, atol=0.01)  # results files keep 2 decimals
