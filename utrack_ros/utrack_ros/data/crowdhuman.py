"""CrowdHuman annotations (``.odgt``) and an image source for image-pair training.

An ``.odgt`` file (``annotation_train.odgt``, ``annotation_val.odgt``) holds one JSON object
per line::

    {"ID": "273271,c9db000d5146c15",
     "gtboxes": [{"tag": "person", "fbox": [x, y, w, h], "vbox": [...], "hbox": [...],
                  "extra": {"box_id": 0, "occ": 1, "ignore": 0}, "head_attr": {...}},
                 {"tag": "mask", "fbox": [...], "extra": {"ignore": 1}}, ...]}

``fbox`` is the full body (may extend past the image), ``vbox`` the visible part, ``hbox``
the head; ``extra.ignore = 1`` marks persons that are unclear (reflections, posters, heavy
blur) and every ``"mask"`` region (crowds too dense to annotate). The image is
``Images/<ID>.jpg``.

FairMOT / OUTrack train on the full-body ``fbox`` of ``"person"`` boxes and skip ``"mask"``
regions; that is the default here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BOX_KINDS = ("fbox", "vbox", "hbox")


@dataclass
class CrowdHumanRecord:
    """The annotation of one CrowdHuman image.

    Attributes:
        image_id: the ``ID`` field (the image file stem).
        boxes_xyxy: float64 ``[N, 4]`` boxes (``fbox`` by default), image pixels.
        ignore: bool ``[N]``: ``extra.ignore == 1`` (always true for ``"mask"`` boxes).
        is_mask: bool ``[N]``: the box is a ``"mask"`` region (only with ``include_masks``).
    """

    image_id: str
    boxes_xyxy: np.ndarray
    ignore: np.ndarray
    is_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes_xyxy)


def _xywh_to_xyxy(box: object, where: str) -> list[float]:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f"{where}: expected a box [x, y, w, h], got {box!r}")
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: non-numeric box {box!r}") from None
    return [x, y, x + w, y + h]


def read_crowdhuman_odgt(
    path: str | Path, *, box: str = "fbox", include_masks: bool = False
) -> list[CrowdHumanRecord]:
    """Read a CrowdHuman ``.odgt`` file.

    Args:
        path: the ``.odgt`` file.
        box: which box to return: ``"fbox"`` (full body, default), ``"vbox"`` or ``"hbox"``.
        include_masks: keep ``"mask"`` regions (flagged ``ignore`` and ``is_mask``) instead of
            skipping them.

    Boxes of zero or negative width/height are skipped. Raises FileNotFoundError for a
    missing file and ValueError (with the line number) for malformed lines.
    """
    if box not in BOX_KINDS:
        raise ValueError(f"box must be one of {BOX_KINDS}, got {box!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CrowdHuman annotation file {path} not found (.odgt expected)")
    records: list[CrowdHumanRecord] = []
    with path.open() as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            where = f"{path}:{lineno}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not a JSON object ({exc.msg})") from None
            if not isinstance(entry, dict) or "ID" not in entry:
                raise ValueError(f"{where}: expected a JSON object with an 'ID' field")
            boxes: list[list[float]] = []
            ignore: list[bool] = []
            is_mask: list[bool] = []
            for k, gt in enumerate(entry.get("gtboxes", [])):
                tag = gt.get("tag", "person")
                if tag == "mask" and not include_masks:
                    continue
                if tag not in ("person", "mask"):
                    continue
                if box not in gt:
                    raise ValueError(f"{where}: gtboxes[{k}] has no {box!r}")
                b = _xywh_to_xyxy(gt[box], f"{where} gtboxes[{k}].{box}")
                if b[2] <= b[0] or b[3] <= b[1]:
                    continue
                extra = gt.get("extra") or {}
                boxes.append(b)
                ignore.append(tag == "mask" or bool(extra.get("ignore", 0)))
                is_mask.append(tag == "mask")
            records.append(
                CrowdHumanRecord(
                    image_id=str(entry["ID"]),
                    boxes_xyxy=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                    ignore=np.asarray(ignore, dtype=bool),
                    is_mask=np.asarray(is_mask, dtype=bool),
                )
            )
    return records


class CrowdHumanImages:
    """CrowdHuman images and their person boxes, as a source for :class:`ImagePairDataset`.

    Args:
        images_dir: the ``Images/`` folder (``<ID>.jpg`` files).
        odgt: the matching ``.odgt`` annotation file.
        box: ``"fbox"`` (default, as FairMOT/OUTrack), ``"vbox"`` or ``"hbox"``.
        drop_ignored: drop persons flagged ``extra.ignore`` (default False: kept as positives,
            as FairMOT's CrowdHuman conversion does; the detection targets have no ignore
            regions).
        ext: image file extension.
        check_files: verify that every image file exists at construction (one ``stat`` per
            image; a clear error beats a crash in a DataLoader worker hours later).
    """

    def __init__(
        self,
        images_dir: str | Path,
        odgt: str | Path,
        *,
        box: str = "fbox",
        drop_ignored: bool = False,
        ext: str = ".jpg",
        check_files: bool = True,
    ) -> None:
        self.images_dir = Path(images_dir)
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"CrowdHuman image folder {self.images_dir} not found")
        self.odgt = Path(odgt)
        self.records = read_crowdhuman_odgt(self.odgt, box=box)
        self.drop_ignored = bool(drop_ignored)
        self.ext = ext
        if check_files:
            missing = [r.image_id for r in self.records if not self.image_path_of(r).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} image(s) of {self.odgt} are missing from {self.images_dir}, "
                    f"e.g. {missing[0]}{self.ext}"
                )

    @property
    def name(self) -> str:
        return f"crowdhuman:{self.odgt.name}"

    def __len__(self) -> int:
        return len(self.records)

    def image_path_of(self, record: CrowdHumanRecord) -> Path:
        return self.images_dir / f"{record.image_id}{self.ext}"

    def image_path(self, index: int) -> Path:
        return self.image_path_of(self.records[index])

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as uint8 BGR."""
        path = self.image_path(index)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read CrowdHuman image {path}")
        return image

    def boxes(self, index: int) -> np.ndarray:
        """Training boxes ``[N, 4]`` xyxy of image ``index`` (ignored ones dropped if asked)."""
        record = self.records[index]
        if self.drop_ignored:
            return record.boxes_xyxy[~record.ignore]
        return record.boxes_xyxy
