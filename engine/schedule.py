"""The optimiser, and the learning-rate schedules, stepped once per training batch so that warm-up is smooth
within an epoch.

* ``step`` (the reference): the learning rate is multiplied by 0.1 from epoch ``decrease`` on (epochs count
  from 0, so ``--decrease 200`` trains epochs 0-199 at ``--lr`` and epoch 200 onwards at a tenth of it);
* ``cosine``: cosine decay from ``--lr`` to 0 over the run.

Either can start with ``warmup`` epochs of linear warm-up from ``lr / warmup_steps``. The factor is a pure
function of the global step, so a resumed run continues the same curve (also after ``--n_epoch`` was raised,
where the cosine stretches to the new end).
"""
from __future__ import annotations

import math

import torch

SCHEDULES = ("step", "cosine")
OPTIMIZERS = ("adam", "adamw")


def make_optimizer(parameters, name: str = "adam", lr: float = 1e-4, weight_decay: float = 0.0,
                   decay_norm_bias: bool = True) -> torch.optim.Optimizer:
    """Adam with L2 weight decay added to the gradient (``adam``, the reference's) or with decoupled weight decay
    (``adamw``). With ``decay_norm_bias`` False the one-dimensional parameters (every bias and the weights of
    BatchNorm / LayerNorm) are not decayed, the usual practice for AdamW."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    parameters = [p for p in parameters if p.requires_grad]
    if decay_norm_bias:
        groups = [{"params": parameters, "weight_decay": weight_decay}]
    else:
        groups = [{"params": [p for p in parameters if p.ndim > 1], "weight_decay": weight_decay},
                  {"params": [p for p in parameters if p.ndim <= 1], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return optimizer(groups, lr=lr)


def lr_factor(step: int, steps_per_epoch: int, n_epoch: int, schedule: str = "step", decrease: int = 100,
              warmup: int = 0) -> float:
    """Multiplier of the base learning rate at global batch ``step`` (0-based)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    warmup_steps = warmup * steps_per_epoch
    factor = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    if schedule == "step":
        return factor * (0.1 if step >= decrease * steps_per_epoch else 1.0)
    total = max(1, n_epoch * steps_per_epoch - warmup_steps)
    progress = min(1.0, max(0, step - warmup_steps) / total)
    return factor * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer, steps_per_epoch: int, n_epoch: int, schedule: str = "step", decrease: int = 100,
                   warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, n_epoch, schedule, decrease, warmup))
