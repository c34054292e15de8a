"""A sampler that hands each item its epoch, so per-item augmentation seeds are (seed, epoch, index)."""
from __future__ import annotations

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    """Yields ``(index, epoch)``; shuffles with a generator seeded by (seed, epoch). Call :meth:`set_epoch`.

    ``set_epoch(epoch, skip=n)`` starts that epoch's order at its ``n``-th item: a run resumed mid-epoch sees
    exactly the batches it had not trained on yet.
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0):
        self.size, self.shuffle, self.seed, self.epoch, self.skip = size, shuffle, seed, 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, min(skip, self.size)

    def order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            return torch.randperm(self.size, generator=generator).tolist()
        return list(range(self.size))

    def __iter__(self):
        return ((i, self.epoch) for i in self.order()[self.skip:])

    def __len__(self):
        return self.size - self.skip
