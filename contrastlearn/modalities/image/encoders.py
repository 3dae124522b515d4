"""Image encoders written in plain torch: ResNet-18/34/50 and a small CNN for tiny images.

Every encoder maps a (B, C, H, W) batch to a (B, out_dim) representation (global average pooled,
no classifier) and is built from plain keyword arguments through
`contrastlearn.core.registry.ENCODERS`, so an exported encoder can be rebuilt from name + kwargs.
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastlearn.core.registry import ENCODERS


def _check_image_batch(x: Tensor, in_channels: int, owner: str) -> None:
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"{owner} expects images shaped (batch, {in_channels}, height, width); got "
            f"{tuple(x.shape)}. Set in_channels to the data's channel count."
        )


def _scaled(channels: int, width_multiplier: float) -> int:
    return max(1, int(round(channels * width_multiplier)))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut; ResNet-18/34."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, as in torchvision's "ResNet v1.5"), 1x1 expand x4;
    ResNet-50."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_planes),
    )


_LAYOUTS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


@ENCODERS.register("resnet")
class ResNet(nn.Module):
    """ResNet (He et al., 2015, arXiv:1512.03385) backbone without classifier: (B, C, H, W) ->
    (B, out_dim) after global average pooling.

    - `depth`: 18 or 34 (BasicBlock) or 50 (Bottleneck).
    - `width_multiplier` scales every stage's channels (64, 128, 256, 512 at 1.0), so
      out_dim = 512 * width (18/34) or 2048 * width (50).
    - `cifar_stem=True` replaces the 7x7 stride-2 conv + max-pool with a 3x3 stride-1 conv and
      no pooling, the usual choice for 32x32 and smaller images (as in SimCLR's CIFAR-10 runs).
    - `zero_init_residual=True` zero-initialises the last BN of each residual branch so every
      block starts as the identity (Goyal et al., 2017, arXiv:1706.02677).
    """

    modality = "image"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def __init__(
        self,
        depth: int = 18,
        in_channels: int = 3,
        width_multiplier: float = 1.0,
        cifar_stem: bool = False,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if int(depth) not in _LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(_LAYOUTS)}; got {depth!r}")
        if float(width_multiplier) <= 0:
            raise ValueError(f"ResNet width_multiplier must be > 0; got {width_multiplier}")
        block, counts = _LAYOUTS[int(depth)]
        self.depth = int(depth)
        self.in_channels = int(in_channels)
        stem_channels = _scaled(64, width_multiplier)
        if cifar_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(self.in_channels, stem_channels, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(stem_channels),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(self.in_channels, stem_channels, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(stem_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        stages: list[nn.Module] = []
        in_planes = stem_channels
        for index, (base, count) in enumerate(zip((64, 128, 256, 512), counts)):
            planes = _scaled(base, width_multiplier)
            blocks: list[nn.Module] = []
            for position in range(count):
                stride = 2 if index > 0 and position == 0 else 1
                blocks.append(block(in_planes, planes, stride))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_planes

        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(module.last_norm().weight)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's feature map, (B, out_dim, H', W'), before pooling."""
        _check_image_batch(x, self.in_channels, f"ResNet-{self.depth}")
        return self.stages(self.stem(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.forward_features(x)).flatten(1)


@ENCODERS.register("resnet18")
def resnet18(
    in_channels: int = 3, width_multiplier: float = 1.0, cifar_stem: bool = False,
    zero_init_residual: bool = False,
) -> ResNet:
    """ResNet-18 backbone (BasicBlock, 2-2-2-2), out_dim = 512 * width_multiplier."""
    return ResNet(18, in_channels, width_multiplier, cifar_stem, zero_init_residual)


@ENCODERS.register("resnet34")
def resnet34(
    in_channels: int = 3, width_multiplier: float = 1.0, cifar_stem: bool = False,
    zero_init_residual: bool = False,
) -> ResNet:
    """ResNet-34 backbone (BasicBlock, 3-4-6-3), out_dim = 512 * width_multiplier."""
    return ResNet(34, in_channels, width_multiplier, cifar_stem, zero_init_residual)


@ENCODERS.register("resnet50")
def resnet50(
    in_channels: int = 3, width_multiplier: float = 1.0, cifar_stem: bool = False,
    zero_init_residual: bool = False,
) -> ResNet:
    """ResNet-50 backbone (Bottleneck, 3-4-6-3), out_dim = 2048 * width_multiplier."""
    return ResNet(50, in_channels, width_multiplier, cifar_stem, zero_init_residual)


@ENCODERS.register("small_cnn")
class SmallCNN(nn.Module):
    """A fast conv net for tiny images (8x8 digits up to 32x32): conv-BN-ReLU blocks, then
    global average pooling and a Linear to `out_dim`.

    Block i has `width * 2**i` channels; the first block keeps the resolution, each later one
    halves it with a stride-2 convolution. Pooling is adaptive, so any spatial size works.
    `out_dim=None` skips the final Linear and uses the last block's channels as out_dim.
    """

    modality = "image"
    """The kind of data it reads (`evaluate` and `embed` read it from the module)."""

    def __init__(
        self,
        in_channels: int = 1,
        width: int = 32,
        out_dim: int | None = 128,
        num_blocks: int = 3,
    ) -> None:
        super().__init__()
        if int(num_blocks) < 1 or int(width) < 1:
            raise ValueError(
                f"SmallCNN needs num_blocks >= 1 and width >= 1; got {num_blocks}, {width}"
            )
        self.in_channels = int(in_channels)
        layers: list[nn.Module] = []
        previous = self.in_channels
        for index in range(int(num_blocks)):
            channels = int(width) * 2**index
            stride = 1 if index == 0 else 2
            layers += [
                nn.Conv2d(previous, channels, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            previous = channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc: nn.Module = nn.Linear(previous, int(out_dim)) if out_dim else nn.Identity()
        self.out_dim = int(out_dim) if out_dim else previous
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        _check_image_batch(x, self.in_channels, "SmallCNN")
        return self.fc(self.pool(self.features(x)).flatten(1))
