"""Datasets and DataLoaders built from the scripts' flags."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

from auxiliary.errors import InputError
from engine import distributed
from dataset.sampler import EpochSampler
from dataset.classes import SHAPE_DIRS
from dataset.multiview import read_spec
from dataset.synthetic import ensure_synthetic, ensure_synthetic_views
from dataset.synthetic_many import ensure_many
from dataset.transforms import Augmentation
from dataset.viewpoint import ViewpointDataset


def data_root(args, shape=None) -> Path:
    """``--data_dir`` or data/<dataset>; the synthetic sets are generated there on first use."""
    root = Path(args.data_dir) if args.data_dir else Path("data") / args.dataset
    if args.dataset == "Synthetic":
        ensure_synthetic(root)
        if shape == "MultiView":
            ensure_synthetic_views(root)
    elif args.dataset == "SyntheticMany":
        ensure_many(root)
    return root


def shape_dir(args, shape) -> str:
    """``--shape_dir``, or the representation's own folder (pointcloud, multiview)."""
    return getattr(args, "shape_dir", None) or SHAPE_DIRS.get(shape, "pointcloud")


def make_dataset(args, split: str, shape=None, classes=None) -> ViewpointDataset:
    return ViewpointDataset(
        data_root(args, shape), args.dataset, split, shape=shape, shape_dir=shape_dir(args, shape),
        input_dim=args.input_dim, point_num=args.point_num, point_norm=getattr(args, "point_norm", None) or "minmax",
        augment=Augmentation.preset(getattr(args, "augment", "reference")) if split == "train" else None,
        random_frame=getattr(args, "random", False) and split == "train",
        random_range=getattr(args, "random_range", 0), novel=args.novel, keypoint=args.keypoint,
        shot=getattr(args, "shot", None) if split == "train" else None, seed=args.seed, classes=classes,
        novel_classes=getattr(args, "novel_classes", None), eval_classes=getattr(args, "eval_classes", None),
        eval_base=getattr(args, "eval_base", False),
        eval_novel=getattr(args, "eval_novel", False),
        table=getattr(args, "table", None),
        skip_bad=getattr(args, "skip_bad", False))


def resolve_view_tour(args) -> None:
    """``--view_tour 0`` (the default) of a multi-view network about to be built: the data's number of rings."""
    if args.shape == "MultiView" and not args.view_tour:
        args.view_tour = int(read_spec(data_root(args, args.shape) / shape_dir(args, args.shape))["tour"])


def check_views(model_args: dict, dataset: ViewpointDataset) -> None:
    """A multi-view network reads the ring its data was rendered on: as many views, on as many elevation rings
    (the ring's order carries the model's frame, and the correlation fusion spreads each ring over the azimuth
    bins); otherwise one error naming the data's views.json."""
    if dataset.view_spec is None or model_args.get("shape") != "MultiView":
        return
    spec = dataset.view_spec
    data = (int(spec["view_num"]), int(spec["tour"]))
    network = (int(model_args["view_num"]), int(model_args.get("view_tour", data[1])))
    if data != network:
        raise InputError(f"{dataset.root / dataset.shape_dir / 'views.json'}: {data[0]} views on {data[1]} ring(s), "
                         f"but the network reads {network[0]} views on {network[1]} ring(s) "
                         f"(--view_num, --view_tour)")


def collate_skipping(items):
    """Stack a batch, leaving out the samples ``--skip_bad`` dropped (None); None when none is left."""
    items = [item for item in items if item is not None]
    return default_collate(items) if items else None


def _exit_quietly(signum, frame):
    os._exit(0)


def worker_init(worker_id: int) -> None:
    """Workers leave Ctrl-C to the main process (which saves a checkpoint and shuts them down), exit quietly on
    SIGTERM (status 0, which the main process does not treat as a crash: it may be saving a checkpoint for the
    same signal) and get their own seeds for any library randomness (the augmentations use per-item
    generators, not these)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_quietly)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


def make_loader(dataset, batch_size: int, workers: int, train: bool, device: torch.device, seed: int = 0) -> DataLoader:
    """Training loaders shuffle through :class:`EpochSampler` and drop the last partial batch; evaluation
    loaders keep every sample in order. Under torchrun each process loads its share (see the sampler)."""
    ctx = distributed.context()
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=ctx.rank, world=ctx.world,
                           batch_size=batch_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      drop_last=train and len(dataset) >= batch_size, pin_memory=device.type == "cuda",
                      persistent_workers=workers > 0, collate_fn=collate_skipping,
                      worker_init_fn=worker_init if workers > 0 else None,
                      # the loader's own generator: creating an iterator must not draw from the global RNG,
                      # or a run resumed mid-epoch would continue with a shifted random stream
                      generator=torch.Generator().manual_seed(seed))
