"""The built-in synthetic dataset: procedural shapes rendered at known viewpoints, in the ObjectNet3D layout.

    python -m dataset.synthetic --out data/Synthetic

writes ``Synthetic.txt`` (the 19-column annotation table), ``Images/<name>.JPEG``, ``Image_sets/{train,val}.txt``,
``pointcloud/<cat>/<NN>/compressed.ply`` (5000 points sampled on each CAD model's surface, binary PLY with
double x/y/z, as in the real datasets) and ``multiview/<cat>/<NN>/views.png`` (:mod:`dataset.multiview`), so
the same loader reads it. Each category has several instances
(random proportions, and a colour per part like a textured CAD model); each image shows one instance with
its colours jittered, stripe textures, random light, background and distractors, at azimuth ~ U[0, 360), elevation mostly in [-10, 60] and a small in-plane rotation. The
output is a pure function of the seed and the sizes; it is written to ``<out>.partial`` and renamed when
complete, so an interrupted generation never leaves a half dataset behind.
"""
from __future__ import annotations

import argparse
import colorsys
import json
import os
import shutil
import time
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from dataset.annotations import write_table
from dataset.classes import SYNTHETIC_CLASSES, SYNTHETIC_NOVEL
from dataset.multiview import VIEW_DEFAULTS, make_spec, render_views, views_path, write_spec, write_views
from dataset.pointcloud import write_ply_points
from dataset.render import render
from dataset.shapes import build_shape

GENERATOR_VERSION = 2  # bumped whenever the same seed and sizes would give different data
DEFAULTS = dict(seed=0, instances=5, train_per_class=800, val_per_class=40, image_size=96, points=5000)


@lru_cache(maxsize=None)
def _mesh(seed: int, category: str, instance: int):
    return build_shape(category, np.random.default_rng([seed, SYNTHETIC_CLASSES.index(category), instance, 7]))


def _random_color(rng, saturation=(0.3, 0.9), value=(0.35, 0.95)):
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value)))


def _instance_palette(seed: int, category: str, instance: int) -> np.ndarray:
    """The instance's own colour per part slot (3, 3), as a textured CAD model has."""
    rng = np.random.default_rng([seed, SYNTHETIC_CLASSES.index(category), instance, 13])
    return np.stack([_random_color(rng) for _ in range(3)])


def _background(rng, size) -> Image.Image:
    c0, c1 = _random_color(rng, (0, 0.5), (0.2, 1)), _random_color(rng, (0, 0.5), (0.2, 1))
    t = np.linspace(0, 1, size)[:, None, None]
    grad = c0 * (1 - t) + c1 * t
    if rng.random() < 0.5:
        grad = grad.transpose(1, 0, 2)
    grad = np.broadcast_to(grad, (size, size, 3)) + rng.normal(0, 0.03, (size, size, 3))
    image = Image.fromarray((np.clip(grad, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 5))):  # small distractors
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(3, size / 8)
        fill = tuple(int(v) for v in _random_color(rng) * 255)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x - r, y - r * rng.uniform(0.3, 1), x + r, y + r], fill=fill)
    return image


VIEWPOINTS = dict(elevation=(-10.0, 60.0), elevation_fraction=0.85, wide_elevation=(-30.0, 80.0), inplane_std=6.0,
                  inplane_max=20.0)


def _sample_viewpoint(rng, viewpoints=None):
    """Azimuth ~ U[-180, 180); elevation ~ U(``elevation``) for an ``elevation_fraction`` of the views, else
    U(``wide_elevation``); in-plane ~ N(0, ``inplane_std``) clipped to +-``inplane_max``."""
    v = VIEWPOINTS if viewpoints is None else {**VIEWPOINTS, **viewpoints}
    azimuth = rng.uniform(-180, 180)  # stored like ObjectNet3D: negative values occur
    elevation = (rng.uniform(*v["elevation"]) if rng.random() < v["elevation_fraction"]
                 else rng.uniform(*v["wide_elevation"]))
    inplane = float(np.clip(rng.normal(0, v["inplane_std"]), -v["inplane_max"], v["inplane_max"]))
    return azimuth, elevation, inplane


