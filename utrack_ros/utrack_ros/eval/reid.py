"""Re-identification quality of embeddings: rank-1 accuracy and mAP (paper Table 7).

Protocol (OUTrack §4.3.3, Table 7): every ground-truth track (tracklet) is split in two
halves in time. The observations of its first half are queries, those of its second half
gallery. Each query is ranked against the whole gallery (the second halves of *all*
tracks) by cosine distance; the gallery items of its own track are the correct matches.

:func:`embeddings_at_boxes` gives a model's embeddings at ground-truth boxes (the input of
:func:`reid_metrics` for ``utrack reid-eval``); it imports torch only when called, so this
module stays numpy-only for the metric tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: Upper bound on the number of query x gallery distances held at once.
_MAX_BLOCK = 8_000_000


def split_queries_gallery(track_ids: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Boolean masks ``(is_query, is_gallery)`` of the Table 7 split.

    Per track, observations sorted by frame: the first ``n // 2`` are queries and the other
    ``n - n // 2`` gallery (an odd middle observation goes to the gallery). Tracks with
    fewer than 2 observations are in neither.
    """
    track_ids = np.asarray(track_ids)
    frames = np.asarray(frames)
    is_query = np.zeros(len(track_ids), dtype=bool)
    is_gallery = np.zeros(len(track_ids), dtype=bool)
    order = np.lexsort((frames, track_ids))
    ids_sorted = track_ids[order]
    starts = np.flatnonzero(np.r_[True, ids_sorted[1:] != ids_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for start, end in zip(starts, ends, strict=True):
        n = end - start
        if n < 2:
            continue
        members = order[start:end]
        is_query[members[: n // 2]] = True
        is_gallery[members[n // 2:]] = True
    return is_query, is_gallery


def reid_metrics(embeddings: np.ndarray, track_ids: np.ndarray,
                 frames: np.ndarray) -> dict[str, float]:
    """Rank-1 accuracy and mean average precision of ``embeddings`` (Table 7 protocol).

    Args:
        embeddings: ``[N, D]`` one embedding per ground-truth box (need not be normalised;
            cosine distance is used).
        track_ids: ``[N]`` ground-truth identity of each box.
        frames: ``[N]`` frame number of each box (orders a track's observations).

    Returns:
        ``{"R1": %, "mAP": %, "num_queries": count}``. R1: percentage of queries whose
        nearest gallery item (smallest cosine distance) has the query's id. AP of a query:
        mean over its correct gallery items of the precision at that item's rank; mAP is
        its mean over queries. Ties are ranked pessimistically (at equal distance, wrong
        gallery items come first), so collapsed embeddings score badly rather than
        perfectly. Distances are computed in float32. With no query (every track shorter
        than 2) both are NaN.

    Raises:
        ValueError: mismatched lengths, a non-2-D or non-finite embedding array, a zero
            embedding, or a track seen twice in one frame.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    track_ids = np.asarray(track_ids)
    frames = np.asarray(frames)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be [N, D], got shape {emb.shape}")
    if track_ids.shape != (len(emb),) or frames.shape != (len(emb),):
        raise ValueError(
            f"track_ids {track_ids.shape} and frames {frames.shape} must both be "
            f"[N] with N = {len(emb)} (one per embedding)"
        )
    if not np.all(np.isfinite(emb)):
        raise ValueError("embeddings contain NaN or inf")
    norms = np.linalg.norm(emb, axis=1)
    if np.any(norms <= 0):
        raise ValueError(
            f"embedding {int(np.flatnonzero(norms <= 0)[0])} is all zeros: cosine distance "
            "is undefined"
        )
    pairs = np.stack([track_ids.astype(np.int64), frames.astype(np.int64)], axis=1)
    if len(np.unique(pairs, axis=0)) != len(pairs):
        raise ValueError("a track id occurs twice in one frame; expected one box per id "
                         "and frame")
    emb = emb / norms[:, None]

    is_query, is_gallery = split_queries_gallery(track_ids, frames)
    query_idx = np.flatnonzero(is_query)
    if len(query_idx) == 0:
        return {"R1": float("nan"), "mAP": float("nan"), "num_queries": 0.0}
    # Gallery in (track, frame) order: each track's items are one contiguous slice.
    gallery_idx = np.flatnonzero(is_gallery)
    gallery_idx = gallery_idx[np.lexsort((frames[gallery_idx], track_ids[gallery_idx]))]
    gallery = emb[gallery_idx].astype(np.float32)
    gallery_ids = track_ids[gallery_idx]
    slice_ids, slice_start, slice_count = np.unique(gallery_ids, return_index=True,
                                                    return_counts=True)
    # Every query's track has >= 1 gallery item (tracks of n >= 2 give n - n//2 >= 1).
    q_slot = np.searchsorted(slice_ids, track_ids[query_idx])

    hits_r1 = 0
    ap_sum = 0.0
    block = max(1, _MAX_BLOCK // len(gallery_idx))
    for s in range(0, len(query_idx), block):
        q = query_idx[s:s + block]
        dist = 1.0 - emb[q].astype(np.float32) @ gallery.T  # cosine distance [Q, M]
        dist_sorted = np.sort(dist, axis=1)
        for row, slot in enumerate(q_slot[s:s + block]):
            start, count = slice_start[slot], slice_count[slot]
            correct = np.sort(dist[row, start:start + count])
            # Pessimistic ties: at equal distance, wrong items rank before correct ones.
            # rank_j = #items <= d_j - #correct <= d_j + j + 1 (1-based, j 0-based).
            at_or_below = np.searchsorted(dist_sorted[row], correct, side="right")
            correct_at_or_below = np.searchsorted(correct, correct, side="right")
            ranks = at_or_below - correct_at_or_below + np.arange(1, count + 1)
            hits_r1 += int(ranks[0] == 1)
            ap_sum += float(np.mean(np.arange(1, count + 1) / ranks))
    n = len(query_idx)
    return {"R1": 100.0 * hits_r1 / n, "mAP": 100.0 * ap_sum / n, "num_queries": float(n)}


# --------------------------------------------------------------------------- embeddings


def box_cells(boxes_xyxy: np.ndarray, frame_size: tuple[int, int],
              input_size: tuple[int, int], stride: int = 4) -> np.ndarray:
    """Output-map cell ``(x, y)`` ``[N, 2]`` int64 of each frame-pixel box's centre.

    The box is clipped to the frame (the part the model sees, as the training targets clip
    boxes to the image), its centre mapped to input pixels by the pipeline's
    :class:`~utrack_ros.preprocess.Letterbox`, divided by ``stride`` and floored (the cell
    :func:`~utrack_ros.targets.build_targets` trains the embedding at), then clamped into
    the ``input_size / stride`` map.

    Raises:
        ValueError: boxes not ``[N, 4]`` or not finite, a non-positive stride, or an input
            size that is not a multiple of ``stride``.
    """
    from utrack_ros.preprocess import Letterbox

    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes_xyxy must be [N, 4] (x1, y1, x2, y2), got shape {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError("boxes_xyxy contain NaN or inf")
    if stride < 1:
        raise ValueError(f"stride must be a positive int, got {stride}")
    ih, iw = (int(v) for v in input_size)
    if ih % stride or iw % stride:
        raise ValueError(f"input_size {input_size} must be a multiple of the stride {stride}")
    fh, fw = (int(v) for v in frame_size)
    letterbox = Letterbox.fit((fh, fw), (ih, iw))
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0.0, fw)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0.0, fh)
    inp = letterbox.boxes_to_input(clipped)
    centers = np.stack([inp[:, 0] + inp[:, 2], inp[:, 1] + inp[:, 3]], axis=1) / (2.0 * stride)
    cells = np.floor(centers).astype(np.int64)
    cells[:, 0] = cells[:, 0].clip(0, iw // stride - 1)
    cells[:, 1] = cells[:, 1].clip(0, ih // stride - 1)
    return cells


def embeddings_at_boxes(model: torch.nn.Module, image_bgr: np.ndarray,
                        boxes_xyxy: np.ndarray, input_size: tuple[int, int] | None = None,
                        device: str | torch.device | None = None) -> np.ndarray:
    """Unit Re-ID embeddings ``[N, D]`` float32 of the model at given boxes of one frame.

    The frame goes through the pipeline's preprocessing (:class:`Letterbox` to
    ``input_size``, :func:`~utrack_ros.preprocess.normalize_image`), the model runs once
    (eval mode, restored afterwards; no gradient), and the ``"id"`` map is read at each
    box's :func:`box_cells` cell and L2-normalised, exactly as
    :func:`~utrack_ros.model.decode` reads it at a detected centre.

    Args:
        model: a :class:`~utrack_ros.model.JointDetector` (or any module mapping
            ``[1, 3, H, W]`` to a dict with an ``"id"`` map ``[1, D, H/4, W/4]``).
        image_bgr: uint8 ``H x W x 3`` BGR frame.
        boxes_xyxy: ``[N, 4]`` frame-pixel boxes (``N`` may be 0).
        input_size: model input ``(height, width)``; default ``model.config.input_size``.
        device: where to run; default the device of the model's parameters.

    Raises:
        ValueError: bad image or boxes, no input size, or a model without an ``"id"`` map
            (no Re-ID head) or with one of an unexpected shape.
    """
    import torch

    from utrack_ros.model import STRIDE
    from utrack_ros.pipeline import validate_image
    from utrack_ros.preprocess import Letterbox, normalize_image

    image_bgr = validate_image(image_bgr)
    if input_size is None:
        config = getattr(model, "config", None)
        input_size = getattr(config, "input_size", None)
        if input_size is None:
            raise ValueError("input_size is needed: the model has no config.input_size")
    input_size = (int(input_size[0]), int(input_size[1]))
    stride = int(getattr(model, "stride", STRIDE))
    cells = box_cells(boxes_xyxy, image_bgr.shape[:2], input_size, stride)
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    letterbox = Letterbox.fit(image_bgr.shape[:2], input_size)
    tensor = torch.from_numpy(normalize_image(letterbox.apply(image_bgr)))[None].to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outputs = model(tensor)
    finally:
        model.train(was_training)
    id_map = outputs.get("id") if isinstance(outputs, dict) else None
    if id_map is None:
        raise ValueError("the model has no Re-ID head: its outputs have no 'id' map "
                         f"(heads: {sorted(outputs) if isinstance(outputs, dict) else '?'})")
    out_h, out_w = input_size[0] // stride, input_size[1] // stride
    if id_map.dim() != 4 or id_map.shape[0] != 1 or tuple(id_map.shape[2:]) != (out_h, out_w):
        raise ValueError(f"the 'id' map has shape {tuple(id_map.shape)}; expected "
                         f"[1, D, {out_h}, {out_w}] for input {input_size} at stride {stride}")
    rows = torch.as_tensor(cells[:, 1], device=id_map.device)
    cols = torch.as_tensor(cells[:, 0], device=id_map.device)
    emb = id_map[0, :, rows, cols].t().float()  # [N, D]
    emb = torch.nn.functional.normalize(emb, p=2, dim=1)
    return emb.cpu().numpy().astype(np.float32, copy=False)
