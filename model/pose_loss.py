"""The pose loss shared by teacher, baseline and student: bin cross-entropy plus the in-bin offset loss."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from auxiliary.angles import ViewpointCodec


class PoseLoss(nn.Module):
    """CE_azimuth + CE_elevation + CE_inplane + w * SmoothL1(5 tanh(r[gt bin]) / 2, 5 offset), w = ``offset_weight``.

    The offset regressor is read at the ground-truth bin; the smooth-L1 term is one mean over the B x 3 entries.
    Returns the total and its parts.
    """

    def __init__(self, codec: ViewpointCodec, offset_weight: float = 1.0):
        super().__init__()
        self.codec, self.offset_weight = codec, offset_weight

    def forward(self, outputs, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        bins, offsets = self.codec.encode(labels)
        ce = [F.cross_entropy(outputs[k].float(), bins[:, k]) for k in range(3)]
        predicted = torch.stack([torch.tanh(outputs[k + 3].float().gather(1, bins[:, k:k + 1]).squeeze(1)) / 2
                                 for k in range(3)], dim=1)
        offset_loss = F.smooth_l1_loss(5 * predicted, 5 * offsets.to(predicted.device))
        total = ce[0] + ce[1] + ce[2] + self.offset_weight * offset_loss
        return total, {"ce_azimuth": ce[0].detach(), "ce_elevation": ce[1].detach(),
                       "ce_inplane": ce[2].detach(), "offset": offset_loss.detach()}
