"""Encoders: a torchvision image backbone with a projection to ``img_feature_dim``, and the two shape encoders
(PointNet for point clouds, a shared image backbone over the views for multi-view renders)."""
from __future__ import annotations

import torch
from torch import nn
import torchvision

IMAGE_BACKBONES = ("resnet18", "resnet34", "resnet50", "vgg11")
VIEW_ENCODERS = IMAGE_BACKBONES + ("small",)


class ImageEncoder(nn.Module):
    """torchvision ResNet (or VGG-11) whose last linear layer maps to ``feature_dim``: (B, 3, H, W) -> (B, D).

    ``pretrained`` loads torchvision's ImageNet weights (downloaded on first use) before the last layer is
    replaced; the project never needs them, and the reference trains from scratch.
    """

    def __init__(self, name: str = "resnet50", feature_dim: int | None = 1024, pretrained: bool = False):
        """``feature_dim`` None: no last layer, the feature is the backbone's own (512 or 2048 pooled channels
        for a ResNet, 4096 for VGG-11)."""
        super().__init__()
        if name not in IMAGE_BACKBONES:
            raise ValueError(f"unknown image encoder {name!r}; choose from {', '.join(IMAGE_BACKBONES)}")
        weights = "DEFAULT" if pretrained else None
        backbone = getattr(torchvision.models, name)(weights=weights)
        # VGG: the classifier's last layer becomes the feature layer, as in the released student
        attr, last = ("fc", backbone.fc) if name.startswith("resnet") else ("classifier", backbone.classifier[-1])
        layer = nn.Identity() if feature_dim is None else nn.Linear(last.in_features, feature_dim)
        if attr == "fc":
            backbone.fc = layer
        else:
            backbone.classifier[-1] = layer
        self.backbone, self.name = backbone, name
        self.feature_dim = last.in_features if feature_dim is None else feature_dim

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


class SmallConvNet(nn.Module):
    """A small CNN for the renders of a multi-view shape (``--view_encoder small``), of PointNet's order of cost:
    four 3x3 convolutions of stride 2 (3 -> 32 -> 64 -> 128 -> 128 channels, BatchNorm and ReLU after each),
    global average pooling, one Linear layer to ``feature_dim``: (B, 3, S, S) -> (B, D)."""

    def __init__(self, feature_dim: int = 256):
        super().__init__()
        layers, width = [], 3
        for out in (32, 64, 128, 128):
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            width = out
        self.layers = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, feature_dim))
        self.feature_dim = feature_dim

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image)


def ring_map(view_num: int, tour: int, bins: int) -> torch.Tensor:
    """(bins, view_num // tour) weights that spread a ring's views over ``bins`` azimuth directions: view k (at
    azimuth ``360 k / per_ring``, :func:`dataset.multiview.ring`) lands on direction bin ``k * bins / per_ring``
    and the bins between two views mix them linearly, so that a turn by one ring step (which rolls the ring's
    views by one, :func:`dataset.multiview.turn_views`) rolls the map by ``bins / per_ring`` bins."""
    per_ring = view_num // tour
    if view_num % tour or bins % per_ring:
        raise ValueError(f"a ring of {per_ring} views ({view_num} views on {tour} rings) cannot be spread over "
                         f"{bins} azimuth bins: bins must be a multiple of the views per ring")
    step = bins // per_ring
    weights = torch.zeros(bins, per_ring)
    for k in range(per_ring):
        for t in range(step):
            weights[k * step + t, k] += 1 - t / step
            weights[k * step + t, (k + 1) % per_ring] += t / step
    return weights


