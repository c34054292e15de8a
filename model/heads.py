"""The six pose heads: bin logits and per-bin offset regressors for azimuth, elevation and in-plane rotation."""
from __future__ import annotations

import torch
from torch import nn


class PoseHeads(nn.Module):
    """``detach_offsets`` (``--offset_detach``, off by default): the offset regressors read the feature detached,
    so that whatever trains their outputs (the offset loss, a KL on them) trains those Linear layers and not the
    network beneath; the outputs are the same either way, so it is a training setting, not a checkpoint's."""

    def __init__(self, in_dim: int = 200, num_bins=(24, 12, 24)):
        super().__init__()
        self.classify = nn.ModuleList(nn.Linear(in_dim, n) for n in num_bins)
        self.regress = nn.ModuleList(nn.Linear(in_dim, n) for n in num_bins)
        self.detach_offsets = False

    def forward(self, feature: torch.Tensor) -> list[torch.Tensor]:
        """(B, in_dim) -> [cls_azi, cls_ele, cls_inp, reg_azi, reg_ele, reg_inp]."""
        offset_feature = feature.detach() if self.detach_offsets else feature
        return [head(feature) for head in self.classify] + [head(offset_feature) for head in self.regress]
