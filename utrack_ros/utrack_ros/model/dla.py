"""DLA-34 backbone with the DLAUp + IDAUp neck of CenterNet / FairMOT (paper §4.1).

OUTrack builds on FairMOT (§3.3, Fig. 5), whose network is DLA-34 (Yu et al., "Deep Layer
Aggregation") upsampled to output stride 4 by iterative deep aggregation (DLAUp, then a
final IDAUp over strides 4/8/16). The aggregation nodes of the official code are DCNv2
modulated deformable 3x3 convs, a CUDA-only extension (DESIGN §4.4: no ONNX export).
Here they are :class:`ModulatedDeformConv3x3` modules that run
``torchvision.ops.deform_conv2d`` when torchvision imports, or the plain 3x3 conv with the
same weights otherwise. The module tree and parameter names are the same for both (and
match the official checkpoints' ``base.*`` / ``dla_up.*`` / ``ida_up.*`` sub-keys), so the
choice changes only the conv op.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .weights import load_state_dict_strict, read_state_dict

log = logging.getLogger(__name__)

#: DLA-34: levels and channels of ``level0`` .. ``level5`` (strides 1, 2, 4, 8, 16, 32).
DLA34_LEVELS = (1, 1, 1, 2, 2, 1)
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)
#: The ImageNet weights of the DLA authors, as CenterNet / FairMOT load them.
DLA34_IMAGENET_URL = "http://dl.yf.io/dla/models/imagenet/dla34-ba72cf86.pth"
DLA34_IMAGENET_FILE = "dla34-ba72cf86.pth"


@functools.lru_cache(maxsize=1)
def torchvision_deform_conv2d() -> Callable[..., torch.Tensor] | None:
    """``torchvision.ops.deform_conv2d`` when torchvision imports, else ``None``."""
    try:
        from torchvision.ops import deform_conv2d
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return deform_conv2d


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a residual (ResNet basic block, DLA-34's block)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=1, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if residual is None:
            residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Root(nn.Module):
    """Aggregation node: concat children -> 1x1 conv -> BN (+ first child) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, residual: bool):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, 1, stride=1, padding=(kernel_size - 1) // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.residual = residual

    def forward(self, *children: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(torch.cat(children, 1)))
        if self.residual:
            x = x + children[0]
        return self.relu(x)