class MultiViewEncoder(nn.Module):
    """PoseFromShape's multi-view encoder: one backbone shared across the ``view_num`` renders, each view to
    ``view_feature_dim``, the features concatenated in the ring's order (which carries the model's frame):
    (B, V, 3, S, S) -> (B, V * D).

    ``view_size``: the renders are resized to it first (antialiased; 0 keeps them as stored). ``bins``: the
    features become a map over that many azimuth directions for the correlation fusion, (B, tour * D, bins),
    each of the ``tour`` elevation rings spread over the directions by :func:`ring_map` (the rings' maps are
    stacked as channels), so that the map turns with the model as a point cloud's does
    (:class:`CylinderEncoder`)."""

    def __init__(self, name: str = "resnet18", view_num: int = 12, view_feature_dim: int = 256,
                 view_size: int = 0, tour: int = 2, bins: int | None = None):
        super().__init__()
        if name not in VIEW_ENCODERS:
            raise ValueError(f"unknown view encoder {name!r}; choose from {', '.join(VIEW_ENCODERS)}")
        self.encoder = SmallConvNet(view_feature_dim) if name == "small" else ImageEncoder(name, view_feature_dim)
        self.view_num, self.view_size, self.tour, self.bins = view_num, view_size, tour, bins
        if bins:
            self.register_buffer("spread", ring_map(view_num, tour, bins), persistent=False)
            self.channels = tour * view_feature_dim
            self.feature_dim = self.channels * bins
        else:
            self.feature_dim = view_num * view_feature_dim

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        b, v = views.shape[:2]
        if v != self.view_num:
            raise ValueError(f"the network reads {self.view_num} views per model, the batch has {v}")
        views = views.flatten(0, 1)
        if self.view_size and views.shape[-1] != self.view_size:
            views = nn.functional.interpolate(views, size=(self.view_size, self.view_size), mode="bilinear",
                                              antialias=True, align_corners=False)
        features = self.encoder(views)
        if not self.bins:
            return features.reshape(b, -1)
        rings = features.reshape(b, self.tour, v // self.tour, -1)  # (B, tour, per_ring, D)
        directions = torch.einsum("kp,brpd->brdk", self.spread, rings)  # (B, tour, D, bins)
        return directions.reshape(b, self.channels, self.bins)


class CylinderEncoder(nn.Module):
    """A point cloud as a map of features over ``bins`` directions about the vertical (z) axis: (B, 3, N) ->
    (B, D, bins), equivariant to turns about z (a turn by one bin width rolls the map by one bin).

    The cloud is centred on its mean and scaled by its largest distance from it, so the min-max normalisation
    (a shift and a scale) does not change the map. Each point gets a feature from what a turn about z leaves
    unchanged (its distance from the axis and its height: shared 1x1 convs 2 -> 64 -> 128 -> D), and its
    direction ``atan2(y, x)`` spreads it over the two nearest direction bins (linear weights, so that the map
    moves smoothly with the cloud); each bin holds the weighted mean of its points' features. Two circular
    convolutions over the bins relate each direction to its neighbours and keep the equivariance.
    """

    def __init__(self, feature_dim: int = 64, bins: int = 24):
        super().__init__()
        self.points = nn.Sequential(
            nn.Conv1d(2, 64, 1), nn.BatchNorm1d(64), nn.ReLU(inplace=True),
            nn.Conv1d(64, 128, 1), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
            nn.Conv1d(128, feature_dim, 1))
        self.ring = nn.Sequential(
            nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True),
            nn.Conv1d(feature_dim, feature_dim, 3, padding=1, padding_mode="circular"),
            nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True),
            nn.Conv1d(feature_dim, feature_dim, 3, padding=1, padding_mode="circular"))
        self.bins, self.channels = bins, feature_dim
        self.feature_dim = feature_dim * bins

    def direction_weights(self, points: torch.Tensor) -> torch.Tensor:
        """(B, 3, N) centred points -> (B, N, bins) linear weights of each point's direction over the bins,
        whose centres are at (j + 1/2) * 360 / bins degrees."""
        angle = torch.atan2(points[:, 1], points[:, 0]) % (2 * torch.pi)
        position = angle * self.bins / (2 * torch.pi) - 0.5
        low = torch.floor(position)
        frac = (position - low).unsqueeze(-1)
        low = low.long() % self.bins
        one_hot = nn.functional.one_hot
        return one_hot(low, self.bins) * (1 - frac) + one_hot((low + 1) % self.bins, self.bins) * frac

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        points = points.float() - points.float().mean(dim=2, keepdim=True)
        scale = points.norm(dim=1).amax(dim=1).clamp_min(1e-6)[:, None, None]
        points = points / scale
        invariant = torch.stack([points[:, :2].norm(dim=1), points[:, 2]], dim=1)  # (B, 2, N)
        features = self.points(invariant)  # (B, D, N)
        weights = self.direction_weights(points)  # (B, N, bins)
        cells = features @ weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)  # (B, D, bins)
        return self.ring(cells)
