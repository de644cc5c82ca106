"""The parallel heads on the shared stride-4 map (paper §3.2.1, §3.3 Fig. 5, §4.1).

Every head is ``3x3 conv (head_conv channels) -> ReLU -> 1x1 conv`` (§4.1: "one 3x3
convolutional layer whose output is a 256-channel feature map and one 1x1 convolutional
layer ... Between these two layers, a ReLU"). The heatmap heads ``hm`` and ``occ`` output
logits (the sigmoid is applied by the loss and by :func:`~utrack_ros.model.decode`) and
their last bias starts at -2.19 (CenterNet: sigmoid(-2.19) ~ 0.1, a stable focal-loss
start); every other bias starts at 0 (FairMOT's ``fill_fc_weights``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

#: Initial bias of the last conv of the heatmap heads (CenterNet / FairMOT / OUTrack).
HEATMAP_BIAS = -2.19
#: Heads whose output is a heatmap of logits.
HEATMAP_HEADS = ("hm", "occ")


def make_head(in_channels: int, head_conv: int, out_channels: int, heatmap: bool) -> nn.Sequential:
    """``Conv3x3(in, head_conv) -> ReLU -> Conv1x1(head_conv, out)`` with the paper's init."""
    head = nn.Sequential(
        nn.Conv2d(in_channels, head_conv, 3, padding=1, bias=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(head_conv, out_channels, 1, bias=True),
    )
    if heatmap:
        nn.init.constant_(head[-1].bias, HEATMAP_BIAS)
    else:
        for m in head.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.zeros_(m.bias)
    return head


class Heads(nn.Module):
    """One head per entry of ``channels`` (name -> output channels), run on the same map.

    ``forward(x)`` returns a dict in the order of ``channels`` (hm, wh, reg, id, occ, occ_off).
    """

    def __init__(self, in_channels: int, channels: Mapping[str, int], head_conv: int) -> None:
        super().__init__()
        self.names = tuple(channels)
        self.heads = nn.ModuleDict(
            {
                name: make_head(in_channels, head_conv, int(out), name in HEATMAP_HEADS)
                for name, out in channels.items()
            }
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: self.heads[name](x) for name in self.names}
