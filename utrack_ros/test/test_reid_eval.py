"""``utrack reid-eval`` and :func:`utrack_ros.eval.reid.embeddings_at_boxes` (Table 7)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from utrack_ros import cli, resources
from utrack_ros.data.mot import MOTSequence, load_mot_gt
from utrack_ros.eval import reid_metrics
from utrack_ros.eval.reid import box_cells, embeddings_at_boxes
from utrack_ros.model import ModelConfig, build_model, model_from_checkpoint
from utrack_ros.preprocess import Letterbox, normalize_image
from utrack_ros.resources import sample_sequence_path
from utrack_ros.tools.reid_eval import (
    SequenceEmbeddings,
    collect_embeddings,
    evaluate_embeddings,
    load_reid_model,
)

FRAME_SIZE = (576, 768)  # PETS09-S2L1 (h, w)
ID_DIM = 32


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(backbone="mobilenetv2", input_size=(96, 128), head_conv=16,
                         id_dim=ID_DIM)
    model = build_model(config)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save({"model": model.state_dict(), "model_config": config.to_dict()}, path)
    return path


@pytest.fixture(scope="module")
def sample_frames():
    seq = MOTSequence(sample_sequence_path())
    try:
        images = {i: image for i, image in seq.frames(1, 6)}
    finally:
        seq.close()
    gt = load_mot_gt(seq.gt_path).pedestrians()
    return images, gt


class CoordModel(nn.Module):
    """Its ``id`` map encodes the cell: channel 0 = x + 1, channel 1 = y + 1, channel 2 = 1."""

    stride = 4

    def __init__(self, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.config = SimpleNamespace(input_size=input_size, id_dim=3)
        self.dummy = nn.Parameter(torch.zeros(()))
        self.seen: list[torch.Tensor] = []
        self.modes: list[bool] = []

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.seen.append(images.clone())
        self.modes.append(self.training)
        h, w = images.shape[2] // 4, images.shape[3] // 4
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        id_map = torch.stack([xs + 1.0, ys + 1.0, torch.ones(h, w)])[None]
        return {"hm": torch.zeros(1, 1, h, w), "id": id_map + self.dummy}


def decode_cells(emb: np.ndarray) -> np.ndarray:
    """(x, y) cells back from CoordModel embeddings (scale-free ratios)."""
    return np.rint(emb[:, :2] / emb[:, 2:3] - 1.0).astype(int)


# Frame 576x768 into a 128x128 input: scale 1/6, resized 96x128, pad_y 16, pad_x 0; the
# output map is 32x32. Cells worked out by hand (centre of the box clipped to the frame):
BOXES = np.array([
    [270.0, 150.0, 330.0, 250.0],  # centre (300, 200) -> input (50, 49.33) -> (12.5, 12.33)
    [-100.0, 500.0, -10.0, 700.0],  # clipped to x 0..0, y 500..576: (0, 538) -> (0, 26.4)
    [700.0, 0.0, 900.0, 100.0],  # clipped x 700..768: (734, 50) -> (30.58, 6.08)
    [768.0, 0.0, 800.0, 10.0],  # clipped to x = 768: 128 / 4 = 32 -> clamped to 31
])
CELLS = np.array([[12, 12], [0, 26], [30, 6], [31, 4]])  # last y: (5/6 + 16) / 4 = 4.2


def test_box_cells_by_hand():
    np.testing.assert_array_equal(box_cells(BOXES, FRAME_SIZE, (128, 128)), CELLS)
    # No padding (same aspect): 384x512 input, scale 2/3; centre (300, 200) -> (50, 33.3).
    np.testing.assert_array_equal(box_cells(BOXES[:1], FRAME_SIZE, (384, 512)), [[50, 33]])
    assert box_cells(np.zeros((0, 4)), FRAME_SIZE, (128, 128)).shape == (0, 2)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        box_cells(np.zeros(4), FRAME_SIZE, (128, 128))
    with pytest.raises(ValueError, match="NaN"):
        box_cells(np.array([[0.0, 0.0, np.nan, 1.0]]), FRAME_SIZE, (128, 128))


def test_embeddings_are_read_at_the_box_centre_cell(sample_frames):
    images, _ = sample_frames
    image = images[1]
    model = CoordModel((128, 128)).train()
    emb = embeddings_at_boxes(model, image, BOXES)
    assert emb.shape == (4, 3) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(decode_cells(emb), CELLS)
    # The pipeline's preprocessing, in eval mode, and the caller's mode restored.
    letterbox = Letterbox.fit(FRAME_SIZE, (128, 128))
    expected = torch.from_numpy(normalize_image(letterbox.apply(image)))[None]
    torch.testing.assert_close(model.seen[-1], expected, rtol=0, atol=0)
    assert model.modes[-1] is False and model.training is True
    # An explicit input size wins over model.config.
    emb = embeddings_at_boxes(model, image, BOXES[:1], input_size=(384, 512))
    np.testing.assert_array_equal(decode_cells(emb), [[50, 33]])
    assert tuple(model.seen[-1].shape) == (1, 3, 384, 512)
    assert embeddings_at_boxes(model, image, np.zeros((0, 4))).shape == (0, 3)


def test_embeddings_need_an_id_map(sample_frames):
    images, _ = sample_frames

    class NoId(CoordModel):
        def forward(self, images):
            return {k: v for k, v in super().forward(images).items() if k != "id"}

    with pytest.raises(ValueError, match="no Re-ID head"):
        embeddings_at_boxes(NoId((128, 128)), images[1], BOXES)
    with pytest.raises(ValueError, match="uint8"):
        embeddings_at_boxes(CoordModel((128, 128)), images[1].astype(np.float32), BOXES)


def test_real_model_embeddings(checkpoint, sample_frames):
    images, gt = sample_frames
    model = model_from_checkpoint(checkpoint)
    boxes = gt.boxes_xyxy[gt.frame == 1]
    assert len(boxes) >= 3
    emb = embeddings_at_boxes(model, images[1], boxes)
    assert emb.shape == (len(boxes), ID_DIM) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    # The same values as the raw id map at the hand-computable cells.
    letterbox = Letterbox.fit(FRAME_SIZE, (96, 128))
    with torch.inference_mode():
        id_map = model(torch.from_numpy(normalize_image(letterbox.apply(images[1])))[None])["id"]
    cells = box_cells(boxes, FRAME_SIZE, (96, 128))
    raw = id_map[0, :, cells[:, 1], cells[:, 0]].t().numpy()
    np.testing.assert_allclose(emb, raw / np.linalg.norm(raw, axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    # Boxes share an embedding exactly when they share a cell.
    assert len(np.unique(emb.round(5), axis=0)) == len(np.unique(cells, axis=0))


def test_cli_table_and_json_match_a_direct_computation(checkpoint, sample_frames, tmp_path,
                                                       capsys):
    images, gt = sample_frames
    out = tmp_path / "reid.json"
    assert cli.main(["reid-eval", "sample", "--weights", str(checkpoint), "--frames", "1:6",
                     "--every", "2", "--no-progress", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "PETS09-S2L1" in printed and "R1" in printed and "mAP" in printed
    report = json.loads(out.read_text())
    assert report["input_size"] == [96, 128]
    got = report["metrics"]["PETS09-S2L1"]
    assert "OVERALL" not in report["metrics"]

    model = model_from_checkpoint(checkpoint)
    emb, ids, frames = [], [], []
    for frame in (1, 3, 5):
        sel = gt.frame == frame
        emb.append(embeddings_at_boxes(model, images[frame], gt.boxes_xyxy[sel]))
        ids.append(gt.track_id[sel])
        frames.append(np.full(int(sel.sum()), frame))
    ids_all = np.concatenate(ids)
    expected = reid_metrics(np.concatenate(emb), ids_all, np.concatenate(frames))
    assert expected["num_queries"] > 0
    assert got["num_queries"] == expected["num_queries"]
    assert got["R1"] == pytest.approx(expected["R1"])
    assert got["mAP"] == pytest.approx(expected["mAP"])
    assert (got["frames"], got["boxes"], got["ids"]) == (3, len(ids_all),
                                                         len(np.unique(ids_all)))
    assert f"{got['R1']:6.2f}" in printed and f"{got['mAP']:6.2f}" in printed


def test_input_size_override_and_collect(checkpoint):
    model, size = load_reid_model(checkpoint, "cpu", (64, 96))
    assert size == (64, 96) and not model.training
    seq = MOTSequence(sample_sequence_path())
    try:
        run = collect_embeddings(model, seq, range(1, 5), size, progress=False)
    finally:
        seq.close()
    assert run.num_frames == 4 and run.embeddings.shape == (len(run.track_ids), ID_DIM)
    assert set(run.frames.tolist()) == {1, 2, 3, 4}
    with pytest.raises(ValueError, match="multiples of 32"):
        load_reid_model(checkpoint, "cpu", (64, 100))


def _run(emb_by_id: dict[int, np.ndarray], name: str, frames: int = 4) -> SequenceEmbeddings:
    ids = np.repeat(list(emb_by_id), frames)
    return SequenceEmbeddings(
        name=name, embeddings=np.stack([emb_by_id[i] for i in ids]).astype(np.float32),
        track_ids=ids, frames=np.tile(np.arange(1, frames + 1), len(emb_by_id)),
        num_frames=frames, skipped_boxes=0)


def test_overall_pools_sequences_with_ids_kept_apart():
    e = np.eye(4)
    a = _run({1: e[0], 2: e[1]}, "A")
    b = _run({1: e[2], 2: e[3]}, "B")  # the same ids, other people
    table = evaluate_embeddings([a, b])
    assert table["A"]["R1"] == table["B"]["R1"] == table["OVERALL"]["R1"] == 100.0
    assert table["OVERALL"]["num_queries"] == 8 and table["OVERALL"]["ids"] == 4
    # B's person 1 looks exactly like A's person 1: alone each sequence is perfect, pooled
    # every query of those two ties with a wrong gallery item (ranked pessimistically).
    b_twin = _run({1: e[0], 2: e[3]}, "B")
    table = evaluate_embeddings([a, b_twin])
    assert table["B"]["R1"] == 100.0
    assert table["OVERALL"]["R1"] == pytest.approx(50.0)


def test_checkpoint_without_id_head(checkpoint, tmp_path, capsys):
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["model"] = {k: v for k, v in ckpt["model"].items() if ".id." not in k}
    path = tmp_path / "no_id.pt"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="no Re-ID head"):
        load_reid_model(path)
    assert cli.main(["reid-eval", "sample", "--weights", str(path), "--no-progress"]) == 2
    assert "no Re-ID head" in capsys.readouterr().err


def test_missing_default_weights_and_bad_input(monkeypatch, tmp_path, capsys, checkpoint):
    monkeypatch.setattr(resources, "DEFAULT_WEIGHTS", tmp_path / "missing.pt")
    assert cli.main(["reid-eval", "sample", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "default weights" in err and "missing.pt" in err
    assert cli.main(["reid-eval", "sample", "--weights", str(checkpoint), "--every", "0"]) == 2
    assert "--every" in capsys.readouterr().err
    no_gt = tmp_path / "seq"
    no_gt.mkdir()
    (no_gt / "seqinfo.ini").write_text("[Sequence]\nname=x\nframeRate=7\nseqLength=3\n"
                                       "imWidth=64\nimHeight=64\n")
    assert cli.main(["reid-eval", str(no_gt), "--weights", str(checkpoint)]) == 2
    assert "no gt/gt.txt" in capsys.readouterr().err
    assert cli.main(["reid-eval", str(tmp_path / "nope"), "--weights", str(checkpoint)]) == 2
    assert "not a MOT sequence" in capsys.readouterr().err
    assert cli.main(["reid-eval", "sample", "sample", "--weights", str(checkpoint)]) == 2
    assert "repeat" in capsys.readouterr().err


def _synthetic_sequence(root, name="SYN-01", frames=4):
    """An img1/ sequence with a 9-column (MOT17) gt: ids 1, 2 visible, id 3 at 0.2."""
    import cv2

    seq = root / name
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=10\nseqLength={frames}\n"
        "imWidth=160\nimHeight=120\nimExt=.jpg\n")
    rng = np.random.default_rng(0)
    rows = []
    for f in range(1, frames + 1):
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"),
                    rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        rows += [f"{f},1,{10 + f},20,20,50,1,1,1.0", f"{f},2,80,{30 + f},25,60,1,1,0.9",
                 f"{f},3,120,10,20,40,1,1,0.2", f"{f},4,5,5,10,10,1,7,1.0"]  # 4: not a person
    (seq / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    return seq


def test_image_sequences_visibility_and_overall(checkpoint, tmp_path, capsys):
    syn = _synthetic_sequence(tmp_path)
    out = tmp_path / "all.json"
    assert cli.main(["reid-eval", "sample", str(syn), "--weights", str(checkpoint),
                     "--frames", "1:4", "--no-progress", "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    assert (metrics["SYN-01"]["boxes"], metrics["SYN-01"]["ids"]) == (12, 3)
    assert metrics["SYN-01"]["num_queries"] == 6  # 3 tracks x 4 frames: 2 queries each
    overall = metrics["OVERALL"]
    for key in ("boxes", "ids", "num_queries", "frames"):
        assert overall[key] == metrics["SYN-01"][key] + metrics["PETS09-S2L1"][key]
    assert "OVERALL" in capsys.readouterr().out

    assert cli.main(["reid-eval", str(syn), "--weights", str(checkpoint), "--no-progress",
                     "--min-visibility", "0.5", "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    assert (metrics["SYN-01"]["boxes"], metrics["SYN-01"]["ids"]) == (8, 2)
    assert cli.main(["reid-eval", str(syn), "--weights", str(checkpoint),
                     "--min-visibility", "2"]) == 2
