"""The viewpoint dataset: annotation table rows -> (image crop, [point cloud], label-space angles, index).

One class reads ObjectNet3D, Pascal3D+, the built-in synthetic set (all in the same table layout) and Pix3D
tables in the same layout (evaluation only). Items are dicts:

* ``image``: float32 (3, input_dim, input_dim), ImageNet-normalised;
* ``label``: float32 (3,), (azimuth, elevation, in-plane) in label space (see :mod:`auxiliary.angles`), after
  the augmentations' changes;
* ``index``: the item's position in this dataset (the contrastive memory bank's slot);
* ``class_index``: position of its category in ``dataset.class_names``;
* ``points``: float32 (3, point_num), only with ``shape='PointCloud'``.

Randomness comes from a generator seeded by (seed, epoch, index): :class:`dataset.sampler.EpochSampler` yields
``(index, epoch)`` pairs, so an epoch's augmentations are reproducible whatever the number of workers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from auxiliary.angles import raw_to_label, wrap_inplane
from dataset.annotations import AnnotationError, AnnotationTable, shape_path
from dataset.classes import dataset_info
from dataset.pointcloud import PointCloudCache, prepare_points
from dataset.transforms import Augmentation, crop_view, load_image

RANDOM_RANGES = {0: (-8, 8), 1: (-17, 17), 2: (0, 71)}  # steps of 5 degrees


class EmptySplitError(ValueError):
    """A split with no rows left after filtering."""


class ViewpointDataset(Dataset):
    def __init__(self, root, dataset: str = "ObjectNet3D", split: str = "train", shape: str | None = None,
                 shape_dir: str = "pointcloud", input_dim: int = 224, point_num: int = 2500,
                 augment: Augmentation | bool | None = None, random_frame: bool = False, random_range: int = 0,
                 novel: bool = False, keypoint: bool = False, shot: int | None = None, seed: int = 0,
                 classes=None):
        self.root = Path(root)
        self.info = dataset_info(dataset)
        self.split = split
        if shape not in (None, "PointCloud"):
            raise ValueError(f"shape must be None or 'PointCloud', not {shape!r}")
        if split == "train" and self.info.evaluation_only:
            raise ValueError(f"{dataset} is an evaluation-only dataset; train on Pascal3D and test on it")
        self.shape, self.shape_dir = shape, shape_dir
        self.input_dim, self.point_num, self.seed = input_dim, point_num, seed
        if augment is None or augment is True:
            augment = Augmentation() if split == "train" else Augmentation.none()
        self.augment = augment or Augmentation.none()
        if random_range not in RANDOM_RANGES:
            raise ValueError(f"random_range must be one of {sorted(RANDOM_RANGES)}")
        self.random_frame, self.random_range = random_frame, random_range

        table_path = self.root / self.info.table
        if not self.root.is_dir():
            hint = " (`--dataset Synthetic` needs no download: it is generated on first use)" if dataset != "Synthetic" else ""
            raise FileNotFoundError(f"dataset root {self.root} does not exist; see the README's data section{hint}")
        self.table = AnnotationTable.read(table_path)
        if split == "train":
            rows = self.table.select("train", classes=classes, exclude=self.info.novel if novel else (),
                                     keypoint=keypoint, shot=shot, seed=seed)
        else:
            classes = classes if classes is not None else self.info.evaluation_classes(novel)
            rows = self.table.select("val", classes=classes)
        if len(rows) == 0:
            raise EmptySplitError(f"{table_path}: the {split} split is empty after filtering "
                                  f"(novel={novel}, shot={shot}, keypoint={keypoint}, classes={classes})")
        self.rows = rows
        column = lambda name: self.table[name][rows]  # noqa: E731
        self.cats = column("cat")
        self.class_names = sorted(set(self.cats.tolist()))
        lookup = {c: i for i, c in enumerate(self.class_names)}
        self.class_index = np.array([lookup[c] for c in self.cats], dtype=np.int64)
        self.im_paths = column("im_path")
        self.raw_angles = np.stack([np.mod(column("azimuth"), 360.0), column("elevation"),
                                    column("inplane_rotation")], axis=1)
        self.boxes = np.stack([column("left"), column("upper"), column("right"), column("lower")], axis=1)
        self.cad_index = column("cad_index")
        self.randomizable = ~np.isin(self.cats, list(self.info.bad_cats))
        self._clouds = PointCloudCache()

    def __len__(self):
        return len(self.rows)

    def labels(self) -> np.ndarray:
        """Label-space angles of every item without augmentation, (N, 3) float64."""
        return np.stack(raw_to_label(*self.raw_angles.T), axis=1)

    def shape_file(self, index: int) -> Path:
        return shape_path(self.root, self.shape_dir, self.cats[index], self.cad_index[index])

    def __getitem__(self, item):
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        rng = np.random.default_rng([self.seed, epoch, index])
        azimuth, elevation, inplane = self.raw_angles[index]

        frame_rotation = 0.0
        if self.random_frame and self.split == "train" and self.randomizable[index]:
            low, high = RANDOM_RANGES[self.random_range]
            frame_rotation = 5.0 * int(rng.integers(low, high + 1))
            azimuth += frame_rotation  # rotating the model frame by +d about z turns azimuth a into a + d

        path = self.root / self.im_paths[index]
        image = load_image(path)
        tensor, flipped, rotation = crop_view(image, self.boxes[index], self.input_dim, rng, self.augment, path)
        if flipped:
            azimuth, inplane = -azimuth, -inplane
        inplane = wrap_inplane(inplane + rotation)
        label = np.array(raw_to_label(azimuth, elevation, inplane), dtype=np.float32)

        sample = {"image": tensor, "label": torch.from_numpy(label), "index": index,
                  "class_index": int(self.class_index[index])}
        if self.shape == "PointCloud":
            cloud_path = self.shape_file(index)
            cloud = self._clouds.get(cloud_path)
            sample["points"] = torch.from_numpy(prepare_points(cloud, self.point_num, rng, mirror=flipped,
                                                               rotation_deg=frame_rotation, path=cloud_path))
        return sample


__all__ = ["ViewpointDataset", "EmptySplitError", "AnnotationError"]
