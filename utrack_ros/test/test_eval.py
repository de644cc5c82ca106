"""Evaluation: CLEAR MOT / IDF1 / HOTA on MOTChallenge gt, Re-ID R1 / mAP, ``utrack eval``.

Hand-made scenes have expected values written from the metric definitions; real fixtures
(``fixtures/eval``, see SOURCES.md) check against motmetrics' published numbers and
against TrackEval's own file-based MOTChallenge evaluator.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from utrack_ros.data import MOTGroundTruth, load_mot_gt, write_mot_results
from utrack_ros.eval import (
    box_iou_xywh,
    evaluate_many,
    evaluate_sequence,
    format_table,
    reid_metrics,
    split_queries_gallery,
)
from utrack_ros.eval import reid as reid_module
from utrack_ros.tools import eval as eval_tool

FIXTURES = Path(__file__).parent / "fixtures" / "eval"


# ----------------------------------------------------------------------------- helpers


def box(x: float, y: float = 0.0, w: float = 10.0, h: float = 20.0) -> list[float]:
    return [x, y, w, h]


def gt_in_memory(rows: list[tuple]) -> MOTGroundTruth:
    """MOT15-style gt from ``(frame, id, [l, t, w, h])`` (all considered pedestrians)."""
    a = np.array([[f, i, *b] for f, i, b in rows], dtype=np.float64)
    n = len(a)
    return MOTGroundTruth(
        frame=a[:, 0].astype(np.int64), track_id=a[:, 1].astype(np.int64),
        boxes_xywh=a[:, 2:6], consider=np.ones(n, bool), cls=np.ones(n, np.int64),
        visibility=np.full(n, np.nan), has_visibility=False,
    )


def results(rows: list[tuple]) -> np.ndarray:
    """Results ``[N, 7]`` from ``(frame, id, [l, t, w, h])``."""
    return np.array([[f, i, *b, 1.0] for f, i, b in rows], dtype=np.float64)


def write_mot17_gt(path: Path, rows: list[tuple]) -> Path:
    """9-column gt from ``(frame, id, box, consider, class, visibility)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(
        f"{f},{i},{b[0]},{b[1]},{b[2]},{b[3]},{c},{k},{v}\n" for f, i, b, c, k, v in rows
    ))
    return path


