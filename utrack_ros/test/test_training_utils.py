"""Training utilities: config overrides, atomic checkpoints, the resumable sampler."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

import utils  # noqa: E402  (training/ is a script folder, not a package)


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.5\nloss:\n  reid: supervised\n")
    config = utils.load_config(path, ["train.epochs=3", "loss.placeholder=null",
                                      "model.input_size=[64, 96]"])
    assert config["train"]["lr"] == 0.5 and config["train"]["epochs"] == 3
    assert config["loss"]["reid"] == "supervised" and config["loss"]["placeholder"] is None
    assert config["model"]["input_size"] == [64, 96]
    assert config["train"]["batch_size"] == utils.DEFAULT_CONFIG["train"]["batch_size"]


@pytest.mark.parametrize("override", ["lr=1", "nosection.lr=1", "train.lr.x=1", "train"])
def test_bad_overrides_are_rejected(override):
    with pytest.raises(ValueError):
        utils.load_config(None, [override])


def test_unknown_config_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trian:\n  lr: 1\n")
    with pytest.raises(ValueError, match="unknown section"):
        utils.load_config(path)


def test_checkpoint_is_atomic_and_validated(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    good = {"model": {}, "model_config": {}, "optimizer": {}, "epoch": 1, "step": 7}
    utils.save_checkpoint(good, path)
    assert utils.load_checkpoint(path)["step"] == 7

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # killed while writing

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        utils.save_checkpoint({**good, "step": 8}, path)
    monkeypatch.undo()
    assert utils.load_checkpoint(path)["step"] == 7  # the previous checkpoint survives
    torch.save({"model": {}}, tmp_path / "weights_only.pt")
    with pytest.raises(ValueError, match="not a resumable"):
        utils.load_checkpoint(tmp_path / "weights_only.pt")


def test_sampler_resumes_where_it_stopped_and_shards():
    full = utils.ResumableSampler(10, seed=3)
    full.set_epoch(2)
    order = list(full)
    assert sorted(order) == list(range(10))
    resumed = utils.ResumableSampler(10, seed=3)
    resumed.set_epoch(2, start_index=4)
    assert list(resumed) == order[4:] and len(resumed) == 6
    other_epoch = utils.ResumableSampler(10, seed=3)
    other_epoch.set_epoch(3)
    assert list(other_epoch) != order
    shards = [utils.ResumableSampler(10, seed=3, rank=r, world=3) for r in range(3)]
    for s in shards:
        s.set_epoch(2)
    seen = [i for s in shards for i in s]
    assert len(seen) == 12 and set(seen) == set(range(10))  # padded to divide evenly


def test_loss_logger_appends_across_restarts(tmp_path):
    log = utils.LossLogger(tmp_path)
    log.log(1, 0, 1e-4, {"total": 2.0, "hm": 1.0})
    log.close()
    log = utils.LossLogger(tmp_path)  # a resumed run keeps the same columns
    log.log(2, 0, 1e-4, {"total": 1.5, "hm": 0.7})
    lines = (tmp_path / "losses.csv").read_text().splitlines()
    assert lines[0].startswith("step,epoch,lr,time,total,hm") and len(lines) == 3


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "training" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_are_valid(path):
    """Every shipped config parses, builds its model config, and names only known data keys
    (datasets that are not on this machine fail on their path, not on the spec)."""
    import train

    from utrack_ros.data import build_centertrack_dataset, build_training_dataset
    from utrack_ros.model import ModelConfig

    config = utils.load_config(path)
    model_config = ModelConfig.from_dict({**config["model"], "pretrained": None})
    spec = train.resolve_data_spec(config["data"], config["model"]["input_size"])
    build = (build_centertrack_dataset if model_config.variant == "centertrack"
             else build_training_dataset)
    try:
        dataset = build(spec)
    except FileNotFoundError as exc:
        assert "/data/" in str(exc)  # the documented dataset location
    else:
        assert len(dataset) > 0
