"""Hand-computed checks of the OUTrack losses (Eq. 1-8, 11-14) and FairMOT baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from utrack_ros.losses import (
    OUTrackLoss,
    SupervisedIdentityLoss,
    UncertaintyWeighting,
    assignment_matrix,
    focal_loss,
    occlusion_loss,
    reg_l1_loss,
    unsupervised_reid_loss,
)
from utrack_ros.targets import build_targets

LN2 = math.log(2.0)

# --------------------------------------------------------------- Re-ID, Eq. (1)-(7)
#
# Two objects per frame, 2-D features (raw scale differs: the loss must L2-normalise):
#   prev: a = (2, 0), b = (0, 3)        cur: a' = (0.5, 0), b' = (-4, 0)
# Index order 0:a 1:b 2:a' 3:b'. Cosines (Eq. 1):
#        a    b    a'   b'
#   a  -inf   0    1   -1
#   b    0  -inf   0    0
#   a'   1    0  -inf  -1
#   b'  -1    0   -1  -inf
# Placeholder "mean" = mean of the 12 off-diagonal values = (0 + 0 + 0 - 2) / 12 = -1/6
# (had the diagonal been included it would differ). C = 5 columns -> T = 2 ln 6, so
# exp(S' T) = 36 ** S'. With q = 36 ** (-1/6):
#   row a : [0, 1, 36, 1/36, q]     Z0 = 37 + 1/36 + q
#   row b : [1, 0, 1, 1, q]         Z1 = 3 + q
#   row a': [36, 1, 0, 1/36, q]     Z2 = Z0
#   row b': [1/36, 1, 1/36, 0, q]   Z3 = 1 + 2/36 + q


def _features(requires_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    f_prev = torch.tensor([[2.0, 0.0], [0.0, 3.0]], requires_grad=requires_grad)
    f_cur = torch.tensor([[0.5, 0.0], [-4.0, 0.0]], requires_grad=requires_grad)
    return f_prev, f_cur


Q = 36.0 ** (-1.0 / 6.0)
Z0 = 37.0 + 1.0 / 36.0 + Q
Z1 = 3.0 + Q
Z3 = 1.0 + 2.0 / 36.0 + Q
M_MEAN = np.array(
    [
        [0, 1, 36, 1 / 36, Q],
        [1, 0, 1, 1, Q],
        [36, 1, 0, 1 / 36, Q],
        [1 / 36, 1, 1 / 36, 0, Q],
    ]
) / np.array([[Z0], [Z1], [Z0], [Z3]])
# Eq. (3): prev-prev block M01 + M10, cur-cur block M23 + M32 (diagonal is 0).
INTRA = 1 / Z0 + 1 / Z1 + (1 / 36) / Z0 + (1 / 36) / Z3
# Eq. (4), m = 0.5: row a: 1/Z0 + .5 - 36/Z0 < 0 -> 0; row b: three-way tie -> 0.5;
# row a': 0; row b': max = 1/Z3 (column b), second = q/Z3.
INTER = 0.5 + max(Q / Z3 + 0.5 - 1 / Z3, 0.0)
# Eq. (5): i in cur, j in prev: |M20-M02| + |M21-M12| + |M30-M03| + |M31-M13|.
CYCLE = 0.0 + abs(1 / Z0 - 1 / Z1) + abs((1 / 36) / Z3 - (1 / 36) / Z0) + abs(1 / Z3 - 1 / Z1)


def test_reid_hand_case_assignment_matrix():
    f_prev, f_cur = _features()
    m = assignment_matrix(f_prev, f_cur, placeholder="mean")
    np.testing.assert_allclose(m.numpy(), M_MEAN, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m.sum(1).numpy(), np.ones(4), rtol=1e-6)


def test_reid_hand_case_terms_and_total():
    f_prev, f_cur = _features()
    assert 0.2 < INTER - 0.5 < 0.25  # row b' really has a positive hinge (hand: 0.220)
    cases = {
        ("intra",): INTRA,
        ("inter",): INTER,
        ("cycle",): CYCLE,
        ("intra", "inter", "cycle"): INTRA + INTER + CYCLE,
    }
    for terms, value in cases.items():
        got = unsupervised_reid_loss(f_prev, f_cur, terms=terms)
        assert got.item() == pytest.approx(value / 4, rel=1e-5), terms  # Eq. (6): / (N1+N2)
    default = unsupervised_reid_loss(f_prev, f_cur)
    assert default.item() == pytest.approx((INTRA + INTER + CYCLE) / 4, rel=1e-5)


def test_reid_margin_changes_inter():
    f_prev, f_cur = _features()
    got = unsupervised_reid_loss(f_prev, f_cur, terms=("inter",), margin=0.1)
    # row b: tie -> 0.1; row b': q/Z3 + 0.1 - 1/Z3 < 0 -> 0; rows a, a': 0.
    assert got.item() == pytest.approx(0.1 / 4, rel=1e-5)


def test_reid_zero_placeholder():
    # p = 0 -> weight 36 ** 0 = 1 in the placeholder column.
    z0, z1, z3 = 38 + 1 / 36, 4.0, 2 + 2 / 36
    intra = 1 / z0 + 1 / z1 + (1 / 36) / z0 + (1 / 36) / z3
    f_prev, f_cur = _features()
    got = unsupervised_reid_loss(f_prev, f_cur, placeholder="zero", terms=("intra",))
    assert got.item() == pytest.approx(intra / 4, rel=1e-5)
    m = assignment_matrix(f_prev, f_cur, placeholder="zero")
    assert m[1, 4].item() == pytest.approx(1 / 4, rel=1e-6)


def test_reid_no_placeholder_changes_column_count():
    # No column: C = 4 -> T = 2 ln 5 -> exp(S T) = 25 ** S.
    z0, z1, z3 = 26 + 1 / 25, 3.0, 1 + 2 / 25
    intra = 1 / z0 + 1 / z1 + (1 / 25) / z0 + (1 / 25) / z3
    # inter: row b tie -> 0.5; row b': 0.04/z3 + 0.5 - 1/z3 < 0; rows a, a' -> 0.
    inter = 0.5
    f_prev, f_cur = _features()
    m = assignment_matrix(f_prev, f_cur, placeholder=None)
    assert m.shape == (4, 4)
    assert m[0, 2].item() == pytest.approx(25 / z0, rel=1e-6)
    got = unsupervised_reid_loss(f_prev, f_cur, placeholder=None, terms=("intra",))
    assert got.item() == pytest.approx(intra / 4, rel=1e-5)
    got = unsupervised_reid_loss(f_prev, f_cur, placeholder=None, terms=("inter",))
    assert got.item() == pytest.approx(inter / 4, rel=1e-5)


def test_reid_temperature_override():
    e = math.e
    pw = math.exp(-1 / 6)  # exp(p * T) with T = 1
    z0, z1, z3 = 1 + e + 1 / e + pw, 3 + pw, 1 + 2 / e + pw
    intra = 1 / z0 + 1 / z1 + (1 / e) / z0 + (1 / e) / z3
    f_prev, f_cur = _features()
    got = unsupervised_reid_loss(f_prev, f_cur, temperature=1.0, terms=("intra",))
    assert got.item() == pytest.approx(intra / 4, rel=1e-5)
    # An explicit T equal to the adaptive one (C = 5) reproduces the default.
    same = unsupervised_reid_loss(f_prev, f_cur, temperature=2 * math.log(6))
    assert same.item() == pytest.approx((INTRA + INTER + CYCLE) / 4, rel=1e-5)


def test_reid_negative_pair_eq7():
    # Eq. (7): sum of M' over the non-placeholder columns = sum_i (1 - M'_{i,p}).
    f_prev, f_cur = _features()
    expected = (4 - Q * (2 / Z0 + 1 / Z1 + 1 / Z3)) / 4
    got = unsupervised_reid_loss(f_prev, f_cur, negative=True)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    z0, z1, z3 = 38 + 1 / 36, 4.0, 2 + 2 / 36
    expected_zero = (4 - (2 / z0 + 1 / z1 + 1 / z3)) / 4
    got = unsupervised_reid_loss(f_prev, f_cur, negative=True, placeholder="zero")
    assert got.item() == pytest.approx(expected_zero, rel=1e-5)
    # terms does not apply to negative pairs.
    got = unsupervised_reid_loss(f_prev, f_cur, negative=True, terms=("cycle",))
    assert got.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="placeholder"):
        unsupervised_reid_loss(f_prev, f_cur, negative=True, placeholder=None)


def _reference_intra(f: torch.Tensor, n1: int, detach: bool) -> torch.Tensor:
    """Eq. (1)-(3) written out independently, with or without detaching p."""
    z = f / f.norm(dim=1, keepdim=True)
    s = z @ z.t()
    n = f.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    p = s[~eye].mean()
    p = p.detach() if detach else p
    sp = torch.cat([s.masked_fill(eye, float("-inf")), p.expand(n, 1)], dim=1)
    m = torch.softmax(sp * 2 * math.log(n + 2), dim=1)
    return (m[:n1, :n1].sum() + m[n1:, n1:n].sum()) / n


def test_reid_mean_placeholder_is_detached():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(5, 8, generator=g) + 0.5
    f_ours = f.clone().requires_grad_(True)
    unsupervised_reid_loss(f_ours[:3], f_ours[3:], terms=("intra",)).backward()
    grads = {}
    for detach in (True, False):
        f_ref = f.clone().requires_grad_(True)
        _reference_intra(f_ref, 3, detach).backward()
        grads[detach] = f_ref.grad
    torch.testing.assert_close(f_ours.grad, grads[True], rtol=1e-4, atol=1e-6)
    assert (grads[True] - grads[False]).abs().max() > 1e-3  # the test can tell them apart


def test_reid_gradients_reach_both_frames():
    f_prev, f_cur = _features(requires_grad=True)
    unsupervised_reid_loss(f_prev, f_cur).backward()
    assert f_prev.grad.abs().sum() > 0 and f_cur.grad.abs().sum() > 0
    assert torch.isfinite(f_prev.grad).all() and torch.isfinite(f_cur.grad).all()


def test_reid_degenerate_sizes():
    # N1 + N2 < 2: 0 with a graph.
    for n1, n2 in ((0, 0), (1, 0), (0, 1)):
        fp = torch.randn(n1, 4, requires_grad=True)
        fc = torch.randn(n2, 4, requires_grad=True)
        loss = unsupervised_reid_loss(fp, fc)
        assert loss.item() == 0.0 and loss.requires_grad
        loss.backward()
    # Empty previous frame, cur (1,0), (0,1): S off-diagonal 0 -> p = 0; C = 3, T = 2 ln 4:
    # both rows M' = [0, 1/2, 1/2] (own, other, placeholder). intra = 1, inter = 2 ties x 0.5,
    # cycle = 0 -> (1 + 1) / 2.
    fc = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    loss = unsupervised_reid_loss(torch.zeros(0, 2), fc)
    assert loss.item() == pytest.approx(1.0, rel=1e-6)
    # One object each, no placeholder: M' = [[0, 1], [1, 0]] -> every term 0.
    one = unsupervised_reid_loss(torch.ones(1, 3), torch.ones(1, 3), placeholder=None)
    assert one.item() == pytest.approx(0.0, abs=1e-7)
    # Zero feature vectors stay finite.
    z = unsupervised_reid_loss(torch.zeros(2, 3), torch.zeros(2, 3))
    assert torch.isfinite(z)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"placeholder": "median"}, "placeholder"),
        ({"terms": ("intra", "bogus")}, "terms"),
        ({"terms": "intra"}, "terms"),
        ({"terms": ()}, "terms"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"margin": float("inf")}, "margin"),
    ],
)
def test_reid_rejects_bad_options(kwargs, match):
    f_prev, f_cur = _features()
    with pytest.raises(ValueError, match=match):
        unsupervised_reid_loss(f_prev, f_cur, **kwargs)


def test_reid_rejects_bad_shapes():
    with pytest.raises(ValueError, match="feature dimension"):
        unsupervised_reid_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        unsupervised_reid_loss(torch.zeros(3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="floating"):
        unsupervised_reid_loss(torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3))


# -------------------------------------------------------- focal, L1, occlusion (11-14)


def test_focal_loss_by_hand():
    # logits 0 -> y_hat = 0.5. gt = 1: (1 - .5)^2 * ln 2 = 0.25 ln2;
    # gt = 0.5: (1 - .5)^4 * .5^2 * ln 2 = 0.015625 ln2; one positive -> / 1.
    logits = torch.zeros(1, 1, 1, 2)
    gt = torch.tensor([[[[1.0, 0.5]]]])
    assert focal_loss(logits, gt).item() == pytest.approx(0.265625 * LN2, rel=1e-6)
    # Two positives: (2 * 0.25 ln2) / 2.
    assert focal_loss(logits, torch.ones(1, 1, 1, 2)).item() == pytest.approx(0.25 * LN2)
    # No positive: divided by 1 (CenterNet): gt = 0 -> 0.25 ln2 per element.
    assert focal_loss(logits, torch.zeros(1, 1, 1, 2)).item() == pytest.approx(0.5 * LN2)


def test_focal_loss_clamps_sigmoid():
    # sigmoid(100) is clamped to 1 - 1e-4: loss = -(1 - 1e-4)^2 ln(1e-4), finite.
    got = focal_loss(torch.full((1, 1, 1, 1), 100.0), torch.zeros(1, 1, 1, 1))
    assert got.item() == pytest.approx(-((1 - 1e-4) ** 2) * math.log(1e-4), rel=1e-4)
    with pytest.raises(ValueError, match="same shape"):
        focal_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))


def test_reg_l1_loss_by_hand():
    pred = torch.arange(8.0).reshape(1, 2, 2, 2)  # ch0 [[0,1],[2,3]], ch1 [[4,5],[6,7]]
    ind = torch.tensor([[3, 0]])  # slot 0 reads cell (1,1) -> (3, 7)
    mask = torch.tensor([[1.0, 0.0]])  # slot 1 is padding
    target = torch.tensor([[[1.0, 1.0], [100.0, 100.0]]])
    # FairMOT: (|3 - 1| + |7 - 1|) / (mask.sum() * C + 1e-4) = 8 / 2.0001
    assert reg_l1_loss(pred, ind, mask, target).item() == pytest.approx(8 / 2.0001, rel=1e-6)
    assert reg_l1_loss(pred, ind, torch.zeros(1, 2), target).item() == 0.0
    with pytest.raises(ValueError, match="flat indices"):
        reg_l1_loss(pred, torch.tensor([[4, 0]]), mask, target)


def _occ_case(n_valid: int) -> tuple[dict, dict]:
    outputs = {
        "occ": torch.zeros(1, 1, 1, 2),
        "occ_off": torch.tensor([[[[0.2, 0.9]], [[0.4, 0.1]]]]),  # [1, 2, 1, 2]
    }
    targets = {
        "occ": torch.tensor([[[[1.0, 0.5]]]]) if n_valid else torch.zeros(1, 1, 1, 2),
        "occ_ind": torch.zeros(1, 2, dtype=torch.int64),
        "occ_mask": torch.tensor([[1.0] * n_valid + [0.0] * (2 - n_valid)]),
        "occ_off": torch.full((1, 2, 2), 0.5),
    }
    return outputs, targets


def test_occlusion_loss_by_hand():
    # One valid occlusion at cell 0: L_cen = 0.265625 ln2 (as the focal case above),
    # L_off = |0.2 - 0.5| + |0.4 - 0.5| = 0.4; Eq. (14): (L_cen + L_off) / 1.
    out, tgt = _occ_case(1)
    assert occlusion_loss(out, tgt).item() == pytest.approx(0.265625 * LN2 + 0.4, rel=1e-6)
    # Two valid occlusions sharing the cell: one heatmap peak but N_occ = 2 (Eq. 14 divides
    # by the number of valid occlusions): (0.265625 ln2 + 0.8) / 2.
    out, tgt = _occ_case(2)
    assert occlusion_loss(out, tgt).item() == pytest.approx((0.265625 * LN2 + 0.8) / 2, rel=1e-6)
    # None: guarded denominator 1, only the focal negatives: 2 x 0.25 ln2.
    out, tgt = _occ_case(0)
    assert occlusion_loss(out, tgt).item() == pytest.approx(0.5 * LN2, rel=1e-6)


def test_occlusion_loss_missing_head():
    out, tgt = _occ_case(1)
    del out["occ_off"]
    with pytest.raises(ValueError, match="occ_off"):
        occlusion_loss(out, tgt)


# ------------------------------------------------------------------ FairMOT baselines


def test_supervised_identity_loss_by_hand():
    loss_fn = SupervisedIdentityLoss(num_ids=3, id_dim=2)
    with torch.no_grad():
        loss_fn.classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        loss_fn.classifier.bias.zero_()
    s = math.sqrt(2) * math.log(2)  # emb_scale for 3 ids
    emb = torch.tensor([[3.0, 0.0], [0.0, 5.0]], requires_grad=True)
    # Row 0: normalised (1, 0) * s -> logits (s, 0, 0), id 0. Row 1 unknown (-1): ignored.
    expected = -math.log(math.exp(s) / (math.exp(s) + 2))
    got = loss_fn(emb, torch.tensor([0, -1]))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    got.backward()
    assert emb.grad[0].abs().sum() > 0 and emb.grad[1].abs().sum() == 0
    none_known = loss_fn(emb, torch.tensor([-1, -1]))
    assert none_known.item() == 0.0 and none_known.requires_grad
    with pytest.raises(ValueError, match="num_ids"):
        loss_fn(emb, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="num_ids"):
        SupervisedIdentityLoss(num_ids=2, id_dim=2)


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_scalability_supervised_vs_unsupervised():
    counts = [_n_params(SupervisedIdentityLoss(n, 16)) for n in (10, 20, 40)]
    assert counts == [17 * 10, 17 * 20, 17 * 40]  # (id_dim + 1) * num_ids, linear
    sup = [_n_params(OUTrackLoss(reid="supervised", num_ids=n, id_dim=16)) for n in (10, 1000)]
    assert sup[1] - sup[0] == 17 * 990
    # The unsupervised loss adds no parameters: only FairMOT's two task weights remain.
    assert _n_params(OUTrackLoss(reid="unsupervised", id_dim=16)) == 2
    assert _n_params(OUTrackLoss(reid="unsupervised", uncertainty=False)) == 0
    assert _n_params(OUTrackLoss(reid="none")) == 0


def test_uncertainty_weighting_by_hand():
    w = UncertaintyWeighting()
    det, idl = torch.tensor(2.0), torch.tensor(3.0)
    out = w(det, idl)
    expected = 0.5 * (math.exp(1.85) * 2 + math.exp(1.05) * 3 - 1.85 - 1.05)
    assert out.item() == pytest.approx(expected, rel=1e-6)
    out.backward()
    assert w.s_det.grad.item() == pytest.approx(0.5 * (1 - 2 * math.exp(1.85)), rel=1e-6)
    assert w.s_id.grad.item() == pytest.approx(0.5 * (1 - 3 * math.exp(1.05)), rel=1e-6)


# ------------------------------------------------------------------------ OUTrackLoss

OUT_H, OUT_W, D = 8, 8, 4


def _batch(frames: list[np.ndarray], ids: list[list[int]] | None = None) -> dict:
    items = []
    for k, boxes in enumerate(frames):
        items.append(
            build_targets(
                boxes,
                (OUT_H, OUT_W),
                ids=None if ids is None else ids[k],
                max_objects=6,
                max_occlusions=4,
            )
        )
    return default_collate(items)


def _outputs(n_images: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"hm": 1, "wh": 4, "reg": 2, "id": D, "occ": 1, "occ_off": 2}
    return {
        k: torch.randn(n_images, c, OUT_H, OUT_W, generator=g).requires_grad_(True)
        for k, c in shapes.items()
    }


BIG = [0, 0, 24, 28]
SMALL = [4, 4, 12, 16]  # inside BIG: a valid occlusion
FAR = [26, 2, 31, 12]


def test_outrack_loss_composition_and_eq8():
    frames = [
        np.array([BIG, SMALL], float),
        np.array([BIG, SMALL, FAR], float),
        np.array([FAR], float),
        np.array([SMALL, FAR], float),
    ]
    targets = _batch(frames)
    outputs = _outputs(4)
    negative = torch.tensor([False, True])
    loss_fn = OUTrackLoss()
    total, stats = loss_fn(outputs, targets, negative)
    expected_keys = {"hm", "wh", "reg", "occ", "occ_off", "det", "id", "total", "s_det", "s_id"}
    assert expected_keys <= set(stats) and all(isinstance(v, float) for v in stats.values())
    assert stats["hm"] == pytest.approx(focal_loss(outputs["hm"], targets["hm"]).item())
    det = stats["hm"] + 0.1 * stats["wh"] + stats["reg"] + 0.5 * (stats["occ"] + stats["occ_off"])
    assert stats["det"] == pytest.approx(det, rel=1e-6)
    assert stats["occ"] + stats["occ_off"] == pytest.approx(
        occlusion_loss(outputs, targets).item(), rel=1e-6
    )

    # Eq. (8): mean of the per-pair losses; embeddings read at the object cells by hand.
    def feats(img: int) -> torch.Tensor:
        ind = targets["ind"][img][targets["mask"][img] > 0]
        return torch.stack([outputs["id"][img, :, i // OUT_W, i % OUT_W] for i in ind.tolist()])

    l0 = unsupervised_reid_loss(feats(0), feats(1), negative=False)
    l1 = unsupervised_reid_loss(feats(2), feats(3), negative=True)
    assert stats["id"] == pytest.approx(((l0 + l1) / 2).item(), rel=1e-6)
    weighted = 0.5 * (math.exp(1.85) * stats["det"] + math.exp(1.05) * stats["id"] - 2.9)
    assert total.item() == pytest.approx(weighted, rel=1e-5)
    assert stats["total"] == pytest.approx(total.item())
    assert stats["s_det"] == pytest.approx(-1.85) and stats["s_id"] == pytest.approx(-1.05)

    total.backward()
    # Re-ID gradient only at object cells of the id map; occlusion heads receive gradient.
    id_grad = outputs["id"].grad.abs().sum(1)  # [4, h, w]
    cells = torch.zeros_like(id_grad, dtype=torch.bool)
    for img in range(4):
        for i in targets["ind"][img][targets["mask"][img] > 0].tolist():
            cells[img, i // OUT_W, i % OUT_W] = True
    assert (id_grad[cells] > 0).all() and (id_grad[~cells] == 0).all()
    assert outputs["occ"].grad.abs().sum() > 0 and outputs["occ_off"].grad.abs().sum() > 0


def test_outrack_loss_negative_default_is_positive():
    frames = [np.array([BIG, SMALL], float), np.array([BIG, SMALL], float)]
    targets, outputs = _batch(frames), _outputs(2, seed=1)
    _, s_none = OUTrackLoss()(outputs, targets)
    _, s_pos = OUTrackLoss()(outputs, targets, torch.tensor([False]))
    _, s_neg = OUTrackLoss()(outputs, targets, torch.tensor([True]))
    assert s_none["id"] == s_pos["id"] != s_neg["id"]


@pytest.mark.parametrize("reid", ["unsupervised", "supervised", "none"])
def test_outrack_loss_degenerate_inputs_are_finite(reid):
    cases = [
        [np.zeros((0, 4))] * 4,  # no objects at all
        [np.array([SMALL], float), np.zeros((0, 4)), np.array([SMALL], float)] * 1
        + [np.array([SMALL], float)],  # one object per frame / one frame empty
        [np.array([[-20, -20, -5, -5], [40, 40, 60, 60], [3, 3, 3, 9]], float)]  # outside
        + [np.array([[-8, -8, 8, 8]], float)] * 3,  # zero-area / partly outside
    ]
    for frames in cases:
        ids = [list(range(len(f))) for f in frames]
        targets = _batch(frames, ids)
        outputs = _outputs(4, seed=2)
        loss_fn = OUTrackLoss(reid=reid, num_ids=10 if reid == "supervised" else None, id_dim=D)
        total, stats = loss_fn(outputs, targets, torch.tensor([False, True]))
        assert torch.isfinite(total) and all(math.isfinite(v) for v in stats.values())
        total.backward()
        for t in outputs.values():
            assert t.grad is None or torch.isfinite(t.grad).all()


def test_outrack_loss_modes():
    frames = [np.array([BIG, SMALL], float), np.array([SMALL, FAR], float)]
    targets = _batch(frames, [[0, 1], [1, 2]])
    outputs = _outputs(2, seed=3)
    total, stats = OUTrackLoss(reid="none")(outputs, targets)
    assert total.item() == pytest.approx(stats["det"]) and stats["id"] == 0.0
    assert stats["s_det"] == 0.0 and stats["s_id"] == 0.0
    total, stats = OUTrackLoss(reid="unsupervised", uncertainty=False)(outputs, targets)
    assert total.item() == pytest.approx(stats["det"] + stats["id"], rel=1e-6)
    total, stats = OUTrackLoss(reid="none", occlusion=False)(outputs, targets)
    assert stats["occ"] == 0.0 and stats["occ_off"] == 0.0
    assert stats["det"] == pytest.approx(stats["hm"] + 0.1 * stats["wh"] + stats["reg"])
    # Supervised: classifier on all masked objects of all images with targets["ids"].
    sup = OUTrackLoss(reid="supervised", num_ids=5, id_dim=D, uncertainty=False)
    total, stats = sup(outputs, targets)
    emb = torch.stack(
        [
            outputs["id"][img, :, i // OUT_W, i % OUT_W]
            for img in range(2)
            for i in targets["ind"][img][targets["mask"][img] > 0].tolist()
        ]
    )
    expected = sup.id_loss(emb, torch.tensor([0, 1, 1, 2]))
    assert stats["id"] == pytest.approx(expected.item(), rel=1e-6)


def test_outrack_loss_validation():
    with pytest.raises(ValueError, match="reid"):
        OUTrackLoss(reid="triplet")
    with pytest.raises(ValueError, match="num_ids"):
        OUTrackLoss(reid="supervised")
    with pytest.raises(ValueError, match="placeholder"):
        OUTrackLoss(placeholder="median")
    with pytest.raises(ValueError, match="terms"):
        OUTrackLoss(terms=("intra", "intra"))
    frames = [np.array([SMALL], float)] * 3
    targets, outputs = _batch(frames), _outputs(3)
    with pytest.raises(ValueError, match="pairs"):
        OUTrackLoss()(outputs, targets)
    targets, outputs = _batch(frames[:2]), _outputs(2)
    with pytest.raises(ValueError, match="negative"):
        OUTrackLoss()(outputs, targets, torch.tensor([True, False]))
    del outputs["occ"]
    with pytest.raises(ValueError, match="occ"):
        OUTrackLoss()(outputs, targets)