def compose(rng, mesh, palette, size, principal=None, background=None, viewpoints=None):
    """Render ``mesh`` at a random viewpoint, light and colour jitter over a background -> (uint8 (S, S, 3) image,
    mask (S, S), viewpoint dict with the raw angles and the distance). ``principal`` None jitters the principal
    point (the built-in set); ``background`` None draws a gradient with distractors; ``palette`` None keeps the
    mesh's own vertex colours."""
    azimuth, elevation, inplane = _sample_viewpoint(rng, viewpoints)
    distance, focal = rng.uniform(2.4, 3.4), 1.8 * size
    if principal is None:
        principal = size / 2 + rng.uniform(-0.08, 0.08, 2) * size
    colors = np.zeros((3, 3)) if palette is None else np.clip(
        palette * rng.uniform(0.8, 1.2, (3, 1)) + rng.normal(0, 0.04, (3, 3)), 0, 1)
    light = [rng.uniform(-0.7, 0.7), rng.uniform(0.1, 1.0), rng.uniform(0.4, 1.0)]
    freq = rng.normal(0, 25, 3) if rng.random() < 0.5 else None
    rgb, mask = render(mesh, colors, azimuth, elevation, inplane, distance, focal, principal, size, size,
                       light, ambient=rng.uniform(0.25, 0.45), texture_freq=freq)
    image = np.asarray(_background(rng, size) if background is None else background, dtype=np.float64) / 255
    image[mask] = rgb[mask]
    image = np.clip(image + rng.normal(0, 0.01, image.shape), 0, 1)
    view = {"azimuth": float(azimuth), "elevation": float(elevation), "inplane_rotation": float(inplane),
            "distance": float(distance)}
    return (image * 255).round().astype(np.uint8), mask, view


