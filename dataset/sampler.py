"""A sampler that hands each item its epoch, so per-item augmentation seeds are (seed, epoch, index)."""
from __future__ import annotations

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    """Yields ``(index, epoch)``; shuffles with a generator seeded by (seed, epoch). Call :meth:`set_epoch`."""

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0):
        self.size, self.shuffle, self.seed, self.epoch = size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = range(self.size)
        return ((i, self.epoch) for i in order)

    def __len__(self):
        return self.size
