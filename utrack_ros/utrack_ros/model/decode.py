"""Head maps -> detections, Re-ID embeddings and occlusion centres, per image.

CenterNet / FairMOT decoding (paper §3.3) plus the occlusion estimation module's output
(§3.2.1, used by the refinding of §3.2.2): a sigmoid on the heatmap logits, a 3x3
max-pool "NMS" that keeps local maxima only, the top-K peaks, and at each peak
``(xs, ys)`` (output cells):

- box: ``x = xs + reg_x``, ``y = ys + reg_y``; ``(x - l, y - t, x + r, y + b) * R`` with
  ``(l, t, r, b)`` the ``wh`` head, ``R = 4`` -> input pixels;
- embedding: the ``id`` map at ``(xs, ys)``, L2-normalised;
- occlusion centre (Eq. 10-13): a peak of ``occ`` with score >= ``occ_threshold`` (0.1 in
  the official code), at ``((xs, ys) + occ_off) * R``;
- tracking offset (centertrack variant): the ``tracking`` map at ``(xs, ys)`` times ``R``,
  the displacement from the detection's centre to its centre in the previous frame.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .config import STRIDE


@dataclass
class Decoded:
    """Decoded outputs of one image, sorted by decreasing score, input-pixel coordinates.

    Attributes:
        boxes: ``[k, 4]`` float32 ``x1, y1, x2, y2`` input pixels.
        scores: ``[k]`` float32 detection scores (sigmoid of ``hm``).
        embeddings: ``[k, D]`` float32 unit-norm Re-ID features, ``None`` without an ``id`` map.
        occ_centers: ``[m, 2]`` float32 occlusion centres ``x, y`` in input pixels.
        occ_scores: ``[m]`` float32 occlusion-centre scores (sigmoid of ``occ``).
        offsets: ``[k, 2]`` float32 tracking offsets ``(dx, dy)`` in input pixels, from each
            box's centre to the same object's centre in the previous frame (centertrack
            variant), ``None`` without a ``tracking`` map.
    """

    boxes: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray | None
    occ_centers: np.ndarray
    occ_scores: np.ndarray
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def heatmap_nms(heat: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """Keep local maxima of a ``[B, C, h, w]`` probability map; others become -1.

    -1 (not 0) so that a suppressed cell never passes a threshold of 0 even when top-K asks
    for more cells than there are peaks.
    """
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)
    return torch.where(hmax == heat, heat, torch.full_like(heat, -1.0))


def _topk(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k over the cells of a ``[B, 1, h, w]`` map: scores, flat indices, (xs, ys) [B,k,2]."""
    width = heat.shape[3]
    scores, inds = heat.flatten(1).topk(k, dim=1)
    xy = torch.stack((inds % width, torch.div(inds, width, rounding_mode="floor")), dim=2)
    return scores, inds, xy.to(heat.dtype)


def _gather(fmap: torch.Tensor, inds: torch.Tensor) -> torch.Tensor:
    """``fmap`` ``[B, C, h, w]`` at flat indices ``[B, K]`` -> ``[B, K, C]``."""
    b, c = fmap.shape[:2]
    flat = fmap.flatten(2)
    return flat.gather(2, inds[:, None, :].expand(b, c, inds.shape[1])).permute(0, 2, 1)


def _as_tensor(value: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor) or value.dim() != 4:
        raise ValueError(f"decode: outputs[{name!r}] must be a [B, C, h, w] tensor or array")
    return value.detach().float()


def _check_channels(maps: dict[str, torch.Tensor], name: str, channels: int | None) -> None:
    ref = maps["hm"]
    t = maps[name]
    if t.shape[0] != ref.shape[0] or t.shape[2:] != ref.shape[2:] or (
        channels is not None and t.shape[1] != channels
    ):
        want = f"[{ref.shape[0]}, {channels if channels is not None else 'D'}, "
        want += f"{ref.shape[2]}, {ref.shape[3]}]"
        raise ValueError(f"decode: outputs[{name!r}] has shape {tuple(t.shape)}, expected {want}")


def _check_count(name: str, value: int, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"decode: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_threshold(name: str, value: float) -> float:
    if not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"decode: {name} must be a score in [0, 1], got {value!r}")
    return float(value)


