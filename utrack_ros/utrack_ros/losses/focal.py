"""Detection and occlusion losses: focal loss (Eq. 11-12), L1 offsets (Eq. 13), Eq. (14).

Conventions follow CenterNet/FairMOT (``models/losses.py`` there): heads output logits,
the focal loss sees ``clamp(sigmoid(x), 1e-4, 1 - 1e-4)``; gathered regressions are read
at the flat index ``ind = y * w + x`` of each object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

_EPS = 1e-4


def as_target(value: Any, ref: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``value`` (tensor or numpy) as a tensor on ``ref``'s device (``dtype`` if given)."""
    t = torch.as_tensor(value)
    return t.to(device=ref.device, dtype=dtype if dtype is not None else t.dtype)


def _check_same_shape(pred: torch.Tensor, gt: torch.Tensor, name: str) -> None:
    if pred.shape != gt.shape:
        raise ValueError(
            f"{name}: prediction and target must have the same shape, got "
            f"{tuple(pred.shape)} and {tuple(gt.shape)}"
        )


def focal_terms(pred_logits: torch.Tensor, gt: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Un-normalised focal loss ``sum_xy L(Y, Y_hat)`` of Eq. (11)-(12) and ``#(gt == 1)``.

    ``L`` is Eq. (12) with ``alpha = 2``, ``beta = 4`` on ``Y_hat = clamp(sigmoid(logit),
    1e-4, 1 - 1e-4)`` (CenterNet's ``_sigmoid``), summed over all elements.
    """
    if not isinstance(pred_logits, torch.Tensor):
        raise ValueError(f"pred_logits must be a torch.Tensor, got {type(pred_logits).__name__}")
    pred = pred_logits.float()
    gt_t = as_target(gt, pred, torch.float32)
    _check_same_shape(pred, gt_t, "focal_loss")
    y_hat = torch.clamp(torch.sigmoid(pred), min=_EPS, max=1 - _EPS)
    pos = gt_t.eq(1).float()
    neg = gt_t.lt(1).float()
    pos_loss = torch.log(y_hat) * torch.pow(1 - y_hat, 2) * pos
    neg_loss = torch.log(1 - y_hat) * torch.pow(y_hat, 2) * torch.pow(1 - gt_t, 4) * neg
    return -(pos_loss.sum() + neg_loss.sum()), pos.sum()


def focal_loss(pred_logits: torch.Tensor, gt: Any) -> torch.Tensor:
    """Heatmap focal loss, Eq. (11)-(12), normalised as CenterNet.

    Args:
        pred_logits: ``[B, C, h, w]`` (any shape) heatmap logits.
        gt: ground-truth heatmap of the same shape, peaks exactly 1.

    Returns:
        Scalar: the summed Eq. (12) loss divided by the number of positives
        (``gt == 1``), or by 1 when there is none (CenterNet's convention).
    """
    total, num_pos = focal_terms(pred_logits, gt)
    return total / torch.clamp(num_pos, min=1.0)


def gather_feat(pred_map: torch.Tensor, ind: Any) -> torch.Tensor:
    """Read ``pred_map [B, C, h, w]`` at flat indices ``ind [B, M]`` -> ``[B, M, C]``."""
    if not isinstance(pred_map, torch.Tensor) or pred_map.dim() != 4:
        raise ValueError(
            "pred_map must be a [B, C, h, w] tensor, got "
            f"{tuple(pred_map.shape) if isinstance(pred_map, torch.Tensor) else pred_map!r}"
        )
    b, c, h, w = pred_map.shape
    ind_t = as_target(ind, pred_map, torch.int64)
    if ind_t.dim() != 2 or ind_t.shape[0] != b:
        raise ValueError(f"ind must have shape [B={b}, M], got {tuple(ind_t.shape)}")
    if ind_t.numel() and (bool((ind_t < 0).any()) or bool((ind_t >= h * w).any())):
        raise ValueError(f"ind values must be flat indices in [0, h*w = {h * w})")
    flat = pred_map.reshape(b, c, h * w).permute(0, 2, 1)  # [B, hw, C]
    return flat.gather(1, ind_t.unsqueeze(2).expand(-1, -1, c))


def _l1_terms(
    pred_map: torch.Tensor, ind: Any, mask: Any, target: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``sum |pred[ind] - target| * mask`` over objects and channels, and ``mask.sum()``."""
    pred = gather_feat(pred_map, ind).float()  # [B, M, C]
    mask_t = as_target(mask, pred, torch.float32)
    target_t = as_target(target, pred, torch.float32)
    if mask_t.shape != pred.shape[:2]:
        raise ValueError(
            f"mask must have shape [B, M] = {tuple(pred.shape[:2])}, got {tuple(mask_t.shape)}"
        )
    _check_same_shape(pred, target_t, "L1 target [B, M, C]")
    m = mask_t.unsqueeze(2)
    return (torch.abs(pred - target_t) * m).sum(), mask_t.sum()


def reg_l1_loss(pred_map: torch.Tensor, ind: Any, mask: Any, target: Any) -> torch.Tensor:
    """Masked L1 regression at object centres (``wh``, ``reg``; Eq. 13 style).

    FairMOT's ``RegL1Loss`` normalisation: ``sum |pred[ind] - target| * mask`` divided by
    ``mask.sum() * C + 1e-4`` (the mask is expanded over the ``C`` channels), i.e. the
    mean absolute error per masked coordinate; 0 when nothing is masked.

    Args:
        pred_map: ``[B, C, h, w]`` regression map.
        ind: ``[B, M]`` int flat indices ``y * w + x``.
        mask: ``[B, M]`` 1 for valid rows, 0 for padding.
        target: ``[B, M, C]``.
    """
    total, num = _l1_terms(pred_map, ind, mask, target)
    return total / (num * pred_map.shape[1] + _EPS)


def occlusion_loss_terms(
    outputs: Mapping[str, torch.Tensor], targets: Mapping[str, Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two parts of Eq. (14): ``(L_occ^cen / N_occ, L_occ^off / N_occ)``.

    ``L_occ^cen`` is the summed focal loss (Eq. 11-12) of ``outputs["occ"]`` against
    ``targets["occ"]``; ``L_occ^off`` the summed L1 (both coordinates) of
    ``outputs["occ_off"]`` at ``targets["occ_ind"]`` (Eq. 13); ``N_occ = sum
    targets["occ_mask"]`` is the number of valid occlusions over the batch, replaced by
    1 when there is none (then only the focal negatives contribute).
    """
    for key, src in (("occ", outputs), ("occ_off", outputs)):
        if key not in src:
            raise ValueError(f"outputs has no '{key}' head (model built with occlusion=False?)")
    for key in ("occ", "occ_off", "occ_ind", "occ_mask"):
        if key not in targets:
            raise ValueError(f"targets has no '{key}' entry (expected build_targets output)")
    cen, _ = focal_terms(outputs["occ"], targets["occ"])
    off, n_occ = _l1_terms(
        outputs["occ_off"], targets["occ_ind"], targets["occ_mask"], targets["occ_off"]
    )
    n = torch.clamp(n_occ, min=1.0)
    return cen / n, off / n


def occlusion_loss(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, Any]) -> torch.Tensor:
    """Occlusion estimation loss, Eq. (14): ``(L_occ^cen + L_occ^off) / sum_ij H(o_ij)``.

    See :func:`occlusion_loss_terms` for the parts; the denominator is guarded to 1 when
    the batch has no valid occlusion.
    """
    cen, off = occlusion_loss_terms(outputs, targets)
    return cen + off
