"""A sampler that hands each item its epoch, so per-item augmentation seeds are (seed, epoch, index).

Under torchrun each process (rank) gets its share of the same epoch order. For training (``shuffle``) the
order is cut into global batches of ``batch_size x world`` items and rank ``r`` takes the ``r``-th block of
``batch_size`` of each, so the union of the ranks' batches at every step is exactly the batch a single process
with the global batch size would see (the last incomplete global batch is dropped, as ``drop_last`` does in a
single process). For evaluation rank ``r`` takes items ``r, r + world, ...``: every item exactly once, no
padding.
"""
from __future__ import annotations

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    """Yields ``(index, epoch)``; shuffles with a generator seeded by (seed, epoch). Call :meth:`set_epoch`.

    ``set_epoch(epoch, skip=n)`` starts this rank's share of that epoch at its ``n``-th item: a run resumed
    mid-epoch sees exactly the batches it had not trained on yet.
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0, rank: int = 0, world: int = 1,
                 batch_size: int = 1):
        self.size, self.shuffle, self.seed, self.epoch, self.skip = size, shuffle, seed, 0, 0
        self.rank, self.world, self.batch_size = rank, world, batch_size

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def order(self) -> list[int]:
        """This rank's items of the current epoch, in order."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        if self.world == 1:
            return order
        if not self.shuffle:
            return order[self.rank::self.world]
        step, mine = self.batch_size * self.world, []
        for start in range(0, self.size - step + 1, step):
            first = start + self.rank * self.batch_size
            mine += order[first:first + self.batch_size]
        return mine

    def __iter__(self):
        return ((i, self.epoch) for i in self.order()[self.skip:])

    def __len__(self):
        if self.world == 1:
            full = self.size
        elif self.shuffle:
            full = (self.size // (self.batch_size * self.world)) * self.batch_size
        else:
            full = len(range(self.rank, self.size, self.world))
        return max(0, full - self.skip)
