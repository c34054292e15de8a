"""Fusing the shape and image features into the 200-d pose feature."""
from __future__ import annotations

import torch
from torch import nn

FUSIONS = ("deform", "mlp", "linear", "residual", "film", "correlation")


def mlp(dims, final_activation=True) -> nn.Sequential:
    """Linear layers with BatchNorm and ReLU after each (after the last one too unless told otherwise)."""
    layers = []
    for k, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if final_activation or k < len(dims) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DeformFusion(nn.Module):
    """3DAug fusion: 1x1 Conv1d MLP in -> in -> 1024 -> 512 (BN, ReLU) -> 200, tanh."""

    def __init__(self, in_dim: int, out_dim: int = 200):
        super().__init__()
        dims = (in_dim, in_dim, 1024, 512)
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Conv1d(a, b, 1), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        layers += [nn.Conv1d(dims[-1], out_dim, 1), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features.unsqueeze(2)).squeeze(2)


class MLPFusion(nn.Module):
    """PoseFromShape's compress MLP: in -> 800 -> 400 -> 200, BN and ReLU after each."""

    def __init__(self, in_dim: int, out_dim: int = 200):
        super().__init__()
        self.layers = mlp((in_dim, 800, 400, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class ResidualFusion(nn.Module):
    """One Linear layer plus a zero-initialised ReLU MLP beside it: in -> 200, and in -> ``hidden`` -> 200.

    With linear heads behind it, a linear fusion makes every logit a sum of an image term and a shape term, so
    the shape can only add a per-instance bias to the pose logits: it cannot change how the image is read
    (a canonical cloud then carries nothing about the pose), nor turn the azimuth by the frame that
    ``--random`` gives the cloud. The MLP branch can; its last layer starts at zero, so at the first step the
    fusion is the linear one, which learns as fast as the control.
    """

    def __init__(self, in_dim: int, out_dim: int = 200, hidden: int = 512):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.branch = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))
        nn.init.zeros_(self.branch[-1].weight)
        nn.init.zeros_(self.branch[-1].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features) + self.branch(features)


class FiLMFusion(nn.Module):
    """The shape conditions how the image is read: ``Linear(image * (1 + gamma(shape)) + beta(shape))``.

    Feature-wise linear modulation (FiLM): ``gamma`` and ``beta`` are one Linear layer of the shape feature,
    zero-initialised, so the fusion starts as a linear layer of the image feature alone. The product makes each
    logit a bilinear form of image and shape features (which an additive fusion cannot express): the shape can
    select and re-weight the image features that tell the pose of this object.
    """

    def __init__(self, shape_dim: int, image_dim: int, out_dim: int = 200):
        super().__init__()
        self.shape_dim = shape_dim
        self.modulation = nn.Linear(shape_dim, 2 * image_dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)
        self.linear = nn.Linear(image_dim, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        shape, image = features[:, :self.shape_dim], features[:, self.shape_dim:]
        gamma, beta = self.modulation(shape).chunk(2, dim=1)
        return self.linear(image * (1 + gamma) + beta)


class CorrelationFusion(nn.Module):
    """The image is compared with the cloud turned to each azimuth bin: azimuth logits that turn with the cloud.

    The shape comes as a map of features over the K azimuth directions (:class:`model.encoders.CylinderEncoder`,
    flattened to D * K). The image feature predicts a map of the same size (one Linear layer): what it sees in
    each direction from the camera. The logit of azimuth bin b is their correlation with the cloud's map turned
    by b bins, ``sum_j <image_j, shape_(j - b) mod K> / sqrt(D K)``, added to the azimuth head's logits. A cloud
    turned by one bin (counter-clockwise about z) rolls its map by +1 and these logits by -1, which is how the
    label turns (azimuth label = 360 - raw azimuth): the logits follow the cloud by construction, so the network
    cannot read the cloud as a code of its category alone, and what it learns (where a part seen in the image
    lies on the cloud) does not depend on which category it saw in training. The 200-d feature for the heads is
    FiLM of the image feature by the map's mean over directions (which a turn does not change).
    """

    def __init__(self, channels: int, bins: int, image_dim: int, out_dim: int = 200):
        super().__init__()
        self.channels, self.bins = channels, bins
        self.query = nn.Linear(image_dim, channels * bins)
        self.film = FiLMFusion(channels, image_dim, out_dim)
        index = (torch.arange(bins)[None, :] - torch.arange(bins)[:, None]) % bins  # [b, j] = (j - b) mod K
        self.register_buffer("index", index, persistent=False)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D * K + image_dim) -> the 200-d feature (B, out_dim) and the azimuth logits (B, K)."""
        split = self.channels * self.bins
        shape = features[:, :split].reshape(-1, self.channels, self.bins)
        image = features[:, split:]
        query = self.query(image).reshape(-1, self.channels, self.bins)
        turned = shape[:, :, self.index]  # (B, D, K turns, K directions)
        logits = torch.einsum("bdj,bdkj->bk", query, turned) / (self.channels * self.bins) ** 0.5
        return self.film(torch.cat([shape.mean(dim=2), image], dim=1)), logits


def build_fusion(name: str, in_dim: int, out_dim: int = 200, shape_dim: int | None = None,
                 bins: int | None = None) -> nn.Module:
    """``deform`` (3DAug), ``mlp`` (PoseFromShape), ``linear`` (one Linear layer from the concatenated shape and
    image features to the 200-d feature, no normalisation or activation), ``residual`` (:class:`ResidualFusion`)
    or ``film`` (:class:`FiLMFusion`; needs ``shape_dim``, the length of the shape feature that comes first in
    the ``in_dim`` input) or ``correlation`` (:class:`CorrelationFusion`; needs ``shape_dim``, the length of a
    direction map of ``bins`` directions, and returns the feature and azimuth logits)."""
    if name == "correlation":
        if shape_dim is None or not bins or shape_dim % bins or not 0 < shape_dim < in_dim:
            raise ValueError(f"the correlation fusion needs a shape map of bins x channels (0 < shape_dim < {in_dim})")
        return CorrelationFusion(shape_dim // bins, bins, in_dim - shape_dim, out_dim)
    if name == "film":
        if shape_dim is None or not 0 < shape_dim < in_dim:
            raise ValueError(f"the film fusion needs the shape feature's length (0 < shape_dim < {in_dim})")
        return FiLMFusion(shape_dim, in_dim - shape_dim, out_dim)
    if name == "deform":
        return DeformFusion(in_dim, out_dim)
    if name == "mlp":
        return MLPFusion(in_dim, out_dim)
    if name == "linear":
        return nn.Linear(in_dim, out_dim)
    if name == "residual":
        return ResidualFusion(in_dim, out_dim)
    raise ValueError(f"unknown fusion {name!r}; choose from {', '.join(FUSIONS)}")
