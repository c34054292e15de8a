"""The many-category synthetic set (``--dataset SyntheticMany``): procedural categories at known viewpoints.

    python -m dataset.synthetic_many --out data/SyntheticMany              # tuning set (seed 0)
    python -m dataset.synthetic_many --out data/SyntheticManyHeldout --seed 1   # never tuned on

120 categories of :mod:`dataset.procedural` (each a seeded part layout; the seed fixes the layouts, so
another seed gives other categories as well as other instances), 8 instances each, the last 20 categories
held out as the novel split of ``--novel``. Written in the layout of :mod:`dataset.synthetic`:
``SyntheticMany.txt`` (the 19-column table), ``Images/``, ``Image_sets/``, ``pointcloud/<cat>/<NN>/compressed.ply``
and ``multiview/<cat>/<NN>/views.png`` (:mod:`dataset.multiview`), plus ``render.json`` (the camera: every image
shares it, so projecting a row's cloud with the row's pose and distance gives its box) and ``generator.json``
(the sizes, the novel categories and the rotationally symmetric ones, which ``--random`` leaves alone as it
does the real datasets' symmetric classes). Rendering runs in parallel and goes to ``<out>.partial`` first.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from auxiliary.files import atomic_write_text
from dataset.annotations import write_table
from dataset.multiview import VIEW_DEFAULTS, make_spec, render_views, views_path, write_spec, write_views
from dataset.pointcloud import write_ply_points
from dataset.procedural import build_instance, category_name, make_category
from dataset.synthetic import _random_color, annotation_row, compose

GENERATOR_VERSION = 1
DEFAULTS = dict(seed=0, categories=120, novel=20, instances=8, train_per_class=100, val_per_class=20,
                image_size=64, points=5000, **VIEW_DEFAULTS)
TABLE = "SyntheticMany.txt"


@lru_cache(maxsize=None)
def category(seed: int, index: int):
    return make_category(category_name(index), np.random.default_rng([seed, index, 101]))


@lru_cache(maxsize=256)
def instance_mesh(seed: int, index: int, instance: int):
    return build_instance(category(seed, index), np.random.default_rng([seed, index, instance, 7]))


def instance_palette(seed: int, index: int, instance: int) -> np.ndarray:
    rng = np.random.default_rng([seed, index, instance, 13])
    return np.stack([_random_color(rng) for _ in range(3)])


def camera(size: int) -> dict:
    """The one camera of every image (``render.json``): focal and principal point in pixels."""
    return {"focal": 1.8 * size, "principal": [size / 2, size / 2], "width": size, "height": size}


def render_image(seed: int, index: int, split: str, k: int, instances: int, size: int):
    """One image of category ``index`` -> (uint8 image, mask, annotation row)."""
    rng = np.random.default_rng([seed, index, 0 if split == "train" else 1, k])
    instance = int(rng.integers(instances))
    image, mask, view = compose(rng, instance_mesh(seed, index, instance), instance_palette(seed, index, instance),
                                size, principal=camera(size)["principal"])
    name = f"{category(seed, index).name}_{split}_{k:05d}"
    return image, mask, annotation_row(name, split, category(seed, index).name, instance + 1, mask, view)


def _image_job(job):
    out, seed, index, split, k, instances, size = job
    image, _, row = render_image(seed, index, split, k, instances, size)
    Image.fromarray(image).save(Path(out) / "Images" / f"{row['im_name']}.JPEG", quality=92)
    return row


def _model_job(job):
    """One CAD model's point cloud and multi-view renders."""
    out, seed, index, instance, points, spec = job
    mesh, name = instance_mesh(seed, index, instance), category(seed, index).name
    cloud = mesh.sample_surface(points, np.random.default_rng([seed, index, instance, 11]))
    write_ply_points(Path(out) / "pointcloud" / name / f"{instance + 1:02d}" / "compressed.ply", cloud)
    write_views(views_path(out, "multiview", name, instance + 1),
                render_views(mesh, instance_palette(seed, index, instance), spec))


def _run(function, jobs, workers, progress, desc):
    if workers > 1:
        with get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
            return list(tqdm(pool.imap(function, jobs, chunksize=8), total=len(jobs), disable=not progress,
                             desc=desc))
    return [function(job) for job in tqdm(jobs, disable=not progress, desc=desc)]


def generate(out, seed=DEFAULTS["seed"], categories=DEFAULTS["categories"], novel=DEFAULTS["novel"],
             instances=DEFAULTS["instances"], train_per_class=DEFAULTS["train_per_class"],
             val_per_class=DEFAULTS["val_per_class"], image_size=DEFAULTS["image_size"], points=DEFAULTS["points"],
             view_num=DEFAULTS["view_num"], tour=DEFAULTS["tour"], view_size=DEFAULTS["view_size"],
             workers: int | None = None, progress: bool = True) -> Path:
    if not 0 <= novel < categories:
        raise ValueError(f"novel ({novel}) must be below categories ({categories})")
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "Images").mkdir(parents=True)
    (partial / "Image_sets").mkdir()
    start, workers = time.time(), workers or os.cpu_count() or 1
    spec = make_spec(view_num, tour, view_size)
    write_spec(partial / "multiview", spec)
    _run(_model_job, [(str(partial), seed, c, i, points, spec) for c in range(categories) for i in range(instances)],
         workers, progress, "point clouds and multi-view renders")
    jobs = [(str(partial), seed, c, split, k, instances, image_size) for c in range(categories)
            for split, n in (("train", train_per_class), ("val", val_per_class)) for k in range(n)]
    rows = _run(_image_job, jobs, workers, progress, "rendering the many-category set")
    write_table(partial / TABLE, rows)
    for split in ("train", "val"):
        names = sorted(r["im_name"] for r in rows if r["set"] == split)
        (partial / "Image_sets" / f"{split}.txt").write_text("\n".join(names) + "\n")
    names = [category(seed, c).name for c in range(categories)]
    meta = dict(version=GENERATOR_VERSION, seed=seed, categories=categories, instances=instances,
                train_per_class=train_per_class, val_per_class=val_per_class, image_size=image_size, points=points,
                view_num=view_num, tour=tour, view_size=view_size, classes=names,
                novel=names[categories - novel:],
                symmetric=[category(seed, c).name for c in range(categories) if category(seed, c).symmetric])
    atomic_write_text(partial / "generator.json", json.dumps(meta, indent=2) + "\n")
    atomic_write_text(partial / "render.json", json.dumps({**camera(image_size), "generator": "synthetic_many"},
                                                          indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    if progress:
        print(f"wrote {len(rows)} images of {categories} categories ({novel} novel) to {out} in "
              f"{time.time() - start:.0f} s")
    return out


def ensure_many(root, **kwargs) -> Path:
    """Generate the many-category set at ``root`` unless this version of the generator wrote it there."""
    root = Path(root)
    meta_path = root / "generator.json"
    version = None
    if (root / TABLE).is_file() and meta_path.is_file():
        try:
            version = json.loads(meta_path.read_text()).get("version")
        except json.JSONDecodeError:
            pass
    if version != GENERATOR_VERSION:
        print(f"{root}: generating the many-category synthetic set (a few minutes on 2 cores)")
        generate(root, **kwargs)
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/SyntheticMany", help="output folder (the dataset root)")
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=value)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = vars(parser.parse_args(argv))
    generate(args.pop("out"), **args)


if __name__ == "__main__":
    main()
