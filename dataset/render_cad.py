"""Render a folder of your own CAD models into a training set (``--dataset Custom``).

    python -m dataset.render_cad --models DIR --out OUT [--views 100] [--image_size 128] [--up +y]
    python training.py --dataset Custom --data_dir OUT ...

``DIR/<category>/<model>.<ext>`` for the formats trimesh reads (obj, off, ply, stl, glb, gltf). Each model is
brought into the CAD frame the loaders expect: ``--up`` (the file's up axis, default +z) becomes +z and
``--front`` (the side the object faces; default -y for a z-up file, +z for a y-up one, e.g. ShapeNet's: check
one render) becomes -y, so azimuth 0 looks at the front; then it is centred on its bounding box and scaled so
its farthest vertex is 0.45 from the origin, as the built-in synthetic shapes are. Each model is rendered at
``--views`` viewpoints drawn like the synthetic set's (azimuth uniform, elevation in ``--elevation`` for most
views, in-plane rotation N(0, ``--inplane_std``)), in its own colours or texture where the file has them (else
a random colour per connected part), over a random gradient or a random crop of ``--backgrounds`` images.

Writes ``OUT/Custom.txt`` (the 19-column table; each row's box is the object's silhouette box, so projecting the
row's cloud with its angles and distance through the camera of ``render.json`` gives the box),
``OUT/Images/``, ``OUT/Image_sets/``, ``OUT/pointcloud/<cat>/<NN>/compressed.ply`` (surface samples in the frame
and scale the images are rendered in), ``OUT/multiview/`` (:mod:`dataset.multiview`) and ``OUT/render.json``
(``focal`` in pixels, ``principal`` [cx, cy], ``width``, ``height``, the options, and which file each
``<cat>/<NN>`` is). A model that cannot be read or has no faces is reported by file and skipped; everything
goes to ``OUT.partial`` first, so an interrupted run leaves nothing half written.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from auxiliary.errors import InputError
from auxiliary.files import atomic_write_text
from dataset.annotations import write_table
from dataset.multiview import VIEW_DEFAULTS, make_spec, render_views, views_path, write_spec, write_views
from dataset.pointcloud import write_ply_points
from dataset.shapes import Mesh
from dataset.synthetic import VIEWPOINTS, _random_color, annotation_row, compose

MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl", ".glb", ".gltf")
AXES = ("+x", "-x", "+y", "-y", "+z", "-z")
RADIUS = 0.45


def axis_vector(name: str) -> np.ndarray:
    if name not in AXES:
        raise ValueError(f"unknown axis {name!r}; choose from {', '.join(AXES)}")
    vector = np.zeros(3)
    vector["xyz".index(name[1])] = 1.0 if name[0] == "+" else -1.0
    return vector


def frame_rotation(up: str = "+z", front: str | None = None) -> np.ndarray:
    """The rotation taking the file's ``up`` to +z and its ``front`` to -y (rows: up x front, -front, up)."""
    front = front or ("+z" if up[1] == "y" else "-y")
    u, f = axis_vector(up), axis_vector(front)
    if abs(u @ f) > 0:
        raise ValueError(f"--up {up} and --front {front} must be perpendicular")
    return np.stack([np.cross(u, f), -f, u])


def load_cad(path, up: str = "+z", front: str | None = None) -> Mesh:
    """A CAD file -> :class:`Mesh` in the loaders' CAD frame, with its own vertex colours when it has any."""
    import trimesh

    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as error:  # trimesh raises many types for unreadable files
        raise InputError(f"CAD model {path} cannot be read: {error}") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise InputError(f"CAD model {path} has no faces")
    vertices = np.asarray(mesh.vertices, np.float64) @ frame_rotation(up, front).T
    if not np.isfinite(vertices).all():
        raise InputError(f"CAD model {path} has non-finite vertex coordinates")
    vertices -= (vertices.min(0) + vertices.max(0)) / 2
    scale = np.linalg.norm(vertices, axis=1).max()
    if scale <= 0:
        raise InputError(f"CAD model {path} is a single point")
    vertices *= RADIUS / scale
    faces = np.asarray(mesh.faces, np.int64)
    colors = None
    visual = mesh.visual
    try:
        if visual.kind == "texture":
            visual = visual.to_color()
        if visual.kind in ("vertex", "face", "texture"):
            colors = np.asarray(visual.vertex_colors, np.float64)[:, :3] / 255.0
    except Exception:  # a texture without an image or UVs: fall back to random part colours
        colors = None
    part = np.asarray(trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(faces)),
                      np.int64)
    parts = int(part.max()) + 1
    return Mesh(vertices, faces, part, np.arange(parts) % 3, np.zeros(parts, bool), colors)


