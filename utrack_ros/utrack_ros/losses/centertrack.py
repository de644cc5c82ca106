"""Training loss of the CenterTrack-style variant (OTrack_ct, paper §3.3, §4.1, Table 5).

CenterTrack's loss with OUTrack's occlusion term and no Re-ID (the paper: "Since
CenterTrack does not have the Re-ID feature learning module, we only incorporate the
occlusion estimation module into it")::

    total = hm + wh_weight * wh + reg + occ_weight * (occ + occ_off) + tracking_weight * tracking

The detection and occlusion part is :class:`OUTrackLoss` with ``reid="none"`` (the
occlusion loss at weight 0.5, §4.1); ``tracking`` is the masked L1 of the ``tracking`` head
at the current objects' centres (:func:`reg_l1_loss`, CenterTrack's ``RegWeightedL1Loss``:
per masked coordinate), weight 1 as in CenterTrack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .combined import OUTrackLoss, _check_weight
from .focal import reg_l1_loss


class CenterTrackLoss(nn.Module):
    """Detection + occlusion + tracking-offset loss of the centertrack variant.

    ``forward(outputs, targets, negative=None)``:

    - ``outputs``: the model's heads for ``B`` current frames (``hm``, ``wh``, ``reg``,
      ``tracking``, ``occ``, ``occ_off``).
    - ``targets``: collated :func:`~utrack_ros.targets.build_targets` dicts of the current
      frames plus ``tracking`` ``[B, M, 2]`` and ``tracking_mask`` ``[B, M]``
      (:func:`~utrack_ros.targets.tracking_targets`).
    - ``negative``: ignored (no pairs, no Re-ID); accepted so the training loop can call
      both losses alike.

    Returns ``(total, stats)`` with the floats of :class:`OUTrackLoss` (``id`` is 0) plus
    ``tracking``.
    """

    def __init__(
        self,
        occlusion: bool = True,
        occ_weight: float = 0.5,
        wh_weight: float = 0.1,
        tracking_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.detection = OUTrackLoss(
            reid="none",
            occlusion=occlusion,
            occ_weight=occ_weight,
            wh_weight=wh_weight,
            uncertainty=False,
        )
        self.tracking_weight = _check_weight(tracking_weight, "tracking_weight")

    def forward(
        self,
        outputs: Mapping[str, torch.Tensor],
        targets: Mapping[str, Any],
        negative: Any = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        if "tracking" not in outputs:
            raise ValueError("outputs has no 'tracking' head (a centertrack-variant model?)")
        for key in ("tracking", "tracking_mask"):
            if key not in targets:
                raise ValueError(f"targets has no '{key}' entry (expected tracking_targets)")
        det, stats = self.detection(outputs, targets)
        tracking = reg_l1_loss(
            outputs["tracking"], targets["ind"], targets["tracking_mask"], targets["tracking"]
        )
        total = det + self.tracking_weight * tracking
        stats["tracking"] = float(tracking.detach())
        stats["total"] = float(total.detach())
        return total, stats
