"""A loader written the way the public reference code writes it, as the baseline of the loader benchmark.

Per sample: a pandas ``DataFrame.iloc`` row lookup, a PIL decode, the box crop with jitter, flip and in-plane
rotation on the PIL image, a resize-pad, torchvision's PIL transforms (``ColorJitter``, ``ToTensor``,
``Normalize``) and the PCA lighting noise, and a fresh ``plyfile`` parse of the object's point cloud followed
by ``np.random.choice`` sampling and the scalar min-max normalisation. Same data, same augmentations and same
output shapes as :class:`dataset.viewpoint.ViewpointDataset`, so only the way it is written differs. It is
used by ``benchmarks/throughput.py`` and nowhere else.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFilter
from plyfile import PlyData
from torch.utils.data import Dataset
from torchvision import transforms

from dataset.classes import dataset_info
from dataset.transforms import IMAGENET_MEAN, IMAGENET_STD, LIGHTING_EIGVAL, LIGHTING_EIGVEC, resize_pad


class Lighting:
    def __init__(self, std: float = 0.1):
        self.std = std

    def __call__(self, tensor):
        alpha = torch.from_numpy(np.random.normal(0.0, self.std, 3).astype(np.float32))
        return tensor + (LIGHTING_EIGVEC @ (alpha * LIGHTING_EIGVAL))[:, None, None]


class ReferenceStyleDataset(Dataset):
    def __init__(self, root, dataset: str = "Synthetic", input_dim: int = 224, point_num: int = 2500,
                 shape_dir: str = "pointcloud"):
        self.root, self.input_dim, self.point_num, self.shape_dir = str(root), input_dim, point_num, shape_dir
        frame = pd.read_csv(os.path.join(self.root, dataset_info(dataset).table))
        frame = frame[(frame.set == "train") & (frame.elevation != 90) & (frame.difficult == 0)]
        self.df = frame.reset_index(drop=True)
        self.transform = transforms.Compose([
            transforms.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            Lighting(0.1),
        ])

    def __len__(self):
        return len(self.df)

    def read_pointcloud(self, path):
        ply = PlyData.read(path)
        vertex = ply["vertex"]
        points = np.zeros((vertex.count, 3))
        points[:, 0], points[:, 1], points[:, 2] = vertex["x"], vertex["y"], vertex["z"]
        points = points[np.random.choice(points.shape[0], self.point_num, replace=False)]
        points = points - points.min()
        points = points / points.max()
        return torch.from_numpy(points.T.astype(np.float32))

    def __getitem__(self, idx):
        row = self.df.iloc[idx]
        image = Image.open(os.path.join(self.root, row.im_path)).convert("RGB")
        left, upper, right, lower = int(row.left), int(row.upper), int(row.right), int(row.lower)
        w, h = right - left, lower - upper
        box = (max(0, left + int(np.random.uniform(-0.1, 0.1) * w)), max(0, upper + int(np.random.uniform(-0.1, 0.1) * h)),
               min(image.size[0], left + int(np.random.uniform(0.9, 1.1) * w)),
               min(image.size[1], upper + int(np.random.uniform(0.9, 1.1) * h)))
        image = image.crop(box)
        if min(image.size) > self.input_dim and np.random.rand() < 0.3:
            image = image.filter(ImageFilter.GaussianBlur(3))
        azimuth, elevation, inplane = row.azimuth, row.elevation, row.inplane_rotation
        if np.random.rand() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
            azimuth, inplane = 360 - azimuth, -inplane
        if np.random.rand() < 0.5:
            rotation = float(np.clip(np.random.normal(0, 30), -60, 60))
            image = image.rotate(rotation, resample=Image.BILINEAR)
            inplane = inplane + rotation
        image = self.transform(resize_pad(image, self.input_dim))
        cloud = self.read_pointcloud(os.path.join(self.root, self.shape_dir, row["cat"], f"{int(row.cad_index):02d}",
                                                  "compressed.ply"))
        label = torch.tensor([azimuth, elevation, inplane], dtype=torch.float32)
        return {"image": image, "points": cloud, "label": label, "index": idx}
