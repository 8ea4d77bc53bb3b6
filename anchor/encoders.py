"""Image encoders, a projection head and the cosine critic of two augmented views.

    images (N, C, H, W) --encoder--> features h (N, F) --head--> z (N, P) --l2-normalise-->
    logits[i, j] = cos(z1_i, z2_j) / temperature + offset         # (B, B); diagonal: same image

``ContrastiveCritic`` follows the package's critic convention, so every objective in
``anchor.OBJECTIVES`` trains it unchanged. Linear probes and k-NN read the features h; the loss
shapes z (SimCLR, Chen et al. 2020).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_float, check_int
from .critics import Critic, Logits


def _conv_bn(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """Four 3 x 3 conv-BN-ReLU layers (strides 2, 2, 2, 1; widths w, 2w, 4w, 4w), global average pool.

    For 28 x 28 digits: 14 -> 7 -> 4 pixels; ``out_dim`` = 4w features (128 for w = 32).
    """

    def __init__(self, in_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        width = check_int("width", width, low=1)
        self.out_dim = 4 * width
        self.net = nn.Sequential(
            *_conv_bn(check_int("in_channels", in_channels, low=1), width, 2),
            *_conv_bn(width, 2 * width, 2),
            *_conv_bn(2 * width, 4 * width, 2),
            *_conv_bn(4 * width, 4 * width, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class BasicBlock(nn.Module):
    """Two 3 x 3 conv-BN layers with an identity (or 1 x 1 projection) shortcut (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 with the usual CIFAR stem (3 x 3 conv, stride 1, no max-pool); 512 features."""

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        width = check_int("width", width, low=1)
        self.stem = nn.Sequential(*_conv_bn(check_int("in_channels", in_channels, low=1), width, 1))
        layers, c_in = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
            for block in range(2):
                layers.append(BasicBlock(c_in, c_out, 2 if stage > 0 and block == 0 else 1))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.layers(self.stem(images)), 1).flatten(1)


ENCODERS: dict[str, type[nn.Module]] = {"small-cnn": SmallCNN, "resnet18": ResNet18}


class ContrastiveCritic(Critic):
    """Cosine critic of two views through one encoder and projection head.

    ``forward(x, y)`` encodes both batches together (so batch-norm sees both views, as in SimCLR)
    and returns ``logits[i, j] = cos(z(x_i), z(y_j)) / temperature + offset``. The offset is a
    learned scalar (``learn_offset``): InfoNCE is blind to it, but objectives that read the critic
    as a log density ratio (the anchor, chi^2, NCE) need it to calibrate exp(c).
    """

    def __init__(
        self,
        encoder: str = "small-cnn",
        *,
        in_channels: int = 1,
        width: int | None = None,
        proj_dim: int = 64,
        hidden_dim: int | None = None,
        temperature: float = 0.2,
        learn_offset: bool = True,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        check_choice("encoder", encoder, ENCODERS)
        kwargs = {} if width is None else {"width": width}
        self.encoder = ENCODERS[encoder](in_channels=in_channels, **kwargs)
        features = self.encoder.out_dim
        hidden = features if hidden_dim is None else check_int("hidden_dim", hidden_dim, low=1)
        self.head = nn.Sequential(
            nn.Linear(features, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, check_int("proj_dim", proj_dim, low=1)),
        )
        self.temperature = check_float("temperature", temperature, low=0.0, low_open=True)
        self.offset = nn.Parameter(torch.zeros(()), requires_grad=learn_offset)
        # input normalisation, kept with the model so features never see unnormalised images
        self.register_buffer("mean", (torch.zeros(in_channels) if mean is None else mean).reshape(1, -1, 1, 1))
        self.register_buffer("std", (torch.ones(in_channels) if std is None else std).reshape(1, -1, 1, 1))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, F): the representation that probes read."""
        return self.encoder((images - self.mean) / self.std)

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, P) unit vectors on which the critic is a cosine."""
        return F.normalize(self.head(self.features(images)), dim=1)

    def _both(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.project(torch.cat([x, y]))  # one pass, so batch-norm sees both views
        return z[: len(x)], z[len(x) :]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Logits:
        zx, zy = self._both(x, y)
        return zx @ zy.T / self.temperature + self.offset

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        zx, zy = self._both(x, y)
        return (zx * zy).sum(1) / self.temperature + self.offset