def find_models(models_dir) -> list[tuple[str, Path]]:
    """(category, file) of every model under ``models_dir/<category>/``, sorted."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise FileNotFoundError(f"models folder {models_dir} does not exist")
    found = sorted((p.parent.name, p) for p in models_dir.glob("*/*") if p.suffix.lower() in MESH_SUFFIXES)
    if not found:
        raise InputError(f"no CAD models <category>/<model>.{{{','.join(s[1:] for s in MESH_SUFFIXES)}}} "
                         f"under {models_dir}")
    return found


def background_image(rng, paths, size) -> np.ndarray | None:
    """A random square crop of a random background photo, (size, size, 3) uint8; None without photos."""
    if not paths:
        return None
    path = paths[int(rng.integers(len(paths)))]
    with Image.open(path) as image:
        image = image.convert("RGB")
        side = int(min(image.size) * rng.uniform(0.4, 1.0))
        x, y = int(rng.integers(0, image.size[0] - side + 1)), int(rng.integers(0, image.size[1] - side + 1))
        return np.asarray(image.crop((x, y, x + side, y + side)).resize((size, size), Image.BILINEAR))


def render_model(job, out, options):
    """Point cloud, multi-view strip and ``--views`` images of one model -> (rows, problem or None)."""
    category, index, path = job
    try:
        mesh = load_cad(path, options["up"], options["front"])
    except InputError as error:
        return [], str(error)
    seed = [options["seed"], index]
    rng = np.random.default_rng(seed + [1])
    palette = None if mesh.vertex_colors is not None else np.stack([_random_color(rng) for _ in range(3)])
    cad_index = options["cad_index"][str(path)]
    cloud = mesh.sample_surface(options["points"], np.random.default_rng(seed + [2]))
    write_ply_points(Path(out) / "pointcloud" / category / f"{cad_index:02d}" / "compressed.ply", cloud)
    spec = options["spec"]
    write_views(views_path(out, "multiview", category, cad_index),
                render_views(mesh, palette if palette is not None else np.zeros((3, 3)), spec))
    size, rows = options["image_size"], []
    n_val = int(round(options["views"] * options["val_fraction"]))
    for k in range(options["views"]):
        rng = np.random.default_rng(seed + [3, k])
        background = background_image(rng, options["backgrounds"], size)
        image, mask, view = compose(rng, mesh, palette, size, principal=[size / 2, size / 2],
                                    background=background, viewpoints=options["viewpoints"])
        if not mask.any():
            continue
        split = "val" if k < n_val else "train"
        name = f"{category}_{cad_index:02d}_{k:04d}"
        Image.fromarray(image).save(Path(out) / "Images" / f"{name}.JPEG", quality=92)
        rows.append(annotation_row(name, split, category, cad_index, mask, view, source="render_cad"))
    return rows, None


def render_cad(models, out, views: int = 100, image_size: int = 128, up: str = "+z", front: str | None = None,
               backgrounds=None, val_fraction: float = 0.1, points: int = 5000, seed: int = 0,
               elevation=VIEWPOINTS["elevation"], inplane_std: float = VIEWPOINTS["inplane_std"],
               view_num: int = VIEW_DEFAULTS["view_num"], tour: int = VIEW_DEFAULTS["tour"],
               view_size: int = VIEW_DEFAULTS["view_size"], symmetric=(), workers: int | None = None,
               progress: bool = True) -> dict:
    """Render every model of ``models`` into the dataset ``out``; returns the render.json record."""
    frame_rotation(up, front)  # refuse a bad axis pair before any work
    found = find_models(models)
    background_paths = []
    if backgrounds:
        background_paths = sorted(str(p) for p in Path(backgrounds).rglob("*")
                                  if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp"))
        if not background_paths:
            raise InputError(f"no background images (.jpg, .png, ...) under {backgrounds}")
    cad_index, numbering = {}, {}
    for category, path in found:  # sorted, so each category's models are numbered 01, 02, ... in name order
        number = len(numbering.get(category, {})) + 1
        cad_index[str(path)] = number
        numbering.setdefault(category, {})[f"{number:02d}"] = str(path)
    out = Path(out)
    partial_dir = out.with_name(out.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    (partial_dir / "Images").mkdir(parents=True)
    (partial_dir / "Image_sets").mkdir()
    spec = make_spec(view_num, tour, view_size)
    options = dict(up=up, front=front or ("+z" if up[1] == "y" else "-y"), seed=seed, points=points,
                   image_size=image_size, views=views, val_fraction=val_fraction, backgrounds=background_paths,
                   viewpoints={"elevation": tuple(elevation), "inplane_std": inplane_std}, spec=spec,
                   cad_index=cad_index)
    jobs = [(category, k, path) for k, (category, path) in enumerate(found)]
    start, workers = time.time(), workers or os.cpu_count() or 1
    work = partial(render_model, out=str(partial_dir), options=options)
    if workers > 1:
        with get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
            results = list(tqdm(pool.imap(work, jobs), total=len(jobs), disable=not progress,
                                desc="rendering CAD models"))
    else:
        results = [work(job) for job in tqdm(jobs, disable=not progress, desc="rendering CAD models")]
    rows = [row for model_rows, _ in results for row in model_rows]
    skipped = [problem for _, problem in results if problem]
    for problem in skipped:
        print(f"warning: skipped {problem}", file=sys.stderr, flush=True)
    if not rows:
        shutil.rmtree(partial_dir, ignore_errors=True)
        raise InputError(f"no model under {models} could be rendered")
    for category, path in found:
        if any(str(path) in problem for problem in skipped):
            del numbering[category][f"{cad_index[str(path)]:02d}"]
    write_table(partial_dir / "Custom.txt", rows)
    for split in ("train", "val"):
        names = sorted(r["im_name"] for r in rows if r["set"] == split)
        (partial_dir / "Image_sets" / f"{split}.txt").write_text("\n".join(names) + ("\n" if names else ""))
    write_spec(partial_dir / "multiview", spec)
    record = {"focal": 1.8 * image_size, "principal": [image_size / 2, image_size / 2], "width": image_size,
              "height": image_size, "options": {k: v for k, v in options.items() if k not in ("spec", "cad_index")},
              "models": numbering, "skipped": skipped, "symmetric": list(symmetric)}
    record["options"]["backgrounds"] = str(backgrounds) if backgrounds else None
    atomic_write_text(partial_dir / "render.json", json.dumps(record, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial_dir.rename(out)
    if progress:
        print(f"wrote {len(rows)} images of {len(found) - len(skipped)} models to {out} in {time.time() - start:.0f} s"
              + (f"; {len(skipped)} model(s) skipped (listed above)" if skipped else ""))
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help="folder of <category>/<model>.<ext>")
    parser.add_argument("--out", required=True, help="the dataset root to write (train with --data_dir OUT)")
    parser.add_argument("--views", type=int, default=100, help="images rendered per model")
    parser.add_argument("--image_size", type=int, default=128)
    parser.add_argument("--up", default="+z", choices=AXES, help="the files' up axis (+y for ShapeNet)")
    parser.add_argument("--front", default=None, choices=AXES,
                        help="the side the objects face (default: -y, or +z when --up is a y axis)")
    parser.add_argument("--backgrounds", default=None, help="folder of photos to paste the renders on")
    parser.add_argument("--val_fraction", type=float, default=0.1, help="share of each model's images in val")
    parser.add_argument("--elevation", type=float, nargs=2, default=VIEWPOINTS["elevation"], metavar=("MIN", "MAX"),
                        help="elevation range of most views (degrees)")
    parser.add_argument("--inplane_std", type=float, default=VIEWPOINTS["inplane_std"])
    parser.add_argument("--points", type=int, default=5000, help="points sampled per model")
    for name, value in VIEW_DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=value, help="multi-view renders")
    parser.add_argument("--symmetric", default="", help="comma-separated rotationally symmetric categories "
                                                        "(--random leaves them alone)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    try:
        render_cad(args.models, args.out, args.views, args.image_size, args.up, args.front, args.backgrounds,
                   args.val_fraction, args.points, args.seed, args.elevation, args.inplane_std, args.view_num,
                   args.tour, args.view_size, tuple(s for s in args.symmetric.split(",") if s), args.workers)
    except (InputError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
