"""The joint detector: backbone -> neck (stride 4) -> parallel heads (paper §3.3, Fig. 5).

FairMOT's one-shot network with OUTrack's additions: detection heads ``hm`` / ``wh`` /
``reg`` (CenterNet, box as left/top/right/bottom distances), the Re-ID head ``id``
(D = 256, trained without identity labels, §3.1) and the occlusion estimation module's
``occ`` / ``occ_off`` heads (§3.2.1), "parallel to the detection head and sharing the same
backbone network".

``variant="centertrack"`` (OTrack_ct, paper §3.3 and Table 5) is CenterTrack's network with
the occlusion heads: the previous image and a one-channel heatmap of the previous frame's
tracks each go through their own layer shaped like the backbone's stem (CenterTrack's
``pre_img_layer`` / ``pre_hm_layer``), added to the stem's output (DLA-34: ``base_layer``;
MobileNetV2: ``features.0``); the ``tracking`` head replaces ``id``.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import STRIDE, ModelConfig
from .dla import DLANeck, dla34, torchvision_deform_conv2d
from .heads import Heads
from .mobilenetv2 import MobileNetV2
from .neck import FPNNeck
from .weights import load_state_dict_strict

log = logging.getLogger(__name__)


def resolve_config(cfg: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    """A :class:`ModelConfig` with ``deformable`` decided (``None`` -> torchvision present)."""
    if not isinstance(cfg, ModelConfig):
        cfg = ModelConfig.from_dict(cfg)
    if cfg.backbone != "dla34":
        return dataclasses.replace(cfg, deformable=False)
    if cfg.deformable is None:
        return dataclasses.replace(cfg, deformable=torchvision_deform_conv2d() is not None)
    return cfg


class JointDetector(nn.Module):
    """Backbone + neck + heads; ``forward(images)`` returns the head maps.

    Args:
        config: a :class:`ModelConfig` (or a mapping of its fields). ``pretrained``
            weights, if any, are loaded into the backbone here.

    Attributes:
        config: the resolved config (``deformable`` decided); save ``config.to_dict()``.
        stride: output stride ``R`` (4).
        head_names: output keys in order: hm, wh, reg, id[, occ, occ_off].
    """

    stride = STRIDE

    def __init__(self, config: ModelConfig | Mapping[str, Any]) -> None:
        super().__init__()
        cfg = resolve_config(config)
        self.config = cfg
        if cfg.backbone == "mobilenetv2":
            self.backbone: nn.Module = MobileNetV2()
            self.neck: nn.Module = FPNNeck(MobileNetV2.out_channels, cfg.neck_channels)
        else:
            self.backbone = dla34()
            self.neck = DLANeck(self.backbone.channels, cfg.neck_channels, bool(cfg.deformable))
            log.info(
                "dla34 IDAUp/DLAUp use %s",
                "modulated deformable 3x3 convs (torchvision.ops.deform_conv2d)"
                if cfg.deformable
                else "plain 3x3 convs (deformable=False"
                + ("" if torchvision_deform_conv2d() else ", torchvision not importable")
                + ")",
            )
        self.heads = Heads(cfg.neck_channels, cfg.head_channels, cfg.head_conv)
        self.head_names = self.heads.names
        self.variant = cfg.variant
        if cfg.variant == "centertrack":
            # CenterTrack: base_layer(img) + pre_img_layer(pre_img) + pre_hm_layer(pre_hm).
            self.pre_img_layer: nn.Module | None = self.backbone.stem_layer(3)
            self.pre_hm_layer: nn.Module | None = self.backbone.stem_layer(1)
        else:
            self.pre_img_layer = self.pre_hm_layer = None
        if cfg.pretrained is not None:
            self.backbone.load_pretrained(cfg.pretrained)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The forward inputs: ``("images",)``, or for centertrack ``("images",
        "pre_images", "pre_hms")``."""
        if self.variant == "centertrack":
            return ("images", "pre_images", "pre_hms")
        return ("images",)

    def features(
        self,
        images: torch.Tensor,
        pre_images: torch.Tensor | None = None,
        pre_hms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The shared stride-4 map the heads read: ``[B, neck_channels, H/4, W/4]``."""
        tracing = _is_tracing()
        if not tracing:
            _check_images(images)
        if self.variant != "centertrack":
            if pre_images is not None or pre_hms is not None:
                raise ValueError(
                    "JointDetector: pre_images / pre_hms are inputs of the centertrack "
                    f"variant only; this model is {self.variant!r}"
                )
            return self.neck(self.backbone(images))
        # CenterTrack at the first frame: previous image = current one, empty heatmap.
        if pre_images is None:
            pre_images = images
        if pre_hms is None:
            pre_hms = images.new_zeros((images.shape[0], 1, *images.shape[2:]))
        if not tracing:
            _check_previous(images, pre_images, pre_hms)
        extra = self.pre_img_layer(pre_images) + self.pre_hm_layer(pre_hms)
        return self.neck(self.backbone(images, stem_extra=extra))

    def forward(
        self,
        images: torch.Tensor,
        pre_images: torch.Tensor | None = None,
        pre_hms: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``images`` ``[B, 3, H, W]`` (normalised, H and W multiples of 32) -> head maps.

        Returns a dict, every map ``[B, C, H/4, W/4]``: ``hm`` (1, logits), ``wh`` (4,
        left/top/right/bottom in output cells), ``reg`` (2), ``id`` (D, raw), and with
        occlusion ``occ`` (1, logits) and ``occ_off`` (2).

        The centertrack variant also takes ``pre_images`` ``[B, 3, H, W]`` (the previous
        frame, normalised like ``images``; None = ``images``, as CenterTrack's first frame)
        and ``pre_hms`` ``[B, 1, H, W]`` (the previous frame's tracks rendered as Gaussian
        peaks at input resolution; None = zeros), and returns ``tracking`` (2: offset from
        each current centre to the same object's centre in the previous frame, output
        cells) instead of ``id``.
        """
        return self.heads(self.features(images, pre_images, pre_hms))


def _is_tracing() -> bool:
    """True under ONNX / TorchScript tracing or torch.compile / torch.export."""
    if torch.jit.is_tracing():
        return True
    is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(is_compiling is not None and is_compiling())


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            f"JointDetector: expected images [B, 3, H, W], got shape {tuple(images.shape)}"
        )
    h, w = int(images.shape[2]), int(images.shape[3])
    if h % 32 or w % 32 or h == 0 or w == 0:
        raise ValueError(
            f"JointDetector: expected H and W positive multiples of 32 (letterbox to "
            f"ModelConfig.input_size), got {h}x{w}"
        )


