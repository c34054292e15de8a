"""Point clouds: PLY reading (plyfile, binary or ASCII), sampling and the teacher's frame.

A cloud is stored in the CAD frame (z up) as ``pointcloud/<cat>/<NN>/compressed.ply`` with 5000 points. Each
access draws ``point_num`` of them, optionally rotates about +z (canonical-frame randomisation) and mirrors
(x -> -x, for a horizontally flipped image), then normalises (``--point_norm``): ``minmax``, with scalars as the
reference does (subtract the minimum over all coordinates, divide by the maximum of the result: the cloud lands
in [0, 1], aspect kept, but off-centre by an amount that depends on its shape and rotation), or ``sphere``
(subtract the centre of the bounding box, divide by the largest distance from it: the cloud fills the unit
ball, centred at the origin).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from plyfile import PlyData

from auxiliary.errors import InputError


POINT_NORMS = ("minmax", "sphere")


class PointCloudError(InputError):
    """A point-cloud file that cannot be used, with its path."""


def read_ply_points(path) -> np.ndarray:
    """Vertex coordinates of a PLY file as a float32 (N, 3) array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"point cloud {path} does not exist")
    try:
        ply = PlyData.read(str(path))
        vertex = ply["vertex"]
        points = np.stack([np.asarray(vertex[axis], dtype=np.float64) for axis in ("x", "y", "z")], axis=1)
    except Exception as error:  # plyfile raises several types for malformed files
        raise PointCloudError(f"point cloud {path} is not a readable PLY file with x/y/z vertices: {error}") from None
    if points.shape[0] == 0 or not np.isfinite(points).all():
        raise PointCloudError(f"point cloud {path} has no points or non-finite coordinates")
    return points.astype(np.float32)


def write_ply_points(path, points: np.ndarray, binary: bool = True) -> None:
    """Write (N, 3) points as PLY with double x/y/z and an empty face element (the layout of the shipped clouds)."""
    from plyfile import PlyElement

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vertex = np.empty(len(points), dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8")])
    vertex["x"], vertex["y"], vertex["z"] = (np.asarray(points, np.float64)[:, k] for k in range(3))
    face = np.empty(0, dtype=[("vertex_indices", "i4", (3,))])
    elements = [PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")]
    tmp = path.with_name(path.name + ".tmp")
    PlyData(elements, text=not binary, byte_order="<").write(str(tmp))
    tmp.replace(path)


def rotate_z(points: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (N, 3) points counter-clockwise about +z."""
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=points.dtype)
    return points @ rotation.T


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Mirror (N, 3) points through the x = 0 plane: the shape seen in a horizontally flipped image."""
    return points * np.array([-1.0, 1.0, 1.0], dtype=points.dtype)


def normalize_points(points: np.ndarray, norm: str = "minmax") -> np.ndarray:
    """Normalise (N, 3) points: ``minmax`` (the reference's scalar (p - min) / max(p - min) over all coordinates)
    or ``sphere`` (centred on the bounding box, scaled into the unit ball)."""
    if norm == "minmax":
        shifted = points - points.min()
        return shifted / max(float(shifted.max()), 1e-12)
    if norm == "sphere":
        centred = points - (points.min(axis=0) + points.max(axis=0)) / 2
        return centred / max(float(np.linalg.norm(centred, axis=1).max()), 1e-12)
    raise ValueError(f"unknown point normalisation {norm!r}; choose from {', '.join(POINT_NORMS)}")


def prepare_points(cloud: np.ndarray, point_num: int, rng: np.random.Generator, mirror: bool = False,
                   rotation_deg: float = 0.0, path=None, norm: str = "minmax") -> np.ndarray:
    """Sample, transform and normalise a cached cloud -> float32 (3, point_num), the teacher's input."""
    if cloud.shape[0] < point_num:
        raise PointCloudError(f"point cloud {path or ''} has {cloud.shape[0]} points, fewer than --point_num {point_num}")
    points = cloud[rng.choice(cloud.shape[0], size=point_num, replace=False)].T  # (3, k), a fresh array
    # The frame is randomised first (label azimuth a -> a + rotation) and the image flipped second
    # (a -> -a, theta -> -theta), so the cloud is rotated first and mirrored second.
    if rotation_deg:
        points = rotate_z(points.T, rotation_deg).T
    if mirror:
        points[0] *= -1.0
    return np.ascontiguousarray(normalize_points(points.T, norm).T, dtype=np.float32)
