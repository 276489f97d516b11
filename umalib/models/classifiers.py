"""Classifiers used in the experiments.

Every model takes images in [0, 1] and normalises them inside ``forward`` (first op), so an
L-inf budget such as 8/255 is measured in pixel space, as in the reference code.

- ``resnet18`` / ``resnet50``: CIFAR-style ResNets (3x3 stem, stride 1, no max-pool), as in
  the paper (ResNet-50) and the SalUn/Sparse reference code (ResNet-18).
- ``cnn``: a small, fast conv net for the quick and smoke profiles on 28x28 inputs.

All models expose ``features(x)`` (the penultimate vector) so that a trained classifier can
serve as a domain feature network for FID.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ARCHS


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` with the statistics stored as buffers."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """Base: ``forward(x) = head(features(x))`` with normalisation first."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)

    def body(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, D) of images ``x`` in [0, 1]."""
        return self.body(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class SmallCNN(Classifier):
    """conv(w)-BN-ReLU-pool, conv(2w)-BN-ReLU-pool, FC(hidden)-ReLU, FC(K).

    About 1.4 M multiply-adds per 28x28 image at ``width=16``: the quick profile's attack runs
    hundreds of thousands of forward/backward passes on two CPU cores.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int,
                 mean: Sequence[float], std: Sequence[float], width: int = 16,
                 hidden: int = 256) -> None:
        super().__init__(mean, std)
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 for cnn, got {image_size}")
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.hidden = nn.Linear(2 * width * (image_size // 4) ** 2, hidden)
        self.fc = nn.Linear(hidden, num_classes)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.hidden(torch.flatten(self.conv(x), 1)))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(Classifier):
    """CIFAR-style ResNet: 3x3 stride-1 stem, no max-pool, four stages, global average pool."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 in_channels: int, num_classes: int, mean: Sequence[float],
                 std: Sequence[float], width: int = 64) -> None:
        super().__init__(mean, std)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, cin = [], width
        for i, n in enumerate(layers):
            planes = width * 2 ** i
            for j in range(n):
                stages.append(block(cin, planes, 2 if (i > 0 and j == 0) else 1))
                cin = planes * block.expansion
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, num_classes)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


def build_model(arch: str, *, in_channels: int, num_classes: int, image_size: int,
                mean: Sequence[float], std: Sequence[float], width: int | None = None) -> Classifier:
    """Build a classifier by name (one of :data:`ARCHS`).

    Args:
        arch: "cnn", "resnet18" or "resnet50".
        in_channels / num_classes / image_size: data shape (any channel and class count).
        mean / std: per-channel normalisation applied inside the model.
        width: base width (cnn default 16, ResNets default 64).
    Returns:
        An untrained ``Classifier`` whose forward maps (N, C, H, W) in [0, 1] to logits (N, K).
    """
    if arch not in ARCHS:
        raise ValueError(f"model.arch must be one of {ARCHS}, got {arch!r}")
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError("mean/std need one value per input channel")
    builders: dict[str, Callable[[], Classifier]] = {
        "cnn": lambda: SmallCNN(in_channels, num_classes, image_size, mean, std, width or 16),
        "resnet18": lambda: ResNet(BasicBlock, (2, 2, 2, 2), in_channels, num_classes, mean, std,
                                   width or 64),
        "resnet50": lambda: ResNet(Bottleneck, (3, 4, 6, 3), in_channels, num_classes, mean, std,
                                   width or 64),
    }
    return builders[arch]()
