"""The viewpoint dataset: annotation table rows -> (image crop, [point cloud], label-space angles, index).

One class reads ObjectNet3D, Pascal3D+, the built-in synthetic set (all in the same table layout) and Pix3D
tables in the same layout (evaluation only). Items are dicts:

* ``image``: uint8 (3, input_dim, input_dim), the crop after the geometric augmentations;
* ``photometric``: float32 (9,), only when colour jitter or lighting is on: the sample's parameters for
  :func:`dataset.transforms.normalize_batch`, which turns a batch of crops into network inputs on the device
  (:func:`engine.loop.to_device` calls it);
* ``label``: float32 (3,), (azimuth, elevation, in-plane) in label space (see :mod:`auxiliary.angles`), after
  the augmentations' changes;
* ``index``: the item's position in this dataset (the contrastive memory bank's slot);
* ``class_index``: position of its category in ``dataset.class_names``;
* ``points``: float32 (3, point_num), only with ``shape='PointCloud'``;
* ``views``: uint8 (view_num, 3, S, S), only with ``shape='MultiView'`` (:mod:`dataset.multiview`); normalised
  on the device like the image.

Randomness comes from a generator seeded by (seed, epoch, index): :class:`dataset.sampler.EpochSampler` yields
``(index, epoch)`` pairs, so an epoch's augmentations are reproducible whatever the number of workers.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from auxiliary.angles import raw_to_label, wrap_inplane
from auxiliary.errors import InputError
from dataset.annotations import AnnotationError, AnnotationTable, shape_path
from dataset.classes import SHAPES, dataset_info
from dataset.multiview import (MultiViewError, mirror_views, read_spec, read_views, ring_step, turn_views,
                               views_path)
from dataset.pointcloud import POINT_NORMS, PointCloudError, prepare_points, read_ply_points
from dataset.transforms import Augmentation, ImageError, crop_view, load_view

RANDOM_RANGES = {0: (-8, 8), 1: (-17, 17), 2: (0, 71)}  # steps of 5 degrees


PREPARE_HINT = {
    "Synthetic": "`--dataset Synthetic` needs no download: leave out --data_dir (data/Synthetic is generated on "
                 "first use) or run `python -m dataset.synthetic --out DIR`",
    "ObjectNet3D": "download ObjectNet3D and run `python -m dataset.prepare_objectnet3d` (docs/data.md), or try "
                   "`--dataset Synthetic`, which needs no download",
    "Pascal3D": "download PASCAL3D+ and run `python -m dataset.prepare_pascal3d` (docs/data.md), or try "
                "`--dataset Synthetic`, which needs no download",
    "Pix3D": "download Pix3D and run `python -m dataset.prepare_pix3d` (docs/data.md)",
    "SyntheticMany": "`--dataset SyntheticMany` needs no download: data/SyntheticMany is generated on first use, "
                     "or run `python -m dataset.synthetic_many --out DIR`",
    "Custom": "write DIR/Custom.txt in the 19-column table layout and pass --data_dir DIR (docs/data.md: your own "
              "dataset)",
    "other": "see docs/data.md",
}


class EmptySplitError(InputError):
    """A split with no rows left after filtering."""


def root_meta(root) -> dict:
    """What a generator or renderer wrote beside the table (``generator.json``, ``render.json``): the novel
    categories and the rotationally symmetric ones, when it knows them."""
    meta = {}
    for name in ("render.json", "generator.json"):
        path = Path(root) / name
        if path.is_file():
            try:
                meta.update(json.loads(path.read_text()))
            except json.JSONDecodeError as error:
                raise InputError(f"{path} is not valid JSON: {error}") from None
    return meta


class ViewpointDataset(Dataset):
    def __init__(self, root, dataset: str = "ObjectNet3D", split: str = "train", shape: str | None = None,
                 shape_dir: str = "pointcloud", input_dim: int = 224, point_num: int = 2500,
                 augment: Augmentation | bool | None = None, random_frame: bool = False, random_range: int = 0,
                 novel: bool = False, keypoint: bool = False, shot: int | None = None, seed: int = 0,
                 classes=None, skip_bad: bool = False, novel_classes=None, eval_classes=None, eval_base: bool = False,
                 table: str | None = None, point_norm: str = "minmax", eval_novel: bool = False):
        self.root = Path(root)
        self.info = dataset_info(dataset)
        self.split = split
        if shape not in (None, *SHAPES):
            raise ValueError(f"shape must be None or one of {', '.join(SHAPES)}, not {shape!r}")
        if split == "train" and self.info.evaluation_only:
            raise ValueError(f"{dataset} is an evaluation-only dataset; train on Pascal3D and test on it")
        self.shape, self.shape_dir = shape, shape_dir
        self.input_dim, self.point_num, self.seed = input_dim, point_num, seed
        if point_norm not in POINT_NORMS:
            raise ValueError(f"point_norm must be one of {', '.join(POINT_NORMS)}, not {point_norm!r}")
        self.point_norm = point_norm
        if augment is None or augment is True:
            augment = Augmentation() if split == "train" else Augmentation.none()
        self.augment = augment or Augmentation.none()
        if random_range not in RANDOM_RANGES:
            raise ValueError(f"random_range must be one of {sorted(RANDOM_RANGES)}")
        self.random_frame, self.random_range = random_frame, random_range
        # a fixed turn of every cloud (and of its azimuth label) in any split: a probe of whether a teacher reads
        # its cloud's frame (scripts/shape_reliance.py); 0 in training and evaluation
        self.frame_turn = 0.0

        table_path = self.root / (table or self.info.table)
        if not self.root.is_dir() or not table_path.is_file():
            missing = f"dataset root {self.root}" if not self.root.is_dir() else f"annotation table {table_path}"
            raise FileNotFoundError(f"{missing} does not exist; {PREPARE_HINT.get(dataset, PREPARE_HINT['other'])}")
        self.skip_bad, self.bad_log = skip_bad, None
        self.table = AnnotationTable.read(table_path, skip_bad=skip_bad)
        self.problems = list(self.table.problems)
        meta = root_meta(self.root)
        self.bad_cats = tuple(self.info.bad_cats) + tuple(meta.get("symmetric", ()))
        if eval_novel and (eval_base or novel or novel_classes):
            raise InputError("--eval_novel trains on every class and scores the novel ones; it cannot be combined "
                             "with --novel, --novel_classes or --eval_base")
        novel = novel or eval_base  # scoring the base classes of a zero-shot split implies the split
        if ((novel or eval_novel) and not novel_classes and meta.get("novel")
                and self.info.name.startswith("Synthetic")):
            novel_classes = tuple(meta["novel"])  # the generator's own split (its sizes may differ from the default)
        novel_set = self._check_names(novel_classes, "--novel_classes") or self.info.novel
        if novel_classes and not novel and not eval_novel:
            novel = True  # naming the novel classes chooses the zero-shot split
        if (novel or eval_novel) and not novel_set:
            raise InputError(f"{dataset} has no novel classes: name them with --novel_classes (classes of "
                             f"{table_path}: {', '.join(self._table_classes())})")
        if split == "train":
            rows = self.table.select("train", classes=classes, exclude=novel_set if novel else (),
                                     keypoint=keypoint, shot=shot, seed=seed)
        else:
            if classes is None and eval_base:
                classes = tuple(c for c in self._table_classes() if c not in set(novel_set))
            if classes is None and eval_novel:  # the few-shot protocol: every class trained on, the novel ones scored
                classes = tuple(novel_set)
            if classes is None:
                classes = (self._check_names(eval_classes, "--eval_classes")
                           or (novel_classes if novel and novel_classes else self.info.evaluation_classes(novel)))
            rows = self.table.select("val", classes=classes)
        if len(rows) == 0:
            raise EmptySplitError(f"{table_path}: the {split} split is empty after filtering "
                                  f"(novel={novel}, shot={shot}, keypoint={keypoint}, classes={classes})")
        self.rows = rows
        self.clouds: dict[str, np.ndarray] = {}
        self.view_spec = None
        if shape == "PointCloud":
            self._load_clouds()
        elif shape == "MultiView":
            self._load_views()
        self._set_columns()
        if self.problems:
            self._warn(f"--skip_bad: left out {len(self.problems)} bad row(s) or file(s) of {self.root}:",
                       self.problems)

    def _table_classes(self) -> list:
        return sorted(set(self.table["cat"].tolist()))

    def _check_names(self, names, flag: str):
        """Class names given on the command line, each of which must occur in the table."""
        if not names:
            return ()
        known = self._table_classes()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise InputError(f"{flag}: {', '.join(unknown)} not in {self.table.path}; its classes are "
                             f"{', '.join(known)}")
        return tuple(names)

    def _set_columns(self):
        column = lambda name: self.table[name][self.rows]  # noqa: E731
        self.cats = column("cat")
        self.class_names = sorted(set(self.cats.tolist()))
        lookup = {c: i for i, c in enumerate(self.class_names)}
        self.class_index = np.array([lookup[c] for c in self.cats], dtype=np.int64)
        self.im_paths = column("im_path")
        self.lines = column("line")
        self.raw_angles = np.stack([np.mod(column("azimuth"), 360.0), column("elevation"),
                                    column("inplane_rotation")], axis=1)
        self.boxes = np.stack([column("left"), column("upper"), column("right"), column("lower")], axis=1)
        self.cad_index = column("cad_index")
        self.randomizable = ~np.isin(self.cats, list(self.bad_cats))
        self.cloud_keys = [str(self.shape_file(i)) for i in range(len(self.rows))] if self.clouds else []

    def _load_clouds(self):
        """Parse every point cloud the split uses once, as float32 (workers share them), and check their size."""
        def read(path):
            cloud = read_ply_points(path)
            if cloud.shape[0] < self.point_num:
                raise PointCloudError(f"point cloud {path} has {cloud.shape[0]} points, fewer than "
                                      f"--point_num {self.point_num}")
            return cloud
        self._load_shapes(shape_path, read, (PointCloudError, FileNotFoundError))

    def _load_views(self):
        """Decode every model's multi-view strip once, as uint8 (V, 3, S, S), checked against views.json."""
        self.view_spec = read_spec(self.root / self.shape_dir)
        self._load_shapes(views_path, lambda path: read_views(path, self.view_spec),
                          (MultiViewError, FileNotFoundError))

    def _load_shapes(self, locate, read, errors):
        """Read the shape file of every model the split uses into ``self.clouds`` (path -> array); with
        ``skip_bad``, leave out the rows whose file cannot be used."""
        keep = np.ones(len(self.rows), dtype=bool)
        paths = [locate(self.root, self.shape_dir, self.table["cat"][r], self.table["cad_index"][r])
                 for r in self.rows]
        failed = {}
        for path in sorted(set(paths)):
            try:
                self.clouds[str(path)] = read(path)
            except errors as error:
                if not self.skip_bad:
                    raise
                failed[str(path)] = str(error)
        if failed:
            for k, path in enumerate(paths):
                if str(path) in failed:
                    keep[k] = False
            self.problems += [f"{message} (used by {sum(str(p) == path for p in paths)} row(s))"
                              for path, message in failed.items()]
            self.rows = self.rows[keep]
            if len(self.rows) == 0:
                raise EmptySplitError(f"{self.table.path}: the {self.split} split is empty once the rows with "
                                      f"bad shape files are left out")

    @staticmethod
    def _warn(title: str, problems) -> None:
        print(title, file=sys.stderr)
        for line in problems[:10]:
            print(f"  {line}", file=sys.stderr)
        if len(problems) > 10:
            print(f"  ... and {len(problems) - 10} more (`python -m dataset.check` lists them all)", file=sys.stderr)

    def _skip(self, index: int, error: Exception):
        """With ``skip_bad``: log a sample that cannot be loaded and drop it from its batch."""
        message = f"skipped sample {index} (line {self.lines[index]} of {self.table.path.name}): {error}"
        print(f"warning: {message}", file=sys.stderr, flush=True)
        if self.bad_log is not None:
            with open(self.bad_log, "a") as f:
                f.write(message + "\n")
        return None

    def __len__(self):
        return len(self.rows)

    def labels(self) -> np.ndarray:
        """Label-space angles of every item without augmentation (with ``frame_turn``), (N, 3) float64."""
        raw = self.raw_angles.copy()
        raw[self.randomizable, 0] += self.frame_turn
        return np.stack(raw_to_label(*raw.T), axis=1)

    def shape_file(self, index: int) -> Path:
        locate = views_path if self.shape == "MultiView" else shape_path
        return locate(self.root, self.shape_dir, self.cats[index], self.cad_index[index])

    def __getitem__(self, item):
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        rng = np.random.default_rng([self.seed, epoch, index])
        azimuth, elevation, inplane = self.raw_angles[index]

        frame_rotation = float(self.frame_turn) if self.randomizable[index] else 0.0
        if self.random_frame and self.split == "train" and self.randomizable[index]:
            low, high = RANDOM_RANGES[self.random_range]
            frame_rotation += 5.0 * int(rng.integers(low, high + 1))
            if self.view_spec is not None:  # renders exist at the ring's azimuths only: the nearest of them
                step = ring_step(self.view_spec)
                frame_rotation = step * round(frame_rotation / step)
        azimuth += frame_rotation  # rotating the model frame by +d about z turns azimuth a into a + d

        path = f"{self.root}/{self.im_paths[index]}"
        try:
            image, scale = load_view(path, self.boxes[index], self.input_dim)
            tensor, flipped, rotation, photometric = crop_view(image, self.boxes[index] * scale, self.input_dim, rng,
                                                               self.augment, path)
        except (ImageError, FileNotFoundError) as error:
            if not self.skip_bad:
                raise type(error)(f"{error} (line {self.lines[index]} of {self.table.path})") from None
            return self._skip(index, error)
        if flipped:
            azimuth, inplane = -azimuth, -inplane
        inplane = wrap_inplane(inplane + rotation)
        label = np.array(raw_to_label(azimuth, elevation, inplane), dtype=np.float32)

        sample = {"image": tensor, "label": torch.from_numpy(label), "index": index,
                  "class_index": int(self.class_index[index])}
        if self.augment.color or self.augment.lighting:
            sample["photometric"] = torch.from_numpy(photometric)
        if self.shape == "PointCloud":
            cloud_path = self.cloud_keys[index]
            sample["points"] = torch.from_numpy(prepare_points(self.clouds[cloud_path], self.point_num, rng,
                                                               mirror=flipped, rotation_deg=frame_rotation,
                                                               path=cloud_path, norm=self.point_norm))
        elif self.shape == "MultiView":
            views, tour = self.clouds[self.cloud_keys[index]], int(self.view_spec["tour"])
            if frame_rotation:
                views = turn_views(views, frame_rotation, tour)
            if flipped:
                views = mirror_views(views, tour)
            sample["views"] = torch.from_numpy(np.ascontiguousarray(views))
        return sample


__all__ = ["ViewpointDataset", "EmptySplitError", "AnnotationError"]
