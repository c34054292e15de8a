"""Sample point clouds from CAD models: ``pointcloud/<cat>/<NN>/compressed.ply`` (5000 points, binary PLY).

    python -m dataset.prepare_pointclouds --root data/Pascal3D --cad CAD          # CAD/<cat>/NN.obj
    python -m dataset.prepare_pointclouds --root data/ObjectNet3D --cad CAD/off   # CAD/off/<cat>/NN.off

Replaces the reference's Windows-only virtual scanner with uniform area-weighted surface sampling (trimesh,
an optional dependency: ``pip install -r requirements-prep.txt``). Points stay in the CAD frame; the loader
normalises them. Sampling is seeded per model, so reruns write identical files.
"""
from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dataset.pointcloud import write_ply_points


def sample_model(path, count: int = 5000, seed: int = 0) -> np.ndarray:
    try:
        import trimesh
    except ImportError:
        raise SystemExit("trimesh is needed to sample CAD models: pip install -r requirements-prep.txt") from None
    try:
        mesh = trimesh.load(str(path), force="mesh")
    except Exception as error:
        raise ValueError(f"CAD model {path} cannot be read: {error}") from None
    if len(mesh.faces) == 0:
        raise ValueError(f"CAD model {path} has no faces")
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, dtype=np.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="dataset root")
    parser.add_argument("--cad", default="CAD", help="folder of <cat>/<NN>.{obj,off}, relative to the root")
    parser.add_argument("--shape_dir", default="pointcloud")
    parser.add_argument("--points", type=int, default=5000)
    args = parser.parse_args(argv)
    root = Path(args.root)
    models = sorted(p for ext in ("obj", "off") for p in (root / args.cad).glob(f"*/*.{ext}") if p.stem.isdigit())
    if not models:
        raise SystemExit(f"no CAD models <cat>/<NN>.obj|off under {root / args.cad}")
    for path in tqdm(models, desc="sampling CAD models"):
        seed = zlib.crc32(f"{path.parent.name}/{path.stem}".encode())
        points = sample_model(path, args.points, seed)
        write_ply_points(root / args.shape_dir / path.parent.name / f"{int(path.stem):02d}" / "compressed.ply", points)
    print(f"wrote {len(models)} point clouds under {root / args.shape_dir}")


if __name__ == "__main__":
    main()
