"""Datasets and DataLoaders built from the scripts' flags."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from dataset.sampler import EpochSampler
from dataset.synthetic import ensure_synthetic
from dataset.transforms import Augmentation
from dataset.viewpoint import ViewpointDataset


def data_root(args) -> Path:
    """``--data_dir`` or data/<dataset>; the synthetic set is generated there on first use."""
    root = Path(args.data_dir) if args.data_dir else Path("data") / args.dataset
    if args.dataset == "Synthetic":
        ensure_synthetic(root)
    return root


def make_dataset(args, split: str, shape=None, classes=None) -> ViewpointDataset:
    return ViewpointDataset(
        data_root(args), args.dataset, split, shape=shape, shape_dir=args.shape_dir, input_dim=args.input_dim,
        point_num=args.point_num,
        augment=Augmentation.preset(getattr(args, "augment", "reference")) if split == "train" else None,
        random_frame=getattr(args, "random", False) and split == "train",
        random_range=getattr(args, "random_range", 0), novel=args.novel, keypoint=args.keypoint,
        shot=getattr(args, "shot", None) if split == "train" else None, seed=args.seed, classes=classes)


def make_loader(dataset, batch_size: int, workers: int, train: bool, device: torch.device, seed: int = 0) -> DataLoader:
    """Training loaders shuffle through :class:`EpochSampler` and drop the last partial batch; evaluation
    loaders keep every sample in order."""
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      drop_last=train and len(dataset) >= batch_size, pin_memory=device.type == "cuda",
                      persistent_workers=workers > 0)
