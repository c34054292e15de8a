"""Fusing the shape and image features into the 200-d pose feature."""
from __future__ import annotations

import torch
from torch import nn

FUSIONS = ("deform", "mlp", "linear")


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


def build_fusion(name: str, in_dim: int, out_dim: int = 200) -> nn.Module:
    """``deform`` (3DAug), ``mlp`` (PoseFromShape) or ``linear``: one Linear layer from the concatenated shape and
    image features to the 200-d feature, no normalisation or activation."""
    if name == "deform":
        return DeformFusion(in_dim, out_dim)
    if name == "mlp":
        return MLPFusion(in_dim, out_dim)
    if name == "linear":
        return nn.Linear(in_dim, out_dim)
    raise ValueError(f"unknown fusion {name!r}; choose from {', '.join(FUSIONS)}")