def _check_previous(
    images: torch.Tensor, pre_images: torch.Tensor, pre_hms: torch.Tensor
) -> None:
    b, _, h, w = images.shape
    if tuple(pre_images.shape) != (b, 3, h, w):
        raise ValueError(
            f"JointDetector: expected pre_images [B, 3, H, W] = {[b, 3, h, w]} (the previous "
            f"frame, like images), got shape {tuple(pre_images.shape)}"
        )
    if tuple(pre_hms.shape) != (b, 1, h, w):
        raise ValueError(
            f"JointDetector: expected pre_hms [B, 1, H, W] = {[b, 1, h, w]} (previous-frame "
            f"heatmap at input resolution), got shape {tuple(pre_hms.shape)}"
        )


def build_model(cfg: ModelConfig | Mapping[str, Any] | None = None) -> JointDetector:
    """Build the joint detector from a :class:`ModelConfig` or a mapping of its fields
    (``None`` = all defaults). DESIGN §3: ``forward(images) -> dict of head maps``."""
    return JointDetector(ModelConfig() if cfg is None else cfg)


def load_checkpoint(
    path: str | Path, *, map_location: str | torch.device = "cpu", weights_only: bool = True
) -> dict[str, Any]:
    """Read a checkpoint dict (docs/ARCHITECTURE.md "Checkpoint format").

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a dict with ``"model"`` (state dict) and ``"model_config"`` (dict).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=weights_only)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ValueError(
            f"checkpoint {path} cannot be read with torch.load(weights_only={weights_only}): "
            f"{exc}"
        ) from exc
    _check_checkpoint(ckpt, str(path))
    return ckpt


def _check_checkpoint(ckpt: Any, source: str) -> None:
    if not isinstance(ckpt, Mapping):
        raise ValueError(
            f"checkpoint {source}: expected a dict with 'model' and 'model_config', "
            f"got {type(ckpt).__name__}"
        )
    missing = [k for k in ("model", "model_config") if not isinstance(ckpt.get(k), Mapping)]
    if missing:
        raise ValueError(
            f"checkpoint {source}: expected a dict with 'model' (state dict) and "
            f"'model_config' (ModelConfig.to_dict()); missing or not a dict: {missing}"
        )


def model_from_checkpoint(
    checkpoint: str | Path | Mapping[str, Any],
    *,
    map_location: str | torch.device = "cpu",
    weights_only: bool = True,
    **overrides: Any,
) -> JointDetector:
    """Rebuild a trained model (eval mode) from a checkpoint path or dict.

    Only ``"model"`` and ``"model_config"`` are used. ``overrides`` replace config fields
    that do not change parameters (e.g. ``input_size``). ``pretrained`` is ignored: the
    checkpoint's weights replace any initialisation. Every key must load (strict).
    """
    if isinstance(checkpoint, (str, Path)):
        source = str(checkpoint)
        ckpt = load_checkpoint(checkpoint, map_location=map_location, weights_only=weights_only)
    else:
        source = "checkpoint dict"
        _check_checkpoint(checkpoint, source)
        ckpt = checkpoint
    cfg_dict = {**dict(ckpt["model_config"]), **overrides, "pretrained": None}
    model = JointDetector(cfg_dict)
    state = {k.removeprefix("module."): v for k, v in ckpt["model"].items()}
    load_state_dict_strict(
        model, state, source=source, expected=f"a JointDetector built from {cfg_dict}"
    )
    return model.to(map_location).eval()
