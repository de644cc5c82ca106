"""Unsupervised Re-ID loss of OUTrack, Eq. (1)-(7) (DESIGN §3)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

REID_TERMS = ("intra", "inter", "cycle")
PLACEHOLDERS = ("mean", "zero", None)


def check_placeholder(placeholder: Any) -> str | None:
    """Validate ``placeholder``: ``"mean"``, ``"zero"`` or ``None``."""
    if placeholder not in PLACEHOLDERS or isinstance(placeholder, bool):
        raise ValueError(
            f"placeholder must be 'mean', 'zero' or None (no column), got {placeholder!r}"
        )
    return placeholder


def check_terms(terms: Any) -> tuple[str, ...]:
    """Validate ``terms``: a non-empty collection of distinct names from ``REID_TERMS``."""
    if isinstance(terms, str) or not isinstance(terms, Iterable):
        raise ValueError(
            f"terms must be a tuple of names from {REID_TERMS} (e.g. ('intra',)), got {terms!r}"
        )
    out = tuple(terms)
    bad = [t for t in out if t not in REID_TERMS]
    if bad or not out or len(set(out)) != len(out):
        raise ValueError(
            f"terms must be a non-empty tuple of distinct names from {REID_TERMS}, got {terms!r}"
        )
    return out


def check_temperature(temperature: Any) -> float | None:
    """Validate ``temperature``: ``None`` (adaptive ``2 log(C + 1)``) or a number > 0."""
    if temperature is None:
        return None
    if isinstance(temperature, bool):
        raise ValueError(f"temperature must be None or a finite number > 0, got {temperature!r}")
    try:
        t = float(temperature)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"temperature must be None or a finite number > 0, got {temperature!r}"
        ) from exc
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be None or a finite number > 0, got {temperature!r}")
    return t


def _check_features(f: Any, name: str) -> torch.Tensor:
    if not isinstance(f, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor [N, D], got {type(f).__name__}")
    if f.dim() != 2:
        raise ValueError(f"{name} must have shape [N, D], got {tuple(f.shape)}")
    if not f.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {f.dtype}")
    return f


def assignment_matrix(
    f_prev: torch.Tensor,
    f_cur: torch.Tensor,
    *,
    placeholder: str | None = "mean",
    temperature: float | None = None,
) -> torch.Tensor:
    """Assignment matrix ``M'`` of Eq. (1)-(2) with the placeholder column.

    ``S`` (Eq. 1) is the cosine similarity of the L2-normalised features of both frames
    (``f_prev`` rows first), with ``-inf`` on the diagonal. ``S'`` appends a constant
    column ``p``: ``"mean"`` = mean of the off-diagonal values of ``S``, detached (the
    paper's dynamic mean, §4.3.1); ``"zero"`` = 0; ``None`` = no column. ``M'`` (Eq. 2)
    is the row softmax of ``S' * T`` with ``T = 2 log(C + 1)``, ``C`` the number of columns
    of ``S'`` (footnote 2), unless ``temperature`` is given.

    Returns:
        ``[N1 + N2, N1 + N2 (+ 1)]`` float32 tensor; requires ``N1 + N2 >= 2``.
    """
    feats = torch.cat([f_prev, f_cur], dim=0).float()
    n = feats.shape[0]
    if n < 2:
        raise ValueError(f"assignment_matrix needs at least 2 objects in total, got {n}")
    z = F.normalize(feats, p=2, dim=1)
    sim = z @ z.t()
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    if placeholder is not None:
        # "mean": the paper's dynamic mean of the off-diagonal S, detached (no gradient).
        p = sim[~eye].mean().detach() if placeholder == "mean" else sim.new_zeros(())
        sim_p = torch.cat([sim.masked_fill(eye, float("-inf")), p.expand(n, 1)], dim=1)
    else:
        sim_p = sim.masked_fill(eye, float("-inf"))
    c = sim_p.shape[1]
    t = 2.0 * math.log(c + 1) if temperature is None else float(temperature)
    return torch.softmax(sim_p * t, dim=1)


def unsupervised_reid_loss(
    f_prev: torch.Tensor,
    f_cur: torch.Tensor,
    *,
    negative: bool = False,
    margin: float = 0.5,
    placeholder: str | None = "mean",
    temperature: float | None = None,
    terms: Iterable[str] = REID_TERMS,
) -> torch.Tensor:
    """Unsupervised Re-ID loss of one frame pair, Eq. (1)-(7), divided by ``N1 + N2``.

    ``M'`` is built by :func:`assignment_matrix` (Eq. 1-2, placeholder column, adaptive
    temperature). With ``P = {0..N1-1}`` (prev) and ``Q = {N1..N1+N2-1}`` (cur):

    - Eq. (3) ``intra = sum_{i,j in P} M'_ij + sum_{i,j in Q} M'_ij``;
    - Eq. (4) ``inter = sum_i max(max_{j' != j*} M'_ij' + m - M'_ij*, 0)``, ``j*`` the
      argmax over all columns, placeholder included (ties give ``m``);
    - Eq. (5) ``cycle = sum_{i in Q, j in P} |M'_ij - M'_ji|``;
    - Eq. (6) positive pair (``negative=False``): ``(selected terms) / (N1 + N2)``;
    - Eq. (7) negative pair (``negative=True``): ``sum of M'`` over all rows and all
      non-placeholder columns, ``/ (N1 + N2)`` (``terms`` is ignored; a placeholder is
      required, since without it every row of ``M'`` sums to 1 and the loss is constant).

    Args:
        f_prev: ``[N1, D]`` raw features of the first frame / augmentation.
        f_cur: ``[N2, D]`` raw features of the second one.
        negative: the pair comes from different scenes (Eq. 7).
        margin: ``m`` of Eq. (4).
        placeholder: ``"mean"`` (detached dynamic mean), ``"zero"`` or ``None``.
        temperature: ``None`` for ``2 log(C + 1)`` or a fixed ``T > 0``.
        terms: subset of ``("intra", "inter", "cycle")`` used by Eq. (6).

    Returns:
        Scalar tensor; ``0`` connected to the inputs' graph when ``N1 + N2 < 2``.

    Raises:
        ValueError: bad placeholder / terms / temperature / margin, features not
            ``[N, D]`` floating tensors, ``D`` mismatch, or a negative pair without
            placeholder.
    """
    placeholder = check_placeholder(placeholder)
    sel = check_terms(terms)
    temperature = check_temperature(temperature)
    try:
        margin = float(margin)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"margin must be a finite number, got {margin!r}") from exc
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    f_prev = _check_features(f_prev, "f_prev")
    f_cur = _check_features(f_cur, "f_cur")
    if f_prev.shape[1] != f_cur.shape[1]:
        raise ValueError(
            f"f_prev and f_cur must have the same feature dimension D, got "
            f"{f_prev.shape[1]} and {f_cur.shape[1]}"
        )
    if negative and placeholder is None:
        raise ValueError(
            "a negative pair (Eq. 7) needs the placeholder column: use placeholder='mean' "
            "or 'zero' (without it every row of M' sums to 1 and the loss is constant)"
        )
    n1, n2 = f_prev.shape[0], f_cur.shape[0]
    n = n1 + n2
    if n < 2:
        return f_prev.float().sum() * 0.0 + f_cur.float().sum() * 0.0

    m = assignment_matrix(f_prev, f_cur, placeholder=placeholder, temperature=temperature)
    if negative:
        return m[:, :n].sum() / n

    loss = m.new_zeros(())
    if "intra" in sel:
        loss = loss + m[:n1, :n1].sum() + m[n1:n, n1:n].sum()
    if "inter" in sel:
        top2 = torch.topk(m, k=2, dim=1).values  # C >= 2 columns always
        loss = loss + torch.clamp(top2[:, 1] + margin - top2[:, 0], min=0.0).sum()
    if "cycle" in sel:
        loss = loss + torch.abs(m[n1:n, :n1] - m[:n1, n1:n].t()).sum()
    return loss / n
