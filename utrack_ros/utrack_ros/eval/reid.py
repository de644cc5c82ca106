"""Re-identification quality of embeddings: rank-1 accuracy and mAP (paper Table 7).

Protocol (OUTrack §4.3.3, Table 7): every ground-truth track (tracklet) is split in two
halves in time. The observations of its first half are queries, those of its second half
gallery. Each query is ranked against the whole gallery (the second halves of *all*
tracks) by cosine distance; the gallery items of its own track are the correct matches.
"""

from __future__ import annotations

import numpy as np

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
