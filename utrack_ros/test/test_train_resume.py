"""End-to-end training on real frames: losses are finite, checkpoints resume exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[1] / "training"
sys.path.insert(0, str(TRAINING))

import train  # noqa: E402  (training/ is a script folder)

TINY = [
    "model.input_size=[64, 96]",
    "model.pretrained=null",
    "model.head_conv=16",
    "model.id_dim=32",
    "data.mot=[{path: sample, frames: '1:8'}]",
    "data.neg_ratio=0.0",
    "train.batch_size=2",
    "train.workers=0",
    "train.epochs=2",
    "train.lr_steps=[1]",
    "train.log_every=1",
    "train.save_every=1",
    "train.device=cpu",
]


def _run(out_dir: Path, *extra: str, resume: str | None = None) -> int:
    args = ["--out-dir", str(out_dir)]
    if resume is not None:
        args += ["--resume", resume]
    for override in (*TINY, *extra):
        args += ["--set", override]
    return train.main(args)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    torch.set_num_threads(1)  # bitwise-repeatable CPU kernels
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _run(straight) == 0
    # 8 pairs / batch 2 = 4 steps per epoch; stop in the middle of epoch 0 after 3 steps.
    assert _run(resumed, "train.max_steps=3") == 0
    ckpt = _load(resumed / "last.pt")
    assert (ckpt["epoch"], ckpt["step"], ckpt["samples_done"]) == (0, 3, 6)
    assert not (resumed / "final.pt").exists()
    assert _run(resumed, resume="auto") == 0

    done, reference = _load(resumed / "final.pt"), _load(straight / "final.pt")
    assert (done["epoch"], done["step"]) == (reference["epoch"], reference["step"]) == (2, 8)
    assert done["scheduler"]["last_epoch"] == 2
    for name, tensor in reference["model"].items():
        torch.testing.assert_close(done["model"][name], tensor, rtol=0, atol=0, msg=name)
    # Every step was logged once, with every loss term finite.
    lines = (resumed / "losses.csv").read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(1, 9))
    for term in ("hm", "wh", "reg", "occ", "id", "total"):
        values = [float(r[header.index(term)]) for r in rows]
        assert all(v == v and abs(v) < 1e6 for v in values), term


def test_inference_checkpoint_loads_in_the_pipeline(tmp_path):
    from utrack_ros.model import ModelConfig, build_model
    from utrack_ros.pipeline import TrackingPipeline

    config = ModelConfig(backbone="mobilenetv2", input_size=(64, 96), head_conv=16, id_dim=32)
    model = build_model(config)
    path = tmp_path / "model.pt"
    torch.save(train.inference_checkpoint(model, config, {"pipeline": {"det_threshold": 0.3},
                                                          "tracker": {"refind": False}}), path)
    pipeline = TrackingPipeline.from_checkpoint(path)
    assert pipeline.config.det_threshold == 0.3 and pipeline.tracker_config.refind is False
    assert pipeline.config.input_size == (64, 96)