def annotation_row(name: str, split: str, category: str, cad_index: int, mask, view: dict, source="synthetic"):
    """The 19-column row of a rendered image: the box is the silhouette's."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    truncated = int(rows.min() == 0 or cols.min() == 0 or rows.max() == height - 1 or cols.max() == width - 1)
    return {"source": source, "set": split, "cat": category, "im_name": name, "object": 0,
            "cad_index": cad_index, "truncated": truncated, "occluded": 0, "difficult": 0, **view,
            "left": int(cols.min()), "upper": int(rows.min()), "right": int(cols.max()) + 1,
            "lower": int(rows.max()) + 1, "has_keypoints": 1, "im_path": f"Images/{name}.JPEG"}


def render_sample(job):
    """One image -> (file name, JPEG bytes written to disk, annotation row)."""
    out, seed, category, split, k, instances, size = job
    rng = np.random.default_rng([seed, SYNTHETIC_CLASSES.index(category), 0 if split == "train" else 1, k])
    instance = int(rng.integers(instances))
    mesh = _mesh(seed, category, instance)
    image, mask, view = compose(rng, mesh, _instance_palette(seed, category, instance), size)
    name = f"{category}_{split}_{k:05d}"
    Image.fromarray(image).save(Path(out) / "Images" / f"{name}.JPEG", quality=92)
    return annotation_row(name, split, category, instance + 1, mask, view)


def generate(out, seed=DEFAULTS["seed"], instances=DEFAULTS["instances"],
             train_per_class=DEFAULTS["train_per_class"], val_per_class=DEFAULTS["val_per_class"],
             image_size=DEFAULTS["image_size"], points=DEFAULTS["points"], classes=SYNTHETIC_CLASSES,
             workers: int | None = None, progress: bool = True) -> Path:
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "Images").mkdir(parents=True)
    (partial / "Image_sets").mkdir()
    start = time.time()
    for category in classes:
        for instance in range(instances):
            mesh = _mesh(seed, category, instance)
            cloud = mesh.sample_surface(points, np.random.default_rng([seed, SYNTHETIC_CLASSES.index(category), instance, 11]))
            write_ply_points(partial / "pointcloud" / category / f"{instance + 1:02d}" / "compressed.ply", cloud)
    write_multiview(partial, seed, instances, classes)
    jobs = [(str(partial), seed, c, split, k, instances, image_size)
            for c in classes for split, n in (("train", train_per_class), ("val", val_per_class)) for k in range(n)]
    workers = workers or os.cpu_count() or 1
    if workers > 1:
        with get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
            rows = list(tqdm(pool.imap(render_sample, jobs, chunksize=16), total=len(jobs), disable=not progress,
                             desc="rendering synthetic dataset"))
    else:
        rows = [render_sample(j) for j in tqdm(jobs, disable=not progress, desc="rendering synthetic dataset")]
    write_table(partial / "Synthetic.txt", rows)
    for split in ("train", "val"):
        names = sorted({r["im_name"] for r in rows if r["set"] == split})
        (partial / "Image_sets" / f"{split}.txt").write_text("\n".join(names) + "\n")
    meta = dict(version=GENERATOR_VERSION, seed=seed, instances=instances, train_per_class=train_per_class, val_per_class=val_per_class,
                image_size=image_size, points=points, classes=list(classes), novel=list(SYNTHETIC_NOVEL))
    (partial / "generator.json").write_text(json.dumps(meta, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    if progress:
        print(f"wrote {len(rows)} images of {len(classes)} classes to {out} in {time.time() - start:.0f} s")
    return out


def write_multiview(root, seed: int, instances: int, classes=SYNTHETIC_CLASSES, spec: dict | None = None) -> None:
    """Every instance's multi-view renders, ``<root>/multiview`` (:mod:`dataset.multiview`), in its own colours."""
    spec = spec or make_spec(**VIEW_DEFAULTS)
    for category in classes:
        for instance in range(instances):
            views = render_views(_mesh(seed, category, instance), _instance_palette(seed, category, instance), spec)
            write_views(views_path(root, "multiview", category, instance + 1), views)
    write_spec(Path(root) / "multiview", spec)  # last: its presence says the renders are complete


def ensure_synthetic_views(root) -> None:
    """Add the multi-view renders to a synthetic set written before the generator wrote them."""
    root = Path(root)
    if (root / "multiview" / "views.json").is_file():
        return
    meta = json.loads((root / "generator.json").read_text()) if (root / "generator.json").is_file() else {}
    print(f"{root}: rendering the multi-view shapes of its CAD models")
    write_multiview(root, meta.get("seed", DEFAULTS["seed"]), meta.get("instances", DEFAULTS["instances"]),
                    tuple(meta.get("classes", SYNTHETIC_CLASSES)))


def ensure_synthetic(root, **kwargs) -> Path:
    """Generate the synthetic dataset at ``root`` (default sizes) unless it is there, written by this version of
    the generator; a set written by an older generator is regenerated."""
    root = Path(root)
    if not (root / "Synthetic.txt").is_file():
        print(f"{root} not found: generating the built-in synthetic dataset (about a minute)")
        generate(root, **kwargs)
        return root
    meta_path = root / "generator.json"
    if meta_path.is_file():
        try:
            version = json.loads(meta_path.read_text()).get("version", 1)
        except json.JSONDecodeError:
            version = None
        if version != GENERATOR_VERSION:
            meta = json.loads(meta_path.read_text()) if version is not None else {}
            sizes = {k: meta[k] for k in DEFAULTS if k in meta}
            print(f"{root} was written by generator version {version}; regenerating it with version "
                  f"{GENERATOR_VERSION} (same sizes)")
            generate(root, **{**sizes, **kwargs})
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/Synthetic", help="output folder (the dataset root)")
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=value)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    generate(args.out, seed=args.seed, instances=args.instances, train_per_class=args.train_per_class,
             val_per_class=args.val_per_class, image_size=args.image_size, points=args.points, workers=args.workers)


if __name__ == "__main__":
    main()
