"""One training epoch: frame pairs -> JointDetector -> OUTrackLoss -> Adam step.

The centertrack variant's batches also carry ``pre_images`` and ``pre_hms``, passed to
the model as its extra inputs (its loss is ``CenterTrackLoss``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

import utils


class TrainModule(nn.Module):
    """The model and its loss in one module, so DDP synchronises both.

    The loss owns parameters too: FairMOT's uncertainty weights (s_det, s_id) and, for the
    supervised baseline only, the identity classifier. The unsupervised loss adds none.
    """

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, images: torch.Tensor, targets: Mapping[str, torch.Tensor],
                negative: torch.Tensor, pre_images: torch.Tensor | None = None,
                pre_hms: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        if pre_images is None and pre_hms is None:
            outputs = self.model(images)
        else:  # centertrack variant: previous image + previous-frame heatmap
            outputs = self.model(images, pre_images, pre_hms)
        outputs = {k: v.float() for k, v in outputs.items()}  # losses in fp32 under AMP
        return self.loss(outputs, targets, negative)


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device, non_blocking=True)
        elif isinstance(value, Mapping):
            out[key] = to_device(value, device)
        else:
            out[key] = value
    return out


def train_one_epoch(
    module: nn.Module,
    loader: torch.utils.data.DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device,
    epoch: int,
    step: int,
    scaler: torch.amp.GradScaler | None,
    logger: utils.LossLogger,
    log_every: int,
    grad_clip: float | None,
    on_step: Callable[[int], bool],
) -> tuple[int, dict[str, float], bool]:
    """Train over ``loader``; returns (global step, mean terms, stopped early).

    ``on_step(step)`` runs after every optimiser step (periodic checkpoints, time budget);
    returning True stops the epoch early.
    """
    module.train()
    sums: dict[str, float] = {}
    count = 0
    bar = tqdm(loader, desc=f"epoch {epoch}", unit="batch", disable=not utils.is_main_process(),
               dynamic_ncols=True)
    use_amp = scaler is not None
    for batch in bar:
        batch = to_device(batch, device)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            extra = {k: batch[k] for k in ("pre_images", "pre_hms") if k in batch}
            total, terms = module(batch["images"], batch["targets"], batch["negative"], **extra)
        if not torch.isfinite(total):
            raise FloatingPointError(f"non-finite loss at step {step}: {terms}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
        else:
            total.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        step += 1
        count += 1
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        if step % log_every == 0:
            lr = optimizer.param_groups[0]["lr"]
            logger.log(step, epoch, lr, {k: float(v) for k, v in terms.items()})
        bar.set_postfix({k: f"{float(terms[k]):.3f}" for k in ("total", "hm", "id", "occ",
                                                                "tracking")
                         if k in terms})
        if on_step(step):
            return step, {k: v / count for k, v in sums.items()}, True
    means = {k: v / max(count, 1) for k, v in sums.items()}
    return step, means, False


def format_terms(terms: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in terms.items() if math.isfinite(v))


class Deadline:
    """Wall-clock budget: ``expired()`` once ``minutes`` have passed (None = never)."""

    def __init__(self, minutes: float | None) -> None:
        self.end = None if minutes is None else time.monotonic() + 60.0 * float(minutes)

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end