@torch.no_grad()
def decode(
    outputs: Mapping[str, torch.Tensor | np.ndarray],
    max_objects: int = 500,
    det_threshold: float = 0.0,
    occ_threshold: float = 0.1,
    max_occlusions: int = 100,
    stride: int = STRIDE,
) -> list[Decoded]:
    """Decode the model's head maps (torch tensors or numpy arrays, e.g. from onnxruntime).

    Args:
        outputs: ``hm`` [B,1,h,w] logits, ``wh`` [B,4,h,w], ``reg`` [B,2,h,w]; optional
            ``id`` [B,D,h,w], ``occ`` [B,1,h,w] logits, ``occ_off`` [B,2,h,w] and
            ``tracking`` [B,2,h,w] (centertrack variant).
        max_objects: K of the top-K detection peaks (FairMOT: 500).
        det_threshold: keep peaks with score >= this (0 keeps all K peaks, as FairMOT's
            decoder; the tracker applies its own confidence threshold).
        occ_threshold: keep occlusion peaks with score >= this (official: 0.1).
        max_occlusions: K of the top-K occlusion peaks (0 disables occlusion decoding).
        stride: output stride R (4).

    Returns:
        One :class:`Decoded` per image, arrays float32, sorted by decreasing score; empty
        arrays of shapes ``[0, 4]``, ``[0]``, ``[0, D]``, ``[0, 2]`` when nothing passes.
    """
    if not isinstance(outputs, Mapping):
        raise ValueError(f"decode: expected a dict of head maps, got {type(outputs).__name__}")
    missing = [k for k in ("hm", "wh", "reg") if k not in outputs]
    if missing:
        raise ValueError(f"decode: outputs lack {missing}; expected keys hm, wh, reg[, id, occ, "
                         "occ_off]")
    max_objects = _check_count("max_objects", max_objects, 1)
    max_occlusions = _check_count("max_occlusions", max_occlusions, 0)
    det_threshold = _check_threshold("det_threshold", det_threshold)
    occ_threshold = _check_threshold("occ_threshold", occ_threshold)

    maps = {k: _as_tensor(v, k) for k, v in outputs.items() if k in
            ("hm", "wh", "reg", "id", "occ", "occ_off", "tracking") and v is not None}
    for name, channels in (("hm", 1), ("wh", 4), ("reg", 2), ("id", None), ("occ", 1),
                           ("occ_off", 2), ("tracking", 2)):
        if name in maps:
            _check_channels(maps, name, channels)

    hm = maps["hm"]
    batch, _, h, w = hm.shape
    k = min(max_objects, h * w)
    scores, inds, xy = _topk(heatmap_nms(torch.sigmoid(hm)), k)
    centers = xy + _gather(maps["reg"], inds)
    ltrb = _gather(maps["wh"], inds)
    boxes = torch.cat((centers - ltrb[..., :2], centers + ltrb[..., 2:]), dim=2) * stride
    keep = scores >= det_threshold
    emb = None
    if "id" in maps:
        emb = F.normalize(_gather(maps["id"], inds), dim=2)
    offsets = None
    if "tracking" in maps:
        offsets = _gather(maps["tracking"], inds) * stride

    has_occ = "occ" in maps and max_occlusions > 0
    if has_occ:
        ko = min(max_occlusions, h * w)
        occ_scores, occ_inds, occ_xy = _topk(heatmap_nms(torch.sigmoid(maps["occ"])), ko)
        if "occ_off" in maps:
            occ_xy = occ_xy + _gather(maps["occ_off"], occ_inds)
        occ_centers = occ_xy * stride
        occ_keep = occ_scores >= occ_threshold

    id_dim = maps["id"].shape[1] if "id" in maps else 0
    results = []
    for b in range(batch):
        sel = keep[b]
        result = Decoded(
            boxes=_np(boxes[b][sel], (-1, 4)),
            scores=_np(scores[b][sel], (-1,)),
            embeddings=_np(emb[b][sel], (-1, id_dim)) if emb is not None else None,
            occ_centers=np.zeros((0, 2), np.float32),
            occ_scores=np.zeros((0,), np.float32),
            offsets=_np(offsets[b][sel], (-1, 2)) if offsets is not None else None,
        )
        if has_occ:
            osel = occ_keep[b]
            result.occ_centers = _np(occ_centers[b][osel], (-1, 2))
            result.occ_scores = _np(occ_scores[b][osel], (-1,))
        results.append(result)
    return results


def _np(t: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(t.cpu().numpy().astype(np.float32, copy=False).reshape(shape))
