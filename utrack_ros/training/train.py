"""Train the OUTrack joint detector (paper §3.1, §3.2.1, §4.1).

Single process (CPU or one GPU):
    python utrack_ros/training/train.py --config utrack_ros/training/configs/pets09_mobilenetv2.yaml

Many GPUs (DDP; the same script):
    torchrun --nproc_per_node 8 utrack_ros/training/train.py --config CONFIG

Resume after a crash or kill (continues at the exact batch of the last checkpoint):
    python utrack_ros/training/train.py --config CONFIG --resume auto

Override any config value: ``--set train.lr=2e-4 --set loss.reid=supervised``.

The CenterTrack-style variant (OTrack_ct, paper Table 5) trains with the same script:
``--config utrack_ros/training/configs/pets09_centertrack_mobilenetv2.yaml`` or
``--set model.variant=centertrack`` (previous/current frame samples from the same data
spec, CenterTrack's heatmap disturbances ``data.pre_hm``, loss detection + 0.5 occlusion +
``loss.tracking_weight`` x tracking offsets, no Re-ID).
Outputs in ``train.out_dir``: ``last.pt`` (periodic, atomic), ``final.pt``, ``model.pt``
(inference-only weights for ``utrack track --weights``), ``losses.csv``, ``config.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.nn.parallel import DistributedDataParallel

from utrack_ros.data import (
    build_centertrack_dataset,
    build_training_dataset,
    collate_centertrack,
    collate_pairs,
)
from utrack_ros.losses import CenterTrackLoss, OUTrackLoss
from utrack_ros.model import ModelConfig, build_model
from utrack_ros.pipeline import resolve_device
from utrack_ros.resources import sample_sequence_path

import engine
import utils

LOGGER = logging.getLogger("train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="YAML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a config value")
    parser.add_argument("--resume", default=None,
                        help="checkpoint to resume from, or 'auto' for OUT_DIR/last.pt if any")
    parser.add_argument("--out-dir", type=Path, default=None, help="overrides train.out_dir")
    return parser.parse_args(argv)


def resolve_data_spec(data: dict[str, Any], input_size: list[int], seed: int = 0
                      ) -> dict[str, Any]:
    """The dataset spec with ``sample`` resolved to the shipped PETS09-S2L1 sequence."""
    spec = dict(data)
    spec["mot"] = [
        {**entry, "path": str(sample_sequence_path()) if entry.get("path") == "sample"
         else entry["path"]}
        for entry in data.get("mot", [])
    ]
    spec["input_size"] = list(input_size)
    spec.setdefault("seed", seed)
    return spec


def inference_checkpoint(model: torch.nn.Module, model_config: ModelConfig,
                         config: dict[str, Any]) -> dict[str, Any]:
    """The small dict ``TrackingPipeline.from_checkpoint`` needs (no optimiser state)."""
    return {
        "model": model.state_dict(),
        "model_config": dataclasses.asdict(model_config),
        "pipeline_config": dict(config.get("pipeline") or {}),
        "tracker_config": dict(config.get("tracker") or {}),
        "training_config": config,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = utils.load_config(args.config, args.overrides)
    if args.out_dir is not None:
        config["train"]["out_dir"] = str(args.out_dir)
    train_cfg = config["train"]
    out_dir = Path(train_cfg["out_dir"])

    rank, world, local_rank = utils.init_distributed()
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    device = resolve_device(train_cfg["device"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
    utils.seed_everything(int(train_cfg["seed"]) + rank)

    # ---------------------------------------------------------------- data
    centertrack = ModelConfig.from_dict(config["model"]).variant == "centertrack"
    build_dataset = build_centertrack_dataset if centertrack else build_training_dataset
    dataset = build_dataset(resolve_data_spec(
        config["data"], config["model"]["input_size"], int(train_cfg["seed"])))
    sampler = utils.ResumableSampler(len(dataset), seed=int(train_cfg["seed"]), rank=rank,
                                     world=world)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=int(train_cfg["batch_size"]), sampler=sampler,
        num_workers=int(train_cfg["workers"]),
        collate_fn=collate_centertrack if centertrack else collate_pairs, drop_last=True,
        pin_memory=device.type == "cuda", persistent_workers=False,
    )
    steps_per_epoch = len(sampler) // int(train_cfg["batch_size"])
    if steps_per_epoch == 0:
        raise ValueError(f"{len(dataset)} training pairs are fewer than one batch of "
                         f"{train_cfg['batch_size']} per process")

    # ---------------------------------------------------------------- model + loss
    model_config = ModelConfig.from_dict(config["model"])
    model = build_model(model_config)
    loss_cfg = config["loss"]
    loss: torch.nn.Module
    if model_config.variant == "centertrack":
        loss = CenterTrackLoss(
            occlusion=model_config.occlusion,
            occ_weight=float(loss_cfg["occ_weight"]),
            wh_weight=float(loss_cfg["wh_weight"]),
            tracking_weight=float(loss_cfg.get("tracking_weight", 1.0)),
        )
    else:
        loss = OUTrackLoss(
            reid=loss_cfg["reid"],
            num_ids=getattr(dataset, "num_ids", None),
            id_dim=model_config.id_dim,
            occlusion=model_config.occlusion,
            occ_weight=float(loss_cfg["occ_weight"]),
            wh_weight=float(loss_cfg["wh_weight"]),
            margin=float(loss_cfg["margin"]),
            placeholder=loss_cfg["placeholder"],
            temperature=loss_cfg["temperature"],
            terms=tuple(loss_cfg["terms"]),
            uncertainty=bool(loss_cfg["uncertainty"]),
        )
    module = engine.TrainModule(model, loss).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=float(train_cfg["lr"]),
                                 weight_decay=float(train_cfg["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[int(e) for e in train_cfg["lr_steps"]], gamma=0.1)
    scaler = (torch.amp.GradScaler("cuda") if device.type == "cuda" and train_cfg["amp"]
              else None)

    # ---------------------------------------------------------------- resume
    epoch, step, samples_done = 0, 0, 0
    resume = args.resume
    if resume == "auto":
        resume = out_dir / "last.pt" if (out_dir / "last.pt").is_file() else None
    if resume is not None:
        ckpt = utils.load_checkpoint(resume)
        model.load_state_dict(ckpt["model"])
        if ckpt.get("loss_state") is not None:
            loss.load_state_dict(ckpt["loss_state"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler") is not None:
            scaler.load_state_dict(ckpt["scaler"])
        epoch, step = int(ckpt["epoch"]), int(ckpt["step"])
        samples_done = int(ckpt.get("samples_done", 0))
        LOGGER.info("resumed from %s at epoch %d, step %d", resume, epoch, step)

    train_module: torch.nn.Module = module
    if world > 1 or (torch.distributed.is_available() and torch.distributed.is_initialized()):
        train_module = DistributedDataParallel(
            module, device_ids=[local_rank] if device.type == "cuda" else None,
            find_unused_parameters=loss_cfg["reid"] == "none" and not centertrack)

    main_process = utils.is_main_process()
    if main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    logger = utils.LossLogger(out_dir, enabled=main_process)
    deadline = engine.Deadline(train_cfg["max_minutes"])
    batch_size = int(train_cfg["batch_size"])
    LOGGER.info("%d pairs, %d processes, %d steps/epoch, device %s, %d epochs",
                len(dataset), world, steps_per_epoch, device, train_cfg["epochs"])

    def state(epoch_index: int, done_in_epoch: int) -> dict[str, Any]:
        return {
            **inference_checkpoint(model, model_config, config),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "loss_state": loss.state_dict(),
            "epoch": epoch_index,
            "step": step,
            "samples_done": done_in_epoch,
            "config": config,
        }

    stopped = False
    while epoch < int(train_cfg["epochs"]) and not stopped:
        sampler.set_epoch(epoch, start_index=samples_done)
        dataset.set_epoch(epoch)  # per-item randomness is keyed on (seed, epoch, index)
        epoch_start_step = step - samples_done // batch_size

        def on_step(current: int, _epoch: int = epoch, _start: int = epoch_start_step) -> bool:
            nonlocal step
            step = current
            max_steps = train_cfg["max_steps"]
            timed_out = deadline.expired() or (max_steps is not None and current >= max_steps)
            if main_process and (current % int(train_cfg["save_every"]) == 0 or timed_out):
                utils.save_checkpoint(state(_epoch, (current - _start) * batch_size),
                                      out_dir / "last.pt")
            return timed_out

        step, means, stopped = engine.train_one_epoch(
            train_module, loader, optimizer, device=device, epoch=epoch, step=step,
            scaler=scaler, logger=logger, log_every=int(train_cfg["log_every"]),
            grad_clip=train_cfg["grad_clip"], on_step=on_step)
        if stopped:
            LOGGER.info("budget (max_minutes %s, max_steps %s) reached at step %d: "
                        "checkpoint saved", train_cfg["max_minutes"], train_cfg["max_steps"], step)
            break
        epoch += 1
        samples_done = 0
        scheduler.step()
        LOGGER.info("epoch %d done: %s", epoch, engine.format_terms(means))
        if main_process:
            utils.save_checkpoint(state(epoch, 0), out_dir / "last.pt")

    if main_process:
        if not stopped:
            utils.save_checkpoint(state(epoch, 0), out_dir / "final.pt")
        utils.save_checkpoint(inference_checkpoint(model, model_config, config),
                              out_dir / "model.pt")
        LOGGER.info("%s: %s", "stopped" if stopped else "finished", out_dir / "model.pt")
    logger.close()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
