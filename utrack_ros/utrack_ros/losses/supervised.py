"""FairMOT baselines: the supervised identity classifier and uncertainty weighting."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class SupervisedIdentityLoss(nn.Module):
    """FairMOT's supervised Re-ID loss: every identity is one class.

    ``logits = Linear(id_dim, num_ids)(emb_scale * normalize(emb))`` with
    ``emb_scale = sqrt(2) * log(num_ids - 1)``, cross-entropy averaged over the objects
    whose id is known (``-1`` is ignored). The classifier has ``(id_dim + 1) * num_ids``
    parameters: it grows linearly with the number of identities, which is the
    scalability problem the unsupervised loss (no parameters) removes (paper §4.3.3).

    Args:
        num_ids: number of identities (classes), ``>= 3`` (``emb_scale`` is 0 for 2).
        id_dim: embedding dimension ``D``.
    """

    def __init__(self, num_ids: int, id_dim: int = 256) -> None:
        super().__init__()
        for name, v, lo in (("num_ids", num_ids, 3), ("id_dim", id_dim, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(
                    f"{name} must be an integer >= {lo}, got {v!r}"
                    + (" (emb_scale = sqrt(2) log(num_ids - 1) must be > 0)" if lo == 3 else "")
                )
        self.num_ids = num_ids
        self.id_dim = id_dim
        self.emb_scale = math.sqrt(2) * math.log(num_ids - 1)
        self.classifier = nn.Linear(id_dim, num_ids)

    def forward(self, embeddings: torch.Tensor, ids: Any) -> torch.Tensor:
        """Cross-entropy of ``embeddings [N, D]`` against ``ids [N]`` (-1 ignored).

        Returns 0 (connected to the graph) when no id is known.
        """
        if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
            raise ValueError(
                "embeddings must be a [N, D] tensor, got "
                f"{getattr(embeddings, 'shape', type(embeddings).__name__)}"
            )
        if embeddings.shape[1] != self.id_dim:
            raise ValueError(
                f"embeddings have D = {embeddings.shape[1]}, the classifier expects "
                f"id_dim = {self.id_dim}"
            )
        ids_t = torch.as_tensor(ids).to(device=embeddings.device, dtype=torch.int64)
        if ids_t.shape != embeddings.shape[:1]:
            raise ValueError(
                f"ids must have shape [N] = [{embeddings.shape[0]}], got {tuple(ids_t.shape)}"
            )
        if ids_t.numel() and (bool((ids_t < -1).any()) or bool((ids_t >= self.num_ids).any())):
            raise ValueError(
                f"ids must be in [0, num_ids = {self.num_ids}) or -1 (unknown), got range "
                f"[{int(ids_t.min())}, {int(ids_t.max())}]"
            )
        known = ids_t >= 0
        emb = embeddings[known].float()
        zero = embeddings.float().sum() * 0.0 + sum(p.sum() * 0.0 for p in self.parameters())
        if emb.shape[0] == 0:
            return zero
        logits = self.classifier(self.emb_scale * F.normalize(emb, p=2, dim=1))
        return F.cross_entropy(logits, ids_t[known])


class UncertaintyWeighting(nn.Module):
    """FairMOT's learnt task balance of detection and identity losses.

    ``0.5 * (exp(-s_det) * L_det + exp(-s_id) * L_id + s_det + s_id)`` with learnable
    scalars initialised to ``s_det = -1.85`` and ``s_id = -1.05`` (FairMOT / OUTrack).
    """

    def __init__(self, s_det: float = -1.85, s_id: float = -1.05) -> None:
        super().__init__()
        self.s_det = nn.Parameter(torch.tensor(float(s_det)))
        self.s_id = nn.Parameter(torch.tensor(float(s_id)))

    def forward(self, det_loss: torch.Tensor, id_loss: torch.Tensor) -> torch.Tensor:
        """Weighted total of the two task losses (scalar)."""
        return 0.5 * (
            torch.exp(-self.s_det) * det_loss
            + torch.exp(-self.s_id) * id_loss
            + self.s_det
            + self.s_id
        )
