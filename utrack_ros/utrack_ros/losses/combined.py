"""The full OUTrack training loss: detection + occlusion + Re-ID (Eq. 6-8, 11-14)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .focal import as_target, focal_loss, gather_feat, occlusion_loss_terms, reg_l1_loss
from .reid import (
    REID_TERMS,
    check_placeholder,
    check_temperature,
    check_terms,
    unsupervised_reid_loss,
)
from .supervised import SupervisedIdentityLoss, UncertaintyWeighting

REID_MODES = ("unsupervised", "supervised", "none")


def _check_weight(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


class OUTrackLoss(nn.Module):
    """Joint detection, occlusion and Re-ID loss of OUTrack on FairMOT.

    ``forward(outputs, targets, negative)``:

    - ``outputs``: model heads for ``2B`` images ordered pair-major
      ``[p0f0, p0f1, p1f0, p1f1, ...]`` (``hm``, ``wh``, ``reg``, ``id``, ``occ``,
      ``occ_off``; logits for the heatmaps).
    - ``targets``: collated :func:`utrack_ros.targets.build_targets` dicts, leading dim
      ``2B`` (tensors or numpy arrays).
    - ``negative``: bool ``[B]``, True for a negative pair (Eq. 7); ``None`` = all
      positive. Only used by ``reid="unsupervised"``.

    Detection loss::

        det = hm + wh_weight * wh + reg + occ_weight * (occ + occ_off)

    ``hm`` is the focal loss (Eq. 11-12, /#positives), ``wh`` / ``reg`` the FairMOT L1
    losses (:func:`reg_l1_loss`, per masked coordinate), ``occ + occ_off = L_occ`` of
    Eq. (14): the summed occlusion focal loss and the summed occlusion-offset L1 (both
    coordinates), each divided by the number of valid occlusions. The paper adds
    ``L_occ`` with weight 0.5 (§4.1). The official code writes
    ``0.5 * occ + 0.5 * occ_off`` with CenterNet normalisations: ``occ`` divided by the
    number of heatmap peaks (= valid occlusions unless two share a cell) and ``occ_off``
    by ``2 * N_occ`` (RegL1Loss averages the 2 coordinates). So our centre term equals
    the official one and our offset term is twice the official one, as Eq. (14) writes.

    Re-ID (``reid``):

    - ``"unsupervised"``: embeddings of each image are read from ``outputs["id"]`` at
      ``targets["ind"]`` where ``targets["mask"] > 0``; pair ``p`` is images
      ``(2p, 2p + 1)`` and its loss is :func:`unsupervised_reid_loss` (Eq. 6 for a
      positive pair, Eq. 7 for a negative one). The Re-ID term is the mean over all ``B``
      pairs (a pair with fewer than 2 objects contributes 0). This is Eq. (8): with
      ``L_pos`` / ``L_neg`` the means over the ``N_pos`` positive / ``N_neg`` negative
      pairs, ``N_pos/(N_pos+N_neg) L_pos + N_neg/(N_pos+N_neg) L_neg =
      (sum_pos + sum_neg) / (N_pos + N_neg)``, the mean over all pairs.
    - ``"supervised"``: FairMOT's classifier (:class:`SupervisedIdentityLoss`) over all
      masked objects of all images, labels ``targets["ids"]`` (-1 ignored); needs
      ``num_ids``.
    - ``"none"``: no Re-ID term and no uncertainty weighting: ``total = det``.

    With Re-ID, ``total = UncertaintyWeighting(det, id)`` (FairMOT,
    ``s_det = -1.85``, ``s_id = -1.05``) when ``uncertainty`` else ``det + id``.

    Returns ``(total, stats)``; ``stats`` has floats ``hm, wh, reg, occ, occ_off, det,
    id, total, s_det, s_id`` (``occ``/``occ_off`` are 0.0 without occlusion; ``s_det``
    and ``s_id`` are 0.0 when no uncertainty weighting is applied).
    """

    def __init__(
        self,
        reid: str = "unsupervised",
        num_ids: int | None = None,
        id_dim: int = 256,
        occlusion: bool = True,
        occ_weight: float = 0.5,
        wh_weight: float = 0.1,
        margin: float = 0.5,
        placeholder: str | None = "mean",
        temperature: float | None = None,
        terms: Iterable[str] = REID_TERMS,
        uncertainty: bool = True,
    ) -> None:
        super().__init__()
        if reid not in REID_MODES:
            raise ValueError(f"reid must be one of {REID_MODES}, got {reid!r}")
        self.reid = reid
        self.occlusion = bool(occlusion)
        self.occ_weight = _check_weight(occ_weight, "occ_weight")
        self.wh_weight = _check_weight(wh_weight, "wh_weight")
        self.margin = _check_weight(margin, "margin")
        self.placeholder = check_placeholder(placeholder)
        self.temperature = check_temperature(temperature)
        self.terms = check_terms(terms)
        self.id_dim = id_dim
        self.id_loss: SupervisedIdentityLoss | None = None
        if reid == "supervised":
            if num_ids is None:
                raise ValueError("reid='supervised' needs num_ids (the number of identities)")
            self.id_loss = SupervisedIdentityLoss(num_ids, id_dim)
        self.weighting: UncertaintyWeighting | None = (
            UncertaintyWeighting() if (uncertainty and reid != "none") else None
        )

    def _reid_unsupervised(
        self, emb: torch.Tensor, mask: torch.Tensor, negative: torch.Tensor
    ) -> torch.Tensor:
        n_pairs = emb.shape[0] // 2
        losses = []
        for p in range(n_pairs):
            f_prev = emb[2 * p][mask[2 * p] > 0]
            f_cur = emb[2 * p + 1][mask[2 * p + 1] > 0]
            losses.append(
                unsupervised_reid_loss(
                    f_prev,
                    f_cur,
                    negative=bool(negative[p]),
                    margin=self.margin,
                    placeholder=self.placeholder,
                    temperature=self.temperature,
                    terms=self.terms,
                )
            )
        return torch.stack(losses).mean()

    def forward(
        self,
        outputs: Mapping[str, torch.Tensor],
        targets: Mapping[str, Any],
        negative: Any = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and per-term floats; see the class docstring."""
        for key in ("hm", "wh", "reg") + (("id",) if self.reid != "none" else ()):
            if key not in outputs:
                raise ValueError(f"outputs has no '{key}' head")
        for key in ("hm", "wh", "reg", "ind", "mask") + (
            ("ids",) if self.reid == "supervised" else ()
        ):
            if key not in targets:
                raise ValueError(f"targets has no '{key}' entry (expected build_targets output)")
        hm_map = outputs["hm"]
        batch = hm_map.shape[0]

        hm = focal_loss(hm_map, targets["hm"])
        wh = reg_l1_loss(outputs["wh"], targets["ind"], targets["mask"], targets["wh"])
        reg = reg_l1_loss(outputs["reg"], targets["ind"], targets["mask"], targets["reg"])
        zero = hm.new_zeros(())
        occ, occ_off = zero, zero
        if self.occlusion:
            occ, occ_off = occlusion_loss_terms(outputs, targets)
        det = hm + self.wh_weight * wh + reg + self.occ_weight * (occ + occ_off)

        id_loss = zero
        if self.reid != "none":
            id_map = outputs["id"]
            emb = gather_feat(id_map, targets["ind"])  # [2B, M, D]
            mask = as_target(targets["mask"], emb, torch.float32)
            if self.reid == "unsupervised":
                if batch % 2 != 0:
                    raise ValueError(
                        f"unsupervised Re-ID needs frame pairs: outputs must hold 2B images "
                        f"(pair-major), got {batch}"
                    )
                if negative is None:
                    neg = torch.zeros(batch // 2, dtype=torch.bool)
                else:
                    neg = torch.as_tensor(negative).reshape(-1).to("cpu", torch.bool)
                    if neg.shape[0] != batch // 2:
                        raise ValueError(
                            f"negative must have one flag per pair, shape [B = {batch // 2}], "
                            f"got {tuple(torch.as_tensor(negative).shape)}"
                        )
                id_loss = self._reid_unsupervised(emb, mask, neg)
            else:
                assert self.id_loss is not None
                ids = as_target(targets["ids"], emb, torch.int64)
                keep = mask > 0
                id_loss = self.id_loss(emb[keep], ids[keep])

        if self.weighting is not None:
            total = self.weighting(det, id_loss)
            s_det, s_id = float(self.weighting.s_det.detach()), float(self.weighting.s_id.detach())
        else:
            total = det + id_loss
            s_det, s_id = 0.0, 0.0

        stats = {
            "hm": hm,
            "wh": wh,
            "reg": reg,
            "occ": occ,
            "occ_off": occ_off,
            "det": det,
            "id": id_loss,
            "total": total,
        }
        out = {k: float(v.detach()) for k, v in stats.items()}
        out["s_det"] = s_det
        out["s_id"] = s_id
        return total, out