def write_mot15_gt(path: Path, rows: list[tuple]) -> Path:
    """10-column gt from ``(frame, id, box, consider)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(
        f"{f},{i},{b[0]},{b[1]},{b[2]},{b[3]},{c},-1,-1,-1\n" for f, i, b, c in rows
    ))
    return path


def make_sequence(root: Path, name: str, length: int, gt_rows: list[tuple]) -> Path:
    seq = root / name
    write_mot15_gt(seq / "gt" / "gt.txt", gt_rows)
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=25\nseqLength={length}\n"
        "imWidth=640\nimHeight=480\nimExt=.jpg\n"
    )
    return seq


# Two gt tracks over 4 frames, far apart. Tracker: id 1 follows A throughout; B is id 2 in
# frames 1-2, missed in frame 3, id 4 in frame 4 (one switch); id 3 is a false positive.
A, B, FAR = box(0), box(100), box(300)
SCENE_GT = [(f, 1, A) for f in range(1, 5)] + [(f, 2, B) for f in range(1, 5)]
SCENE_RES = [(f, 1, A) for f in range(1, 5)] + [(1, 2, B), (2, 2, B), (3, 3, FAR), (4, 4, B)]


# ----------------------------------------------------------------------------- CLEAR / ID / HOTA


def test_hand_scene_switch_miss_false_positive():
    m = evaluate_sequence(gt_in_memory(SCENE_GT), results(SCENE_RES))
    # 8 gt boxes; 7 matched; 1 miss (B, frame 3); 1 FP (id 3); 1 switch (B: id 2 -> id 4).
    assert (m["TP"], m["FN"], m["FP"], m["IDS"]) == (7, 1, 1, 1)
    assert m["MOTA"] == pytest.approx(100 * (1 - (1 + 1 + 1) / 8))  # 62.5
    assert m["MODA"] == pytest.approx(100 * (1 - (1 + 1) / 8))
    assert m["Recall"] == pytest.approx(100 * 7 / 8)
    assert m["Precision"] == pytest.approx(100 * 7 / 8)
    assert m["MOTP"] == pytest.approx(100.0)  # every match has IoU 1
    # Identity: A<->1 (4 frames), B<->2 (2 frames) -> IDTP 6 of 8 gt and 8 tracker boxes.
    assert m["IDP"] == pytest.approx(75.0) and m["IDR"] == pytest.approx(75.0)
    assert m["IDF1"] == pytest.approx(100 * 2 * 6 / (8 + 8))
    # A tracked 4/4 (> 80 %: MT); B 3/4 = 75 % (PT); B's track restarts once (Frag 1).
    assert (m["MT"], m["PT"], m["ML"], m["Frag"]) == (1, 1, 0, 1)
    # HOTA: all IoU 1, so every alpha has TP 7, FN 1, FP 1 -> DetA 7/9. AssA averages over
    # TPs: A-1 (x4) 4/4; B-2 (x2) 2/(2+2+0); B-4 (x1) 1/(1+3+0).
    ass_a = (4 * 1.0 + 2 * 0.5 + 1 * 0.25) / 7
    assert m["DetA"] == pytest.approx(100 * 7 / 9)
    assert m["AssA"] == pytest.approx(100 * ass_a)
    assert m["HOTA"] == pytest.approx(100 * math.sqrt(7 / 9 * ass_a))
    assert (m["num_gt_ids"], m["num_tracker_ids"], m["num_frames"]) == (2, 4, 4)
    assert (m["num_gt_dets"], m["num_tracker_dets"]) == (8, 8)


def test_files_and_arrays_give_the_same_metrics(tmp_path):
    gt_file = write_mot15_gt(tmp_path / "gt.txt", [(f, i, b, 1) for f, i, b in SCENE_GT])
    res_file = write_mot_results(tmp_path / "res.txt", results(SCENE_RES))
    from_files = evaluate_sequence(gt_file, res_file)
    from_arrays = evaluate_sequence(gt_in_memory(SCENE_GT), results(SCENE_RES))
    assert from_files == pytest.approx(from_arrays)
    # Six columns (no score) are accepted too.
    assert evaluate_sequence(gt_file, results(SCENE_RES)[:, :6]) == pytest.approx(from_arrays)


def test_hota_alone_one_track_two_ids():
    # One gt track over 2 frames, tracked perfectly but with a new id in frame 2: detection
    # is perfect (DetA 1) and each TP's association is 1 / (1 + 1 + 0) (AssA 1/2).
    gt = gt_in_memory([(1, 7, A), (2, 7, A)])
    m = evaluate_sequence(gt, results([(1, 1, A), (2, 2, A)]))
    assert m["DetA"] == pytest.approx(100.0)
    assert m["AssA"] == pytest.approx(50.0)
    assert m["HOTA"] == pytest.approx(100 * math.sqrt(0.5))
    assert (m["IDS"], m["MOTA"]) == (1, pytest.approx(50.0))


def test_motp_is_mean_iou_and_threshold_applies():
    # Shifted by 2 px of 10: IoU = 8*20 / (2*200 - 8*20) = 2/3.
    gt = gt_in_memory([(1, 1, box(0))])
    res = results([(1, 1, box(2))])
    assert box_iou_xywh(np.array([box(0)]), np.array([box(2)]))[0, 0] == pytest.approx(2 / 3)
    m = evaluate_sequence(gt, res)
    assert m["MOTP"] == pytest.approx(100 * 2 / 3)  # similarity, higher is better
    assert (m["TP"], m["FP"], m["FN"]) == (1, 0, 0)
    # HOTA: matched for the 13 alphas 0.05 .. 0.65 <= 2/3, unmatched for the other 6.
    assert m["HOTA"] == pytest.approx(100 * 13 / 19)
    strict = evaluate_sequence(gt, res, iou_threshold=0.7)
    assert (strict["TP"], strict["FP"], strict["FN"], strict["MOTA"]) == (0, 1, 1, -100.0)
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate_sequence(gt, res, iou_threshold=0.0)


def test_iou_matches_definition_and_zero_area():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 10]], dtype=float)
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    iou = box_iou_xywh(a, b)
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == pytest.approx(1.0)
    assert np.all(iou[1] == 0.0)  # a zero-width box matches nothing


def test_distractor_match_is_removed_not_counted(tmp_path):
    ped, distractor, occluder = box(0), box(100), box(200)
    gt = write_mot17_gt(tmp_path / "gt.txt", [
        (1, 1, ped, 1, 1, 1.0),
        (1, 2, distractor, 0, 8, 1.0),  # class 8: distractor
        (1, 3, occluder, 0, 9, 1.0),  # class 9: occluder, ignored but no distractor
    ])
    res = results([(1, 11, ped), (1, 12, box(101)), (1, 13, occluder)])
    m = evaluate_sequence(gt, res)
    # The box on the distractor is removed; the box on the occluder stays an FP
    # (TrackEval / MOTChallenge); the gt keeps only the pedestrian.
    assert (m["TP"], m["FP"], m["FN"], m["num_tracker_dets"], m["num_gt_ids"]) == (1, 1, 0, 2, 1)
    off = evaluate_sequence(gt, res, distractor_handling=False)
    assert (off["TP"], off["FP"], off["num_tracker_dets"]) == (1, 2, 3)
    ignore = evaluate_sequence(gt, res, ignore_unconsidered=True)
    assert (ignore["TP"], ignore["FP"], ignore["num_tracker_dets"]) == (1, 0, 1)


def test_distractor_removal_needs_iou_half_and_one_to_one(tmp_path):
    gt = write_mot17_gt(tmp_path / "gt.txt", [(1, 1, box(0), 1, 1, 1.0),
                                              (1, 2, box(100), 0, 7, 1.0)])
    # IoU 1/3 with the static person (class 7): not matched -> stays, becomes an FP.
    far = evaluate_sequence(gt, results([(1, 5, box(0)), (1, 6, box(105))]))
    assert far["FP"] == 1
    # Two boxes on one distractor: only the matched one (IoU 1) goes; the other is an FP.
    two = evaluate_sequence(gt, results([(1, 5, box(0)), (1, 6, box(100)), (1, 7, box(101))]))
    assert (two["FP"], two["num_tracker_dets"]) == (1, 2)


def test_consider_zero_rows_are_not_scored_mot15(tmp_path):
    gt_file = write_mot15_gt(tmp_path / "gt.txt", [
        (1, 1, box(0), 1), (2, 1, box(0), 1),
        (1, 2, box(100), 0), (2, 2, box(100), 0),
    ])
    gt = load_mot_gt(gt_file)
    assert not gt.has_visibility and (gt.cls == 1).all()
    only_ped = evaluate_sequence(gt_file, results([(1, 1, box(0)), (2, 1, box(0))]))
    assert (only_ped["FN"], only_ped["FP"], only_ped["num_gt_ids"]) == (0, 0, 1)
    assert only_ped["MOTA"] == pytest.approx(100.0)
    on_ignored = results([(1, 1, box(0)), (2, 1, box(0)), (1, 2, box(100))])
    # TrackEval (MOT15): the ignored row is dropped, a box on it is a false positive.
    assert evaluate_sequence(gt_file, on_ignored)["FP"] == 1
    assert evaluate_sequence(gt_file, on_ignored, ignore_unconsidered=True)["FP"] == 0


def test_visibility_zero_pedestrians_are_still_scored(tmp_path):
    gt = write_mot17_gt(tmp_path / "gt.txt", [(1, 1, box(0), 1, 1, 0.0),
                                              (1, 2, box(100), 1, 1, 0.7)])
    m = evaluate_sequence(gt, results([(1, 2, box(100))]))
    assert (m["FN"], m["num_gt_ids"]) == (1, 2)  # as TrackEval's MotChallenge2DBox


def test_frames_restriction(tmp_path):
    gt_rows = [(f, 1, A, 1) for f in range(1, 7)] + [(f, 2, B, 1) for f in range(1, 7)]
    seq = make_sequence(tmp_path, "SEQ-01", 6, gt_rows)
    # Frames 1-3: B missed and an FP; frames 4-6 perfect under new ids (a switch for A at
    # frame 4 when the whole sequence is scored, none inside frames 4-6).
    res = results([(f, 1, A) for f in range(1, 4)] + [(f, 9, FAR) for f in range(1, 4)]
                  + [(f, 5, A) for f in range(4, 7)] + [(f, 6, B) for f in range(4, 7)])
    whole = evaluate_sequence(seq, res)
    assert (whole["IDS"], whole["FN"], whole["FP"], whole["num_frames"]) == (1, 3, 3, 6)
    second = evaluate_sequence(seq, res, frames=range(4, 7))
    assert (second["IDS"], second["FN"], second["FP"]) == (0, 0, 0)
    assert second["MOTA"] == pytest.approx(100.0) and second["IDF1"] == pytest.approx(100.0)
    assert (second["num_frames"], second["num_gt_ids"], second["num_tracker_ids"]) == (3, 2, 2)
    first = evaluate_sequence(seq, res, frames=range(1, 4))
    assert (first["TP"], first["FN"], first["FP"], first["num_tracker_ids"]) == (3, 3, 3, 2)
    for bad in (range(0, 3), range(5, 5), range(1, 7, 2)):
        with pytest.raises(ValueError, match="frames="):
            evaluate_sequence(seq, res, frames=bad)
    with pytest.raises(ValueError, match="beyond the sequence's 6 frames"):
        evaluate_sequence(seq, res, frames=range(4, 8))
    late = np.concatenate([res, results([(7, 1, A)])])
    with pytest.raises(ValueError, match="frame 7 but the sequence has only 6"):
        evaluate_sequence(seq, late)


def test_empty_results_and_empty_gt():
    gt = gt_in_memory(SCENE_GT)
    none = evaluate_sequence(gt, np.zeros((0, 7)))
    assert (none["FN"], none["FP"], none["ML"], none["MOTA"]) == (8, 0, 2, 0.0)
    fp_only = evaluate_sequence(gt_in_memory([(1, 1, A)]), results([(2, 3, FAR)]))
    assert (fp_only["TP"], fp_only["FP"], fp_only["FN"]) == (0, 1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,1,0,0,10\n", "expected at least 6"),
        ("1,1,0,0,10,20,1\n1.5,2,0,0,10,20,1\n", "non-integer frame"),
        ("1,1,0,0,10,20,1\n1,1,5,0,10,20,1\n", "id 1 appears 2 times in frame 1"),
        ("1,1,0,0,-10,20,1\n", "negative width/height"),
        ("0,1,0,0,10,20,1\n", "frames start at 1"),
        ("frame,id,x\n1,2,3\n", "not a comma-separated MOTChallenge file"),
    ],
)
def test_malformed_results_file_is_a_clear_error(tmp_path, text, message):
    gt = write_mot15_gt(tmp_path / "gt.txt", [(1, 1, A, 1)])
    res = tmp_path / "res.txt"
    res.write_text(text)
    with pytest.raises(ValueError, match=message):
        evaluate_sequence(gt, res)


def test_bad_inputs_are_clear_errors(tmp_path):
    gt = gt_in_memory(SCENE_GT)
    with pytest.raises(ValueError, match=r"\[N, >=6\]"):
        evaluate_sequence(gt, np.zeros((3, 5)))
    with pytest.raises(FileNotFoundError, match="not found"):
        evaluate_sequence(gt, tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match="without gt/gt.txt"):
        evaluate_sequence(tmp_path, results(SCENE_RES))
    with pytest.raises(TypeError, match="results must be"):
        evaluate_sequence(gt, [[1, 1, 0, 0, 1, 1]])


# ----------------------------------------------------------------------------- real fixtures

# motmetrics 1.4.0, tests/test_metrics.py::test_motchallenge_files, expected values for its
# sample tracker on TUD-Campus, TUD-Stadtmitte and OVERALL: idf1, idp, idr, recall,
# precision, num_unique_objects, mostly_tracked, partially_tracked, mostly_lost,
# num_false_positives, num_misses, num_switches, num_fragmentations, mota, motp (1 - IoU).
MOTMETRICS_PUBLISHED = {
    "TUD-Campus": [0.557659, 0.729730, 0.451253, 0.582173, 0.941441, 8, 1, 6, 1, 13, 150, 7,
                   7, 0.526462, 0.277201],
    "TUD-Stadtmitte": [0.644619, 0.819760, 0.531142, 0.608997, 0.939920, 10, 5, 4, 1, 45,
                       452, 7, 6, 0.564014, 0.345904],
    "OVERALL": [0.624296, 0.799176, 0.512211, 0.602640, 0.940268, 18, 6, 10, 2, 58, 602, 14,
                13, 0.555116, 0.330177],
}


def test_tud_matches_motmetrics_published_values():
    seqs = {name: (FIXTURES / name, FIXTURES / "motmetrics-hypotheses" / f"{name}.txt", None)
            for name in ("TUD-Campus", "TUD-Stadtmitte")}
    table = evaluate_many(seqs)
    assert list(table) == ["TUD-Campus", "TUD-Stadtmitte", "OVERALL"]
    for name, exp in MOTMETRICS_PUBLISHED.items():
        m = table[name]
        ratios = [m["IDF1"], m["IDP"], m["IDR"], m["Recall"], m["Precision"]]
        # Published to 6 decimals: agree within half a unit of the last digit.
        np.testing.assert_allclose(np.array(ratios) / 100, exp[:5], rtol=0, atol=5e-7)
        counts = [m[k] for k in ("num_gt_ids", "MT", "PT", "ML", "FP", "FN", "IDS", "Frag")]
        assert counts == exp[5:13], name
        assert m["MOTA"] / 100 == pytest.approx(exp[13], abs=5e-7)
        assert 1 - m["MOTP"] / 100 == pytest.approx(exp[14], abs=5e-7)  # distance vs IoU


def test_overall_row_is_computed_from_summed_counts():
    seqs = {name: (FIXTURES / name, FIXTURES / "motmetrics-hypotheses" / f"{name}.txt", None)
            for name in ("TUD-Campus", "TUD-Stadtmitte")}
    table = evaluate_many(seqs)
    rows = [table["TUD-Campus"], table["TUD-Stadtmitte"]]
    overall = table["OVERALL"]
    for key in ("TP", "FP", "FN", "IDS", "Frag", "MT", "PT", "ML", "num_gt_ids", "num_frames"):
        assert overall[key] == sum(r[key] for r in rows)
    gt_dets = overall["TP"] + overall["FN"]
    assert gt_dets == 359 + 1156
    assert overall["MOTA"] == pytest.approx(
        100 * (1 - (overall["FP"] + overall["FN"] + overall["IDS"]) / gt_dets))
    # Not the mean of the per-sequence ratios.
    assert overall["MOTA"] != pytest.approx((rows[0]["MOTA"] + rows[1]["MOTA"]) / 2, abs=0.1)
    with pytest.raises(ValueError, match="reserved"):
        evaluate_many({"OVERALL": seqs["TUD-Campus"]})


def _trackeval_file_based(tmp_path: Path, sequences: dict[str, tuple[Path, np.ndarray, int]],
                          benchmark: str) -> dict[str, dict[str, float]]:
    """TrackEval's own MotChallenge2DBox evaluation (the reference) of
    ``{name: (gt file, tracker rows, length)}``; the combined row is "OVERALL"."""
    import trackeval

    for name, (gt_file, tracker, _) in sequences.items():
        gt_dir = tmp_path / "te_gt" / name / "gt"
        gt_dir.mkdir(parents=True)
        (gt_dir / "gt.txt").write_text(gt_file.read_text())
        tr_dir = tmp_path / "te_trackers" / "T" / "data"
        tr_dir.mkdir(parents=True, exist_ok=True)
        np.savetxt(tr_dir / f"{name}.txt", np.c_[tracker[:, :6], np.ones((len(tracker), 4))],
                   delimiter=",", fmt="%.10g")
    evaluator = trackeval.Evaluator({
        "USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False,
        "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
        "PLOT_CURVES": False, "LOG_ON_ERROR": None,
    })
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(tmp_path / "te_gt"), "TRACKERS_FOLDER": str(tmp_path / "te_trackers"),
        "OUTPUT_FOLDER": str(tmp_path / "te_out"), "BENCHMARK": benchmark,
        "SKIP_SPLIT_FOL": True, "PRINT_CONFIG": False,
        "SEQ_INFO": {name: length for name, (_, _, length) in sequences.items()},
    })
    config = {"PRINT_CONFIG": False, "THRESHOLD": 0.5}
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(dict(config)),
               trackeval.metrics.Identity(dict(config))]
    with contextlib.redirect_stdout(io.StringIO()):
        out, _ = evaluator.evaluate([dataset], metrics)
    table = {}
    for name in [*sequences, "COMBINED_SEQ"]:
        r = out["MotChallenge2DBox"]["T"][name]["pedestrian"]
        c, i, h = r["CLEAR"], r["Identity"], r["HOTA"]
        table["OVERALL" if name == "COMBINED_SEQ" else name] = {
            "MOTA": 100 * c["MOTA"], "MOTP": 100 * c["MOTP"], "IDF1": 100 * i["IDF1"],
            "IDP": 100 * i["IDP"], "IDR": 100 * i["IDR"], "Recall": 100 * c["CLR_Re"],
            "Precision": 100 * c["CLR_Pr"], "HOTA": 100 * np.mean(h["HOTA"]),
            "DetA": 100 * np.mean(h["DetA"]), "AssA": 100 * np.mean(h["AssA"]),
            "LocA": 100 * np.mean(h["LocA"]), "TP": c["CLR_TP"], "FP": c["CLR_FP"],
            "FN": c["CLR_FN"], "IDS": c["IDSW"], "Frag": c["Frag"], "MT": c["MT"],
            "PT": c["PT"], "ML": c["ML"],
        }
    return table


def _assert_same(mine: dict[str, float], ref: dict[str, float], where: str) -> None:
    for key, value in ref.items():
        assert mine[key] == pytest.approx(value, rel=1e-12, abs=1e-9), (where, key)


def _noisy_tracker(gt_rows: np.ndarray, seed: int, switch_every: int) -> np.ndarray:
    """Tracker output made from ALL gt rows (distractors and occluders included): dropped
    boxes, jitter, identity switches and random false positives; rounded as in a file."""
    rng = np.random.default_rng(seed)
    rows = gt_rows[rng.random(len(gt_rows)) < 0.85, :6].copy()
    rows[:, 2:4] += rng.normal(0, 0.08, (len(rows), 2)) * rows[:, 4:6]
    rows[:, 4:6] *= np.exp(rng.normal(0, 0.08, (len(rows), 2)))
    switched = ((rows[:, 0] // switch_every) % 2 == 1) & (rows[:, 1] % 3 == 0)
    rows[switched, 1] += 5000
    n_fp = max(3, len(gt_rows) // 20)
    fp = np.c_[rng.integers(gt_rows[:, 0].min(), gt_rows[:, 0].max() + 1, n_fp),
               100000 + np.arange(n_fp), rng.uniform(0, 600, (n_fp, 2)),
               rng.uniform(20, 100, n_fp), rng.uniform(50, 250, n_fp)]
    return np.array([[float(f"{v:.10g}") for v in r] for r in np.r_[rows, fp]])


@pytest.mark.parametrize(
    ("seq", "length", "te_benchmark", "switch_every"),
    [("MOT17-02-FRCNN", 4, "MOT17", 2), ("TUD-Stadtmitte", 179, "MOT15", 40)],
)
def test_matches_trackeval_file_based_evaluator(tmp_path, seq, length, te_benchmark,
                                                switch_every):
    gt_file = FIXTURES / seq / "gt" / "gt.txt"
    gt_rows = np.loadtxt(gt_file, delimiter=",")
    for seed in range(2):
        tracker = _noisy_tracker(gt_rows, seed, switch_every)
        ref = _trackeval_file_based(tmp_path / str(seed), {seq: (gt_file, tracker, length)},
                                    te_benchmark)
        mine = evaluate_sequence(gt_file, tracker, frames=range(1, length + 1))
        _assert_same(mine, ref[seq], f"{seq} seed {seed}")
        assert mine["IDS"] > 0 and mine["FP"] > 0 and mine["FN"] > 0  # a non-trivial case
    if te_benchmark == "MOT17":  # the fixture has distractors: removal must have mattered
        off = evaluate_sequence(gt_file, tracker, distractor_handling=False)
        assert off["FP"] > mine["FP"]


def test_combined_row_matches_trackeval(tmp_path):
    seqs = {}
    for name, length in (("TUD-Campus", 71), ("TUD-Stadtmitte", 179)):
        hyp = FIXTURES / "motmetrics-hypotheses" / f"{name}.txt"
        seqs[name] = (FIXTURES / name / "gt" / "gt.txt", np.loadtxt(hyp, delimiter=","), length)
    ref = _trackeval_file_based(tmp_path, seqs, "MOT15")
    mine = evaluate_many({name: (gt, rows, None) for name, (gt, rows, _) in seqs.items()})
    assert list(mine) == list(ref)
    for name in ref:
        _assert_same(mine[name], ref[name], name)


# ----------------------------------------------------------------------------- table


def test_format_table_layout():
    table = evaluate_many({
        "SEQ-A": (gt_in_memory(SCENE_GT), results(SCENE_RES), None),
        "SEQ-B": (gt_in_memory(SCENE_GT), results(SCENE_RES)[:4], None),
    })
    text = format_table(table)
    lines = text.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("OVERALL")
    assert len({len(line) for line in lines}) == 1  # fixed width
    header = lines[0].split()
    row_a = dict(zip(header[1:], lines[1].split()[1:], strict=True))
    assert row_a["MOTA"] == "62.5" and row_a["IDF1"] == "75.0"  # percent, 1 decimal
    assert row_a["FP"] == "1" and row_a["GT"] == "2" and row_a["IDS"] == "1"  # ints
    custom = format_table(table, columns=["MOTA", "num_frames"])
    assert custom.splitlines()[0].split() == ["Sequence", "MOTA", "Frames"]
    with pytest.raises(ValueError, match="no \\['nope'\\]"):
        format_table(table, columns=["nope"])


# ----------------------------------------------------------------------------- Re-ID


def _unit(deg: float, scale: float = 1.0) -> list[float]:
    return [scale * math.cos(math.radians(deg)), scale * math.sin(math.radians(deg))]


def test_reid_r1_map_by_hand():
    # (track, frame, angle in degrees). Track 1: queries at 5, 28; gallery at 0, 40.
    # Track 2: queries at 80, -10; gallery at 90, 20. Track 3 has one box: skipped (else
    # it would be the nearest gallery item of the first query).
    obs = [(1, 1, 5), (1, 2, 28), (1, 3, 0), (1, 4, 40),
           (2, 1, 80), (2, 2, -10), (2, 3, 90), (2, 4, 20), (3, 7, 4)]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(obs))  # input order must not matter
    emb = np.array([_unit(obs[k][2], scale=1 + k) for k in order])  # nor the norms
    ids = np.array([obs[k][0] for k in order])
    frames = np.array([obs[k][1] for k in order])
    m = reid_metrics(emb, ids, frames)
    # Gallery by angular distance (correct = *):
    # q 5:   0*, 20, 40*, 90   -> R1 hit,  AP = (1/1 + 2/3) / 2 = 5/6
    # q 28:  20, 40*, 0*, 90   -> miss,    AP = (1/2 + 2/3) / 2 = 7/12
    # q 80:  90*, 40, 20*, 0   -> hit,     AP = (1/1 + 2/3) / 2 = 5/6
    # q -10: 0, 20*, 40, 90*   -> miss,    AP = (1/2 + 2/4) / 2 = 1/2
    assert m["num_queries"] == 4
    assert m["R1"] == pytest.approx(50.0)
    assert m["mAP"] == pytest.approx(100 * (5 / 6 + 7 / 12 + 5 / 6 + 1 / 2) / 4)


def _reid_reference(emb: np.ndarray, ids: np.ndarray, frames: np.ndarray) -> tuple[float, float]:
    """Plain per-query loop: sort the gallery by cosine distance, read R1 and AP."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    queries, gallery = [], []
    for t in np.unique(ids):
        members = np.flatnonzero(ids == t)
        members = members[np.argsort(frames[members])]
        if len(members) >= 2:
            queries += list(members[: len(members) // 2])
            gallery += list(members[len(members) // 2:])
    r1, aps = [], []
    for q in queries:
        order = np.argsort([1 - emb[q] @ emb[g] for g in gallery])
        correct = ids[np.array(gallery)[order]] == ids[q]
        r1.append(correct[0])
        ranks = np.flatnonzero(correct) + 1
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
    return 100 * float(np.mean(r1)), 100 * float(np.mean(aps))


def test_reid_matches_reference_and_blocking_does_not_matter(monkeypatch):
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(6), 7)[:-2]  # the last track has 5 boxes
    frames = np.tile(np.arange(1, 8), 6)[:-2]
    emb = rng.normal(size=(len(ids), 8)) + 1.5 * rng.normal(size=(6, 8))[ids]
    full = reid_metrics(emb, ids, frames)
    r1, m_ap = _reid_reference(emb, ids, frames)
    assert 0 < r1 < 100 and 0 < m_ap < 100  # a non-trivial case
    assert full["R1"] == pytest.approx(r1) and full["mAP"] == pytest.approx(m_ap, rel=1e-5)
    assert full["num_queries"] == 5 * 3 + 2
    monkeypatch.setattr(reid_module, "_MAX_BLOCK", 5)
    assert reid_metrics(emb, ids, frames) == pytest.approx(full)


def test_reid_ties_are_pessimistic():
    # Collapsed embeddings (all equal) must not look perfect: 2 tracks x 2 boxes, gallery
    # = one box per track at the same distance; the correct one ranks 2nd.
    m = reid_metrics(np.ones((4, 3)), np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2]))
    assert (m["R1"], m["mAP"], m["num_queries"]) == (0.0, 50.0, 2)


def test_reid_split_and_errors():
    ids = np.array([5, 5, 5, 9, 9, 4])
    frames = np.array([3, 1, 2, 10, 11, 1])
    q, g = split_queries_gallery(ids, frames)
    # Track 5 (frames 1, 2, 3): query frame 1, gallery frames 2, 3. Track 4: skipped.
    assert q.tolist() == [False, True, False, True, False, False]
    assert g.tolist() == [True, False, True, False, True, False]
    single = reid_metrics(np.eye(3), np.array([1, 2, 3]), np.array([1, 1, 1]))
    assert single["num_queries"] == 0 and math.isnan(single["R1"])
    with pytest.raises(ValueError, match="must both be"):
        reid_metrics(np.eye(3), np.array([1, 2]), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="all zeros"):
        reid_metrics(np.zeros((2, 3)), np.array([1, 1]), np.array([1, 2]))
    with pytest.raises(ValueError, match="twice in one frame"):
        reid_metrics(np.eye(2), np.array([1, 1]), np.array([1, 1]))


# ----------------------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="utrack")
    eval_tool.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_many_sequences_with_results_dir(tmp_path, capsys):
    gt_rows = [(f, 1, A, 1) for f in range(1, 7)] + [(f, 2, B, 1) for f in range(1, 7)]
    seq_a = make_sequence(tmp_path / "data", "SEQ-A", 6, gt_rows)
    seq_b = make_sequence(tmp_path / "data", "SEQ-B", 6, gt_rows)
    res_dir = tmp_path / "results"
    perfect = results([(f, 1, A) for f in range(1, 7)] + [(f, 2, B) for f in range(1, 7)])
    write_mot_results(res_dir / "SEQ-A.txt", perfect)
    write_mot_results(res_dir / "SEQ-B.txt", perfect[perfect[:, 0] != 2])  # misses frame 2
    out_json = tmp_path / "out" / "metrics.json"
    rc = _cli(["eval", "--gt", str(seq_a), "--gt", str(seq_b / "gt" / "gt.txt"),
               "--results", str(res_dir), "--json", str(out_json)])
    assert rc == 0
    text = capsys.readouterr().out
    assert [line.split()[0] for line in text.splitlines()] == [
        "Sequence", "SEQ-A", "SEQ-B", "OVERALL"]
    saved = json.loads(out_json.read_text())
    assert saved["SEQ-A"]["MOTA"] == pytest.approx(100.0)
    assert saved["SEQ-B"]["FN"] == 2 and saved["OVERALL"]["FN"] == 2
    assert saved["OVERALL"]["num_frames"] == 12
    # second-half = frames 4..6 of the 6 in seqinfo.ini: frame 2's misses are outside.
    rc = _cli(["eval", "--gt", str(seq_a), str(seq_b), "--results",
               str(res_dir / "SEQ-A.txt"), str(res_dir / "SEQ-B.txt"),
               "--frames", "second-half", "--json", str(out_json)])
    assert rc == 0
    saved = json.loads(out_json.read_text())
    assert saved["SEQ-B"]["FN"] == 0 and saved["OVERALL"]["num_frames"] == 6
    rc = _cli(["eval", "--gt", str(seq_b), "--results", str(res_dir), "--frames", "2:3",
               "--json", str(out_json)])
    assert rc == 0
    assert json.loads(out_json.read_text())["SEQ-B"]["FN"] == 2


def test_cli_errors(tmp_path):
    gt_rows = [(f, 1, A, 1) for f in range(1, 3)]
    seq = make_sequence(tmp_path, "SEQ-A", 2, gt_rows)
    other = make_sequence(tmp_path, "SEQ-B", 2, gt_rows)
    res = write_mot_results(tmp_path / "res" / "SEQ-A.txt", results([(1, 1, A)]))
    with pytest.raises(ValueError, match="2 --gt but 3 --results"):
        _cli(["eval", "--gt", str(seq), str(other), "--results", str(res), str(res), str(res)])
    with pytest.raises(FileNotFoundError, match="has no SEQ-B.txt"):
        _cli(["eval", "--gt", str(seq), str(other), "--results", str(res.parent)])
    with pytest.raises(FileNotFoundError, match="not found"):
        _cli(["eval", "--gt", str(tmp_path / "nope"), "--results", str(res)])
    with pytest.raises(FileNotFoundError, match="nope.txt for sequence SEQ-A not found"):
        _cli(["eval", "--gt", str(seq), "--results", str(tmp_path / "nope.txt")])
    with pytest.raises(ValueError, match="twice|several --gt"):
        _cli(["eval", "--gt", str(seq), str(seq), "--results", str(res.parent)])
    loose_gt = write_mot15_gt(tmp_path / "loose.txt", [(1, 1, A, 1)])
    with pytest.raises(ValueError, match="needs the sequence length from seqinfo.ini"):
        _cli(["eval", "--gt", str(loose_gt), "--results", str(res), "--frames", "second-half"])
    bad = tmp_path / "bad" / "SEQ-A.txt"
    bad.parent.mkdir()
    bad.write_text("1,1,0,0,10,20,1\n1,1,0,0,10,20,1\n")
    with pytest.raises(ValueError, match="sequence 'SEQ-A'.*appears 2 times in frame 1"):
        _cli(["eval", "--gt", str(seq), "--results", str(bad)])
