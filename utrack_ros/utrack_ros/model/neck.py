"""Light FPN / IDA-style neck: multi-stride features -> one stride-4 map for the heads.

CenterNet-style heads (paper §3.2.1, §4.1) read a single map at output stride ``R = 4``.
DLA-34 reaches it with DLAUp + IDAUp (:mod:`utrack_ros.model.dla`); for the light
MobileNetV2 backbone this neck fuses strides 32 -> 16 -> 8 -> 4 top-down: a 1x1 lateral
conv per level, bilinear x2 upsampling of the coarser result, addition, and a 3x3 conv,
each conv followed by BatchNorm + ReLU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> ReLU, "same" padding."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class FPNNeck(nn.Module):
    """Top-down fusion of features whose strides double from one to the next.

    Args:
        in_channels: channels of the backbone features, finest (stride 4) first.
        out_channels: channels of every fused map and of the output.

    ``forward(features)`` takes the list finest-first and returns the finest fused map,
    ``[B, out_channels, H/4, W/4]`` for MobileNetV2's strides (4, 8, 16, 32).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 64) -> None:
        super().__init__()
        if len(in_channels) < 2:
            raise ValueError(f"FPNNeck in_channels: expected >= 2 levels, got {in_channels}")
        self.out_channels = out_channels
        self.lateral = nn.ModuleList(conv_bn_relu(c, out_channels, 1) for c in in_channels)
        # One 3x3 fusion conv per level that receives an upsampled coarser map.
        self.smooth = nn.ModuleList(
            conv_bn_relu(out_channels, out_channels, 3) for _ in in_channels[:-1]
        )

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(features) != len(self.lateral):
            raise ValueError(
                f"FPNNeck: expected {len(self.lateral)} feature maps, got {len(features)}"
            )
        x = self.lateral[-1](features[-1])
        for level in range(len(features) - 2, -1, -1):
            up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.smooth[level](self.lateral[level](features[level]) + up)
        return x
