"""Encoders: a torchvision image backbone with a projection to ``img_feature_dim``, and the two shape encoders
(PointNet for point clouds, a shared image backbone over the views for multi-view renders)."""
from __future__ import annotations

import torch
from torch import nn
import torchvision

IMAGE_BACKBONES = ("resnet18", "resnet34", "resnet50", "vgg11")


class ImageEncoder(nn.Module):
    """torchvision ResNet (or VGG-11) whose last linear layer maps to ``feature_dim``: (B, 3, H, W) -> (B, D).

    ``pretrained`` loads torchvision's ImageNet weights (downloaded on first use) before the last layer is
    replaced; the project never needs them, and the reference trains from scratch.
    """

    def __init__(self, name: str = "resnet50", feature_dim: int = 1024, pretrained: bool = False):
        super().__init__()
        if name not in IMAGE_BACKBONES:
            raise ValueError(f"unknown image encoder {name!r}; choose from {', '.join(IMAGE_BACKBONES)}")
        weights = "DEFAULT" if pretrained else None
        backbone = getattr(torchvision.models, name)(weights=weights)
        if name.startswith("resnet"):
            backbone.fc = nn.Linear(backbone.fc.in_features, feature_dim)
        else:  # VGG: the classifier's last layer becomes the feature layer, as in the released student
            backbone.classifier[-1] = nn.Linear(backbone.classifier[-1].in_features, feature_dim)
        self.backbone, self.name, self.feature_dim = backbone, name, feature_dim

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.backbone(image)


class PointNetEncoder(nn.Module):
    """PointNet without input transform: shared 1x1 convs 3 -> 64 -> 128 -> D (no ReLU last), max over points."""

    def __init__(self, feature_dim: int = 1024):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(3, 64, 1), nn.BatchNorm1d(64), nn.ReLU(inplace=True),
            nn.Conv1d(64, 128, 1), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
            nn.Conv1d(128, feature_dim, 1), nn.BatchNorm1d(feature_dim))
        self.feature_dim = feature_dim

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """points (B, 3, N) -> (B, D)."""
        return self.layers(points).amax(dim=2)


class MultiViewEncoder(nn.Module):
    """PoseFromShape's multi-view encoder: one backbone shared across the ``view_num`` renders, each view to
    ``view_feature_dim``, the features concatenated in the ring's order (which carries the model's frame):
    (B, V, 3, S, S) -> (B, V * D)."""

    def __init__(self, name: str = "resnet18", view_num: int = 12, view_feature_dim: int = 256):
        super().__init__()
        self.encoder = ImageEncoder(name, view_feature_dim)
        self.view_num = view_num
        self.feature_dim = view_num * view_feature_dim

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        b, v = views.shape[:2]
        if v != self.view_num:
            raise ValueError(f"the network reads {self.view_num} views per model, the batch has {v}")
        return self.encoder(views.flatten(0, 1)).reshape(b, -1)
