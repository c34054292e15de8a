"""Fusing the shape and image features into the 200-d pose feature."""
from __future__ import annotations

import torch
from torch import nn

FUSIONS = ("deform", "mlp", "linear", "residual")


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


def build_fusion(name: str, in_dim: int, out_dim: int = 200) -> nn.Module:
    """``deform`` (3DAug), ``mlp`` (PoseFromShape), ``linear`` (one Linear layer from the concatenated shape and
    image features to the 200-d feature, no normalisation or activation) or ``residual`` (:class:`ResidualFusion`)."""
    if name == "deform":
        return DeformFusion(in_dim, out_dim)
    if name == "mlp":
        return MLPFusion(in_dim, out_dim)
    if name == "linear":
        return nn.Linear(in_dim, out_dim)
    if name == "residual":
        return ResidualFusion(in_dim, out_dim)
    raise ValueError(f"unknown fusion {name!r}; choose from {', '.join(FUSIONS)}")
