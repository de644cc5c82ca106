"""Data: MOT sample reading, CrowdHuman .odgt, pair datasets, collation, spec builder."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from utrack_ros.data.crowdhuman import CrowdHumanImages, read_crowdhuman_odgt
from utrack_ros.data.mot import MOTSequence, half_split, load_mot_gt
from utrack_ros.data.pairs import (
    ImagePairDataset,
    MixedPairDataset,
    VideoPairDataset,
    build_training_dataset,
    collate_pairs,
    resolve_frames,
)
from utrack_ros.resources import sample_sequence_path

SMALL = (128, 160)
TARGET_KEYS = {"hm", "wh", "reg", "ind", "mask", "ids", "occ", "occ_off", "occ_ind", "occ_mask"}


# --------------------------------------------------------------------------- fixtures
def _write_sequence(root: Path, name: str, length: int = 12, shift: int = 0) -> Path:
    """A tiny MOT17-style sequence: img1/ JPEGs of moving rectangles and a 9-column gt."""
    seq = root / name
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=10\nseqLength={length}\n"
        "imWidth=160\nimHeight=120\nimExt=.jpg\n"
    )
    rows = []
    for f in range(1, length + 1):
        image = np.full((120, 160, 3), 60 + shift, dtype=np.uint8)
        for tid, (x, y) in {3: (10 + f, 20), 7: (90 - f, 50)}.items():
            image[y : y + 40, x : x + 20] = (200, 100 + 10 * tid, 50)
            rows.append(f"{f},{tid},{x},{y},20,40,1,1,1.0")
        rows.append(f"{f},9,120,10,15,30,1,2,1.0")  # class 2: not a pedestrian
        rows.append(f"{f},11,130,70,15,30,0,1,1.0")  # consider 0: ignored
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), image)
    (seq / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    return seq


def _odgt_line(image_id: str, gtboxes: list[dict]) -> str:
    return json.dumps({"ID": image_id, "gtboxes": gtboxes})


def _person(fbox, vbox=None, ignore=0, box_id=0):
    return {
        "tag": "person",
        "hbox": [fbox[0] + 2, fbox[1], 8, 8],
        "head_attr": {"ignore": 0, "occ": 0, "unsure": 0},
        "fbox": list(fbox),
        "vbox": list(vbox or fbox),
        "extra": {"box_id": box_id, "occ": 0, "ignore": ignore},
    }


def _write_crowdhuman(root: Path, n: int = 3) -> tuple[Path, Path]:
    images = root / "Images"
    images.mkdir(parents=True)
    lines = []
    for i in range(n):
        image_id = f"27327{i},c9db000d5146c1{i}"
        image = np.full((100, 140, 3), 30 * i, dtype=np.uint8)
        image[20:80, 30:55] = 220
        image[25:90, 90:115] = 180
        cv2.imwrite(str(images / f"{image_id}.jpg"), image)
        lines.append(
            _odgt_line(
                image_id,
                [
                    _person([30, 20, 25, 60], box_id=0),
                    _person([90, 25, 25, 65], box_id=1),
                    {
                        "tag": "mask",
                        "hbox": [0, 0, 5, 5],
                        "fbox": [0, 0, 20, 20],
                        "vbox": [0, 0, 20, 20],
                        "extra": {"ignore": 1},
                    },
                ],
            )
        )
    odgt = root / "annotation_train.odgt"
    odgt.write_text("\n".join(lines) + "\n")
    return images, odgt


@pytest.fixture(scope="module")
def two_sequences(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("mot")
    return [_write_sequence(root, "SYN-01"), _write_sequence(root, "SYN-02", length=9, shift=40)]


@pytest.fixture(scope="module")
def crowd(tmp_path_factory) -> tuple[Path, Path]:
    return _write_crowdhuman(tmp_path_factory.mktemp("crowdhuman"))


# --------------------------------------------------------------------------- MOT sample
def test_sample_video_random_access_matches_sequential_decoding() -> None:
    seq = MOTSequence(sample_sequence_path())
    wanted = [1, 2, 3, 120, 121, 250]
    sequential = dict((i, img) for i, img in seq.frames(1, 250) if i in wanted)
    seq.close()
    random_access = MOTSequence(sample_sequence_path())
    for i in [250, 3, 120, 1, 121, 2]:
        image = random_access.frame(i)
        assert image.shape == (576, 768, 3)
        np.testing.assert_array_equal(image, sequential[i], err_msg=f"frame {i}")
    random_access.close()


def test_half_split_and_sample_gt() -> None:
    seq = MOTSequence(sample_sequence_path())
    train, val = half_split(seq.length)
    assert (train.start, train.stop - 1, val.start, val.stop - 1) == (1, 397, 398, 795)
    assert half_split(3) == (range(1, 2), range(2, 4))
    with pytest.raises(ValueError):
        half_split(1)
    gt = load_mot_gt(seq.gt_path)
    assert not gt.has_visibility and np.isnan(gt.visibility).all()
    peds = gt.pedestrians()  # MOT15 layout: every row class 1; 174 rows have consider 0
    assert 0 < len(peds) < len(gt) and (peds.cls == 1).all() and peds.consider.all()
    assert gt.frame.min() >= 1 and gt.frame.max() <= seq.length


def test_resolve_frames() -> None:
    assert resolve_frames("first_half", 795) == range(1, 398)
    assert resolve_frames("second_half", 795) == range(398, 796)
    assert resolve_frames(None, 5) == range(1, 6) == resolve_frames("all", 5)
    assert resolve_frames([2, 4], 5) == range(2, 5) == resolve_frames("2:4", 5)
    assert resolve_frames("first-half", 795) == range(1, 398)
    for bad in ["half", [0, 3], [3, 9], [4, 2], [1.5, 3], range(1, 5, 2)]:
        with pytest.raises(ValueError, match="frames"):
            resolve_frames(bad, 5)


# --------------------------------------------------------------------------- CrowdHuman
def test_read_odgt_fields(tmp_path: Path) -> None:
    path = tmp_path / "a.odgt"
    path.write_text(
        _odgt_line(
            "284193,faa9000f2678b5e",
            [
                _person([10, 20, 30, 60], vbox=[12, 22, 20, 30]),
                _person([-5, 40, 30, 70], ignore=1, box_id=1),
                {
                    "tag": "mask",
                    "hbox": [1, 1, 2, 2],
                    "fbox": [100, 5, 40, 40],
                    "vbox": [100, 5, 40, 40],
                    "extra": {"ignore": 1},
                },
                _person([50, 50, 0, 10], box_id=2),  # degenerate: skipped
            ],
        )
        + "\n\n"
        + _odgt_line("empty_image", [])
        + "\n"
    )
    records = read_crowdhuman_odgt(path)
    assert [r.image_id for r in records] == ["284193,faa9000f2678b5e", "empty_image"]
    r = records[0]
    np.testing.assert_allclose(r.boxes_xyxy, [[10, 20, 40, 80], [-5, 40, 25, 110]])
    np.testing.assert_array_equal(r.ignore, [False, True])
    assert records[1].boxes_xyxy.shape == (0, 4)
    vis = read_crowdhuman_odgt(path, box="vbox")[0]
    np.testing.assert_allclose(vis.boxes_xyxy[0], [12, 22, 32, 52])
    masks = read_crowdhuman_odgt(path, include_masks=True)[0]
    np.testing.assert_array_equal(masks.is_mask, [False, False, True])
    np.testing.assert_array_equal(masks.ignore, [False, True, True])


def test_read_odgt_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="odgt"):
        read_crowdhuman_odgt(tmp_path / "missing.odgt")
    bad = tmp_path / "bad.odgt"
    bad.write_text(_odgt_line("ok", []) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.odgt:2"):
        read_crowdhuman_odgt(bad)
    nobox = tmp_path / "nobox.odgt"
    nobox.write_text(_odgt_line("x", [{"tag": "person", "vbox": [0, 0, 1, 1]}]) + "\n")
    with pytest.raises(ValueError, match="fbox"):
        read_crowdhuman_odgt(nobox)
    with pytest.raises(ValueError, match="box must be"):
        read_crowdhuman_odgt(nobox, box="bbox")


def test_crowdhuman_images(crowd, tmp_path: Path) -> None:
    images, odgt = crowd
    src = CrowdHumanImages(images, odgt)
    assert len(src) == 3
    assert src.image(1).shape == (100, 140, 3)
    assert src.boxes(0).shape == (2, 4)
    (tmp_path / "Images").mkdir()
    with pytest.raises(FileNotFoundError, match="missing"):
        CrowdHumanImages(tmp_path / "Images", odgt)
    with pytest.raises(FileNotFoundError, match="image folder"):
        CrowdHumanImages(tmp_path / "nope", odgt)


# --------------------------------------------------------------------------- pairs
def test_video_pair_item_shapes_and_targets() -> None:
    ds = VideoPairDataset([sample_sequence_path()], "first_half", (384, 512), augment=False)
    assert len(ds) == 397 and ds.num_scenes == 1
    item = ds[42]
    assert item["images"].shape == (2, 3, 384, 512) and item["images"].dtype == np.float32
    assert item["negative"] is False
    t = item["targets"]
    assert set(t) == TARGET_KEYS
    assert t["hm"].shape == (2, 1, 96, 128) and t["hm"].dtype == np.float32
    assert t["wh"].shape == (2, 500, 4) and t["ind"].dtype == np.int64
    assert t["ids"].dtype == np.int64 and t["occ_off"].shape == (2, 500, 2)
    frames = item["meta"]["frame"]
    assert frames[0] == 43 and 1 <= frames[1] <= 397 and abs(frames[1] - 43) <= 20
    # every pedestrian of each frame (all inside PETS09 frames) is a target
    gt = load_mot_gt(sample_sequence_path() / "gt" / "gt.txt").pedestrians()
    for v, f in enumerate(frames):
        assert t["mask"][v].sum() == (gt.frame == f).sum() > 0
    # ids are known, unique per frame and shared by the people seen in both frames
    ids0 = set(t["ids"][0][t["mask"][0] > 0].tolist())
    ids1 = set(t["ids"][1][t["mask"][1] > 0].tolist())
    assert -1 not in ids0 | ids1 and ids0 & ids1
    assert len(ids0) == int(t["mask"][0].sum())


def test_video_second_frame_within_gap(two_sequences) -> None:
    ds = VideoPairDataset(two_sequences, [[2, 11], "all"], SMALL, max_frame_gap=3, seed=5)
    assert len(ds) == 10 + 9
    deltas = []
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            spec = ds.pair_spec(i)
            (s1, f1), (s2, f2) = ds.sample_location(spec.first), ds.sample_location(spec.second)
            assert spec.first == i and not spec.negative
            assert s1 == s2
            lo, hi = (2, 11) if s1 == 0 else (1, 9)
            assert lo <= f2 <= hi and f2 != f1 and abs(f2 - f1) <= 3
            deltas.append(f2 - f1)
    assert min(deltas) == -3 and max(deltas) == 3  # symmetric window, both ends reached


def test_single_frame_range_pairs_frame_with_itself(two_sequences) -> None:
    ds = VideoPairDataset(two_sequences[:1], [[4, 4]], SMALL, max_frame_gap=2)
    spec = ds.pair_spec(0)
    assert spec.first == spec.second


def test_video_gt_filter_and_global_ids(two_sequences) -> None:
    ds = VideoPairDataset(two_sequences, None, SMALL, augment=False)
    assert ds.num_ids == 4  # tracks 3 and 7 of each sequence; class 2 and consider 0 dropped
    item_a, item_b = ds[0], ds[len(ds) - 1]
    assert item_a["targets"]["mask"].sum(axis=1).tolist() == [2, 2]
    ids_a = set(item_a["targets"]["ids"][item_a["targets"]["mask"] > 0].tolist())
    ids_b = set(item_b["targets"]["ids"][item_b["targets"]["mask"] > 0].tolist())
    assert ids_a == {0, 1} and ids_b == {2, 3}


def test_video_dataset_errors(two_sequences, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_frame_gap"):
        VideoPairDataset(two_sequences, None, SMALL, max_frame_gap=0)
    with pytest.raises(ValueError, match="input_size"):
        VideoPairDataset(two_sequences, None, (100, 160))
    with pytest.raises(ValueError, match="at least one"):
        VideoPairDataset([], None, SMALL)
    nogt = _write_sequence(tmp_path, "NOGT")
    (nogt / "gt" / "gt.txt").unlink()
    with pytest.raises(FileNotFoundError, match="gt"):
        VideoPairDataset([nogt], None, SMALL)
    ds = VideoPairDataset(two_sequences, None, SMALL)
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_image_pair_views_share_ids(crowd) -> None:
    images, odgt = crowd
    ds = ImagePairDataset(CrowdHumanImages(images, odgt), SMALL, seed=3)
    assert len(ds) == 3 and ds.num_ids == 6 and ds.num_scenes == 3
    item = ds[1]
    assert item["meta"]["sample"].tolist() == [1, 1] and not item["negative"]
    t = item["targets"]
    for v in range(2):
        ids = t["ids"][v][t["mask"][v] > 0]
        assert set(ids.tolist()) <= {2, 3}
    # two independent augmentations: the views differ
    assert not np.array_equal(item["images"][0], item["images"][1])


def test_mixed_negatives_only_across_scenes_and_ratio(two_sequences, crowd) -> None:
    video = VideoPairDataset(two_sequences, None, SMALL, max_frame_gap=4)
    still = ImagePairDataset(CrowdHumanImages(*crowd), SMALL)
    mixed = MixedPairDataset([video, still], neg_ratio=0.25, seed=11)
    n_pos = len(video) + len(still)
    assert mixed.num_positive == n_pos == 24
    assert mixed.num_negative == 6 and len(mixed) == 30
    assert mixed.num_scenes == 2 + 3 and mixed.num_ids == video.num_ids + still.num_ids
    scene_of = [mixed.scene_of(k) for k in range(mixed.num_samples)]
    seen_pairs = set()
    for epoch in range(4):
        mixed.set_epoch(epoch)
        specs = [mixed.pair_spec(i) for i in range(len(mixed))]
        assert sum(s.negative for s in specs) == round(0.25 * n_pos)
        for s in specs:
            same = scene_of[s.first] == scene_of[s.second]
            assert same != s.negative  # negatives across scenes, positives within one
            if s.negative:
                seen_pairs.add((scene_of[s.first], scene_of[s.second]))
    assert len(seen_pairs) > 3
    item = mixed[len(mixed) - 1]
    assert item["negative"] is True
    assert item["meta"]["scene"][0] != item["meta"]["scene"][1]


def test_same_sequence_twice_is_one_scene(two_sequences) -> None:
    ds = VideoPairDataset([two_sequences[0]] * 2, [[1, 5], [8, 12]], SMALL, max_frame_gap=20)
    assert ds.num_scenes == 1 and len(ds) == 10
    for i in range(len(ds)):  # pairs never cross the two ranges
        f1, f2 = ds.sample_location(i)[1], ds.sample_location(ds.pair_spec(i).second)[1]
        assert (f1 <= 5) == (f2 <= 5)
    with pytest.warns(UserWarning, match="one scene"):
        mixed = MixedPairDataset([ds], neg_ratio=0.25)
    assert mixed.num_negative == 0 and len(mixed) == len(ds)


def test_mixed_validation(two_sequences, crowd) -> None:
    video = VideoPairDataset(two_sequences, None, SMALL)
    with pytest.raises(ValueError, match="neg_ratio"):
        MixedPairDataset([video], neg_ratio=-0.1)
    other = ImagePairDataset(CrowdHumanImages(*crowd), (128, 192))
    with pytest.raises(ValueError, match="input_size"):
        MixedPairDataset([video, other])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert MixedPairDataset([video], neg_ratio=0.0).num_negative == 0


def test_determinism_seed_epoch_and_workers(two_sequences, crowd) -> None:
    def make(seed: int) -> MixedPairDataset:
        return MixedPairDataset(
            [
                VideoPairDataset(two_sequences, None, SMALL, seed=seed),
                ImagePairDataset(CrowdHumanImages(*crowd), SMALL, seed=seed),
            ],
            neg_ratio=0.5,
            seed=seed,
        )

    a, b, c = make(1), make(1), make(2)
    idx = [0, 7, 15, 20, len(a) - 1]
    for i in idx:
        x, y = a[i], b[i]
        np.testing.assert_array_equal(x["images"], y["images"])
        np.testing.assert_array_equal(x["targets"]["hm"], y["targets"]["hm"])
        assert x["meta"]["sample"].tolist() == y["meta"]["sample"].tolist()
    assert any(not np.array_equal(a[i]["images"], c[i]["images"]) for i in idx)
    b.set_epoch(1)
    assert any(not np.array_equal(a[i]["images"], b[i]["images"]) for i in idx)
    # forked workers give exactly the items of the main process
    a.set_epoch(0)
    subset = torch.utils.data.Subset(a, idx)
    loader = DataLoader(subset, batch_size=2, num_workers=2, collate_fn=collate_pairs, timeout=60)
    batches = list(loader)
    images = torch.cat([bt["images"] for bt in batches])
    expected = np.concatenate([a[i]["images"] for i in idx])
    np.testing.assert_array_equal(images.numpy(), expected)


def test_video_dataset_in_workers_decodes_sample() -> None:
    ds = VideoPairDataset([sample_sequence_path()], [[100, 140]], (128, 160), seed=4)
    direct = [ds[i]["images"] for i in (0, 1)]
    ds[5]  # opens the decoder in this process before forking
    # a deadlock here (parent's FFmpeg decoder destroyed in the child) fails, never hangs
    loader = DataLoader(
        ds, batch_size=1, num_workers=2, collate_fn=collate_pairs, sampler=[0, 1], timeout=60
    )
    got = [b["images"].numpy() for b in loader]
    for d, g in zip(direct, got, strict=True):
        np.testing.assert_array_equal(d, g)


def test_collate_pairs_is_pair_major(two_sequences, crowd) -> None:
    mixed = MixedPairDataset(
        [
            VideoPairDataset(two_sequences, None, SMALL),
            ImagePairDataset(CrowdHumanImages(*crowd), SMALL),
        ],
        neg_ratio=1.0,
    )
    items = [mixed[0], mixed[len(mixed) - 1], mixed[3]]
    batch = collate_pairs(items)
    assert batch["images"].shape == (6, 3, *SMALL) and batch["images"].dtype == torch.float32
    assert batch["negative"].tolist() == [False, True, False]
    assert batch["negative"].dtype == torch.bool
    for p, item in enumerate(items):
        for f in range(2):
            np.testing.assert_array_equal(batch["images"][2 * p + f].numpy(), item["images"][f])
            np.testing.assert_array_equal(
                batch["targets"]["ind"][2 * p + f].numpy(), item["targets"]["ind"][f]
            )
    assert batch["targets"]["hm"].shape == (6, 1, SMALL[0] // 4, SMALL[1] // 4)
    assert batch["meta"]["scene"].shape == (6,)
    with pytest.raises(ValueError, match="empty"):
        collate_pairs([])


# --------------------------------------------------------------------------- spec builder
def test_build_training_dataset_from_dict_and_yaml(two_sequences, crowd, tmp_path: Path) -> None:
    images, odgt = crowd
    spec = {
        "mot": [
            {"path": str(two_sequences[0]), "frames": "first_half"},
            {"path": str(two_sequences[1]), "frames": [2, 6]},
        ],
        "crowdhuman": [{"images": str(images), "odgt": str(odgt)}],
        "neg_ratio": 0.5,
        "max_frame_gap": 2,
        "input_size": list(SMALL),
        "augment": {"flip_prob": 0.0},
        "seed": 3,
    }
    ds = build_training_dataset(spec)
    assert isinstance(ds, MixedPairDataset)
    assert ds.num_positive == 6 + 5 + 3 and ds.num_negative == 7
    video = ds.datasets[0]
    assert video.max_frame_gap == 2 and video.augment.flip_prob == 0.0
    assert ds[0]["images"].shape == (2, 3, *SMALL)

    # YAML file with paths relative to it
    import yaml

    rel = dict(spec, mot=[{"path": two_sequences[0].name}], crowdhuman=[])
    cfg = two_sequences[0].parent / "data.yaml"
    cfg.write_text(yaml.safe_dump(rel))
    with pytest.warns(UserWarning, match="one scene"):
        from_yaml = build_training_dataset(cfg)
    assert len(from_yaml) == 12


def test_build_training_dataset_errors(two_sequences, crowd, tmp_path: Path) -> None:
    images, odgt = crowd
    with pytest.raises(FileNotFoundError, match=r"mot\[0\].path"):
        build_training_dataset({"mot": [{"path": str(tmp_path / "nope")}]})
    with pytest.raises(FileNotFoundError, match="seqinfo.ini"):
        build_training_dataset({"mot": [{"path": str(two_sequences[0].parent)}]})
    with pytest.raises(FileNotFoundError, match=r"crowdhuman\[0\].odgt"):
        build_training_dataset(
            {"crowdhuman": [{"images": str(images), "odgt": str(tmp_path / "x.odgt")}]}
        )
    with pytest.raises(FileNotFoundError, match=r"crowdhuman\[0\].images"):
        build_training_dataset({"crowdhuman": [{"images": str(tmp_path / "I"), "odgt": str(odgt)}]})
    with pytest.raises(ValueError, match="unknown dataset spec key"):
        build_training_dataset({"mot": [], "negratio": 0.2})
    with pytest.raises(ValueError, match="names no data"):
        build_training_dataset({"neg_ratio": 0.25})
    with pytest.raises(ValueError, match="frames"):
        build_training_dataset({"mot": [{"path": str(two_sequences[0]), "frames": "half"}]})
    with pytest.raises(FileNotFoundError, match="spec"):
        build_training_dataset(tmp_path / "missing.yaml")