class Tree(nn.Module):
    """Hierarchical deep aggregation tree of ``levels`` depth (DLA §3)."""

    def __init__(
        self,
        levels: int,
        block: type[BasicBlock],
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        level_root: bool = False,
        root_dim: int = 0,
        root_kernel_size: int = 1,
        dilation: int = 1,
        root_residual: bool = False,
    ) -> None:
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * out_channels
        if level_root:
            root_dim += in_channels
        if levels == 1:
            self.tree1: nn.Module = block(in_channels, out_channels, stride, dilation=dilation)
            self.tree2: nn.Module = block(out_channels, out_channels, 1, dilation=dilation)
            self.root = Root(root_dim, out_channels, root_kernel_size, root_residual)
        else:
            self.tree1 = Tree(
                levels - 1, block, in_channels, out_channels, stride, root_dim=0,
                root_kernel_size=root_kernel_size, dilation=dilation,
                root_residual=root_residual,
            )
            self.tree2 = Tree(
                levels - 1, block, out_channels, out_channels, root_dim=root_dim + out_channels,
                root_kernel_size=root_kernel_size, dilation=dilation,
                root_residual=root_residual,
            )
        self.level_root = level_root
        self.levels = levels
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        self.project = None
        if in_channels != out_channels:
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False),
                nn.BatchNorm2d(out_channels),
            )
            if levels > 1:
                # A nested tree computes its own residual: in the original DLA this
                # projection's output is discarded. It is kept (the ImageNet weights have
                # it) but neither run nor trained, so DDP sees no unused trainable parameter.
                self.project.requires_grad_(False)

    def forward(
        self,
        x: torch.Tensor,
        residual: torch.Tensor | None = None,
        children: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        children = [] if children is None else children
        bottom = self.downsample(x) if self.downsample is not None else x
        if self.level_root:
            children.append(bottom)
        if self.levels == 1:
            residual = self.project(bottom) if self.project is not None else bottom
            x1 = self.tree1(x, residual)
            x2 = self.tree2(x1)
            return self.root(x2, x1, *children)
        x1 = self.tree1(x)
        children.append(x1)
        return self.tree2(x1, children=children)


class DLA(nn.Module):
    """DLA base network; ``forward`` returns the 6 level outputs (strides 1 .. 32)."""

    def __init__(
        self,
        levels: Sequence[int] = DLA34_LEVELS,
        channels: Sequence[int] = DLA34_CHANNELS,
        block: type[BasicBlock] = BasicBlock,
        residual_root: bool = False,
    ) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.strides = tuple(2**i for i in range(len(channels)))
        self.base_layer = self.stem_layer(3)
        self.level0 = self._conv_level(channels[0], channels[0], levels[0])
        self.level1 = self._conv_level(channels[0], channels[1], levels[1], stride=2)
        self.level2 = Tree(levels[2], block, channels[1], channels[2], 2,
                           level_root=False, root_residual=residual_root)
        self.level3 = Tree(levels[3], block, channels[2], channels[3], 2,
                           level_root=True, root_residual=residual_root)
        self.level4 = Tree(levels[4], block, channels[3], channels[4], 2,
                           level_root=True, root_residual=residual_root)
        self.level5 = Tree(levels[5], block, channels[4], channels[5], 2,
                           level_root=True, root_residual=residual_root)

    def stem_layer(self, in_channels: int) -> nn.Sequential:
        """``base_layer``'s structure (7x7 conv -> BN -> ReLU, ``channels[0]`` wide) for an
        input of ``in_channels``: CenterTrack's ``pre_img_layer`` / ``pre_hm_layer``, whose
        output is passed to :meth:`forward` as ``stem_extra``."""
        return nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], 7, stride=1, padding=3, bias=False),
            nn.BatchNorm2d(self.channels[0]),
            nn.ReLU(inplace=True),
        )

    @staticmethod
    def _conv_level(inplanes: int, planes: int, convs: int, stride: int = 1) -> nn.Sequential:
        modules: list[nn.Module] = []
        for i in range(convs):
            modules += [
                nn.Conv2d(inplanes, planes, 3, stride=stride if i == 0 else 1, padding=1,
                          bias=False),
                nn.BatchNorm2d(planes),
                nn.ReLU(inplace=True),
            ]
            inplanes = planes
        return nn.Sequential(*modules)

    def forward(
        self, x: torch.Tensor, stem_extra: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """The 6 level outputs; ``stem_extra`` (``[B, channels[0], H, W]``), if given, is
        added to ``base_layer``'s output (CenterTrack: ``base_layer(img) +
        pre_img_layer(pre_img) + pre_hm_layer(pre_hm)``)."""
        x = self.base_layer(x)
        if stem_extra is not None:
            x = x + stem_extra
        outs = []
        for level in (self.level0, self.level1, self.level2, self.level3, self.level4,
                      self.level5):
            x = level(x)
            outs.append(x)
        return outs

    def load_pretrained(self, pretrained: str | Path) -> None:
        """``"imagenet"`` (the DLA authors' ``dla34-ba72cf86.pth``) or a path to weights
        with the original key names (``base_layer.*``, ``level0.*`` ...; ``fc.*`` ignored)."""
        path = imagenet_weights_path() if pretrained == "imagenet" else Path(pretrained)
        state = read_state_dict(path, drop_prefixes=("fc.",))
        load_state_dict_strict(self, state, source=str(path))
        log.info("dla34: loaded %d ImageNet tensors from %s", len(state), path)


def dla34() -> DLA:
    """DLA-34 (levels 1,1,1,2,2,1; channels 16 .. 512)."""
    return DLA(DLA34_LEVELS, DLA34_CHANNELS, block=BasicBlock)


def imagenet_weights_path() -> Path:
    """The DLA-34 ImageNet weights in torch's hub cache, downloaded there if missing.

    Raises:
        FileNotFoundError: not cached and the download failed; says where to put the file.
    """
    target = Path(torch.hub.get_dir()) / "checkpoints" / DLA34_IMAGENET_FILE
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(DLA34_IMAGENET_URL, str(target), progress=False)
    except Exception as exc:  # noqa: BLE001 - report every download failure the same way
        raise FileNotFoundError(
            f"pretrained='imagenet' for dla34 needs {DLA34_IMAGENET_FILE}: not in {target.parent} "
            f"and downloading {DLA34_IMAGENET_URL} failed ({exc}). Download it there, or pass "
            "its path as pretrained=..., or build with pretrained=None"
        ) from exc
    return target


class ModulatedDeformConv3x3(nn.Module):
    """DCNv2-style modulated deformable 3x3 conv (stride 1, padding 1), with a plain fallback.

    Parameters (names as in the official DCNv2 ``DCN`` module): ``weight``, ``bias`` and
    ``conv_offset_mask`` (a 3x3 conv predicting 18 offsets + 9 mask logits, zero-initialised
    so training starts from a regular sampling grid). With ``deformable=False`` the op is
    ``F.conv2d(x, weight, bias)`` and ``conv_offset_mask`` is kept (same state dict) but
    frozen, so optimisers and DDP never see an unused trainable parameter.
    """

    def __init__(self, in_channels: int, out_channels: int, deformable: bool) -> None:
        super().__init__()
        self.deformable = bool(deformable)
        if self.deformable and torchvision_deform_conv2d() is None:
            raise ValueError(
                "deformable=True needs torchvision.ops.deform_conv2d, but torchvision does not "
                "import; install torchvision or build the model with deformable=False"
            )
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.conv_offset_mask = nn.Conv2d(in_channels, 3 * 9, 3, stride=1, padding=1, bias=True)
        stdv = 1.0 / math.sqrt(in_channels * 9)
        nn.init.uniform_(self.weight, -stdv, stdv)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)
        if not self.deformable:
            self.conv_offset_mask.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.deformable:
            return F.conv2d(x, self.weight, self.bias, padding=1)
        o1, o2, mask = torch.chunk(self.conv_offset_mask(x), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        op = torchvision_deform_conv2d()
        return op(x, offset, self.weight, self.bias, padding=(1, 1), mask=torch.sigmoid(mask))


class DeformConv(nn.Module):
    """3x3 (deformable) conv -> BN -> ReLU: IDAUp's projection and aggregation node."""

    def __init__(self, in_channels: int, out_channels: int, deformable: bool) -> None:
        super().__init__()
        self.actf = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.conv = ModulatedDeformConv3x3(in_channels, out_channels, deformable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actf(self.conv(x))


def fill_bilinear_(up: nn.ConvTranspose2d) -> None:
    """Initialise a depthwise transposed conv to bilinear upsampling (FCN / CenterNet)."""
    w = up.weight.data
    f = math.ceil(w.size(2) / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    k = torch.arange(w.size(2), dtype=torch.float64)
    profile = 1 - (k / f - c).abs()
    kernel = (profile[:, None] * profile[None, :]).to(w.dtype)
    w.copy_(kernel.expand_as(w))


class IDAUp(nn.Module):
    """Iterative deep aggregation: bring each map to the first one's stride and fuse in turn.

    ``forward(layers, start, end)`` updates ``layers[start + 1 : end]`` (as the original) and
    returns the list: ``layers[i] = node_i(up_i(proj_i(layers[i])) + layers[i - 1])``.
    """

    def __init__(
        self, out_channels: int, channels: Sequence[int], up_f: Sequence[int], deformable: bool
    ) -> None:
        super().__init__()
        for i in range(1, len(channels)):
            f = int(up_f[i])
            setattr(self, f"proj_{i}", DeformConv(int(channels[i]), out_channels, deformable))
            up = nn.ConvTranspose2d(out_channels, out_channels, f * 2, stride=f, padding=f // 2,
                                    output_padding=0, groups=out_channels, bias=False)
            fill_bilinear_(up)
            setattr(self, f"up_{i}", up)
            setattr(self, f"node_{i}", DeformConv(out_channels, out_channels, deformable))

    def forward(self, layers: list[torch.Tensor], start: int, end: int) -> list[torch.Tensor]:
        for i in range(start + 1, end):
            up = getattr(self, f"up_{i - start}")
            proj = getattr(self, f"proj_{i - start}")
            node = getattr(self, f"node_{i - start}")
            layers[i] = node(up(proj(layers[i])) + layers[i - 1])
        return layers


class DLAUp(nn.Module):
    """Deep aggregation upsampling over levels ``start ..``: returns maps finest-first."""

    def __init__(
        self, start: int, channels: Sequence[int], scales: Sequence[int], deformable: bool
    ) -> None:
        super().__init__()
        self.start = start
        channels = list(channels)
        in_channels = list(channels)
        scales = [int(s) for s in scales]
        for i in range(len(channels) - 1):
            j = len(channels) - i - 2
            up_f = [s // scales[j] for s in scales[j:]]
            setattr(self, f"ida_{i}", IDAUp(channels[j], in_channels[j:], up_f, deformable))
            scales[j + 1 :] = [scales[j]] * (len(scales) - j - 1)
            in_channels[j + 1 :] = [channels[j]] * (len(in_channels) - j - 1)

    def forward(self, layers: list[torch.Tensor]) -> list[torch.Tensor]:
        layers = list(layers)
        out = [layers[-1]]
        for i in range(len(layers) - self.start - 1):
            getattr(self, f"ida_{i}")(layers, len(layers) - i - 2, len(layers))
            out.insert(0, layers[-1])
        return out


class DLANeck(nn.Module):
    """DLAUp over levels 2..5 then IDAUp over strides 4/8/16: the stride-4 map (FairMOT).

    Args:
        channels: the DLA level channels (``DLA34_CHANNELS``).
        out_channels: channels of the output map (64 in FairMOT).
        deformable: see :class:`ModulatedDeformConv3x3`.
    """

    first_level = 2  # log2(output stride 4)
    last_level = 5

    def __init__(
        self, channels: Sequence[int] = DLA34_CHANNELS, out_channels: int = 64,
        deformable: bool = False,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.deformable = deformable
        used = list(channels[self.first_level :])
        scales = [2**i for i in range(len(used))]
        self.dla_up = DLAUp(self.first_level, used, scales, deformable)
        n = self.last_level - self.first_level
        self.ida_up = IDAUp(out_channels, used[:n], [2**i for i in range(n)], deformable)

    def forward(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.dla_up(list(levels))
        y = [x[i] for i in range(self.last_level - self.first_level)]
        self.ida_up(y, 0, len(y))
        return y[-1]
