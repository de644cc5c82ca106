"""Training utilities: config files with overrides, distributed set-up, atomic checkpoints,
a resumable sampler and per-term loss logs (CSV, plus TensorBoard when installed)."""

from __future__ import annotations

import copy
import csv
import math
import os
import random
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml

# ----------------------------------------------------------------------------- config

DEFAULT_CONFIG: dict[str, Any] = {
    "model": {
        "backbone": "mobilenetv2",
        "input_size": [384, 512],
        "head_conv": None,
        "id_dim": 256,
        "occlusion": True,
        "pretrained": "imagenet",
        "variant": "fairmot",  # fairmot | centertrack (OTrack_ct)
    },
    "data": {
        "mot": [],
        "crowdhuman": [],
        "neg_ratio": 0.25,
        "max_frame_gap": 20,
        "occlusion_tau": 0.7,
    },
    "loss": {
        "reid": "unsupervised",  # unsupervised | supervised | none
        "placeholder": "mean",  # mean | zero | null
        "margin": 0.5,
        "temperature": None,  # null -> T = 2 log(C + 1)
        "terms": ["intra", "inter", "cycle"],
        "occ_weight": 0.5,
        "wh_weight": 0.1,
        "uncertainty": True,
        "tracking_weight": 1.0,  # centertrack variant: L1 of the tracking offsets
    },
    "train": {
        "epochs": 30,
        "batch_size": 4,  # pairs per process (2x images)
        "lr": 1.0e-4,
        "lr_steps": [20],  # epochs where lr is multiplied by 0.1 (FairMOT)
        "weight_decay": 0.0,
        "workers": 2,
        "seed": 0,
        "amp": True,  # CUDA only
        "grad_clip": 35.0,
        "log_every": 10,
        "save_every": 200,  # steps
        "max_minutes": None,  # stop (with a checkpoint) after this wall time
        "max_steps": None,  # stop (with a checkpoint) after this many optimiser steps
        "out_dir": "runs/default",
        "device": "cuda",  # falls back to cpu
    },
    "pipeline": {"det_threshold": 0.4},
    "tracker": {},
}


def deep_update(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``; unknown sections are errors."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``train.lr=2e-4`` -> (["train", "lr"], 2e-4); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ValueError(f"override {text!r} must look like section.key=value")
    return key.split("."), yaml.safe_load(raw)


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """Defaults <- YAML file <- ``--set section.key=value`` overrides."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} not found")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ValueError(f"{path} must contain a YAML mapping of sections")
        unknown = set(loaded) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; "
                             f"expected {sorted(DEFAULT_CONFIG)}")
        config = deep_update(config, loaded)
    for text in overrides:
        keys, value = parse_override(text)
        if keys[0] not in DEFAULT_CONFIG or len(keys) < 2:
            raise ValueError(f"override {text!r}: expected section.key=value with a section "
                             f"among {sorted(DEFAULT_CONFIG)}")
        node = config
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                raise ValueError(f"override {text!r}: {k!r} is not a config section")
            node = node[k]
        node[keys[-1]] = value
    return config


# ------------------------------------------------------------------------ distributed

def init_distributed() -> tuple[int, int, int]:
    """Initialise torch.distributed when launched by ``torchrun``; (rank, world, local_rank).

    A plain ``python train.py`` is a single process (rank 0, world 1, no process group).
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return rank, world, local_rank


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a scalar over processes (identity without a process group)."""
    if dist.is_available() and dist.is_initialized():
        value = value.detach().clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return value


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ------------------------------------------------------------------------ checkpoints

def save_checkpoint(state: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``state`` atomically: a temporary file in the same folder, then ``os.replace``.

    A process killed mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(dict(state), tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    required = {"model", "model_config", "optimizer", "epoch", "step"}
    missing = required - set(checkpoint)
    if missing:
        raise ValueError(
            f"{path} is not a resumable training checkpoint: missing {sorted(missing)}"
        )
    return checkpoint


# ----------------------------------------------------------------------------- sampler

class ResumableSampler(torch.utils.data.Sampler[int]):
    """Shuffled indices, sharded across processes, that can start mid-epoch.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees exactly
    the batches the killed run had not yet seen (``start_index`` counts this rank's samples).
    """

    def __init__(self, length: int, *, seed: int = 0, rank: int = 0, world: int = 1,
                 shuffle: bool = True) -> None:
        if length <= 0:
            raise ValueError("the training dataset is empty")
        self.length, self.seed, self.rank, self.world = length, seed, rank, world
        self.shuffle = shuffle
        self.epoch = 0
        self.start_index = 0
        self.per_rank = math.ceil(length / world)

    def set_epoch(self, epoch: int, start_index: int = 0) -> None:
        self.epoch, self.start_index = epoch, start_index

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        order += order[: self.per_rank * self.world - self.length]  # pad to divide evenly
        mine = order[self.rank :: self.world]
        return iter(mine[self.start_index :])

    def __len__(self) -> int:
        return self.per_rank - self.start_index


# ----------------------------------------------------------------------------- logging

class LossLogger:
    """Appends one row per logged step to ``losses.csv`` (+ TensorBoard if installed)."""

    def __init__(self, out_dir: str | Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(out_dir) / "losses.csv"
        self._fields: list[str] | None = None
        self._tb = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_file() and self.path.stat().st_size:
                with self.path.open() as f:
                    self._fields = next(csv.reader(f))
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(out_dir) / "tb"))
            except Exception:  # tensorboard not installed: CSV only
                self._tb = None

    def log(self, step: int, epoch: int, lr: float, terms: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "epoch": epoch, "lr": lr, "time": time.time(), **terms}
        if self._fields is None:
            self._fields = list(row)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(self._fields)
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in self._fields])
        if self._tb is not None:
            for key, value in terms.items():
                self._tb.add_scalar(f"loss/{key}", value, step)
            self._tb.add_scalar("lr", lr, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
