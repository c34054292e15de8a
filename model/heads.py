"""The six pose heads: bin logits and per-bin offset regressors for azimuth, elevation and in-plane rotation."""
from __future__ import annotations

import torch
from torch import nn


class PoseHeads(nn.Module):
    def __init__(self, in_dim: int = 200, num_bins=(24, 12, 24)):
        super().__init__()
        self.classify = nn.ModuleList(nn.Linear(in_dim, n) for n in num_bins)
        self.regress = nn.ModuleList(nn.Linear(in_dim, n) for n in num_bins)

    def forward(self, feature: torch.Tensor) -> list[torch.Tensor]:
        """(B, in_dim) -> [cls_azi, cls_ele, cls_inp, reg_azi, reg_ele, reg_inp]."""
        return [head(feature) for head in self.classify] + [head(feature) for head in self.regress]
