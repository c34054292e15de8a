"""The teacher's in-batch InfoNCE between its image projection and its fused 3D-augmented feature."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class InfoNCE(nn.Module):
    """-log softmax of a_i . p_i / tau over {a_i . p_j / tau}_j, with a_i, p_j L2-normalised.

    Anchors are the image projections, positives the fused features of the same samples, negatives the fused
    features of the other samples in the batch. Dropout (p 0.3) on the positive side during training, as in
    the reference; unlike the reference, the positive is counted once in the denominator.
    """

    def __init__(self, temperature: float = 0.1, dropout: float = 0.3):
        super().__init__()
        self.temperature, self.dropout = temperature, nn.Dropout(dropout)

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        a = F.normalize(anchors.float(), dim=1)
        p = F.normalize(self.dropout(positives.float()), dim=1)
        logits = a @ p.t() / self.temperature
        return F.cross_entropy(logits, torch.arange(len(a), device=a.device))
