"""Scan a whole dataset and report every problem at once, before a long run finds them one by one.

    python -m dataset.check --dataset ObjectNet3D [--data_dir DIR] [--point_num 2500] [--workers 4]
    python -m dataset.check --dataset Pix3D --table bed_annotation.txt --shape_dir None
    python -m dataset.check --dataset SyntheticMany --views_dir multiview      # the multi-view renders too

Checks the annotation table (every row: fields, numbers, angle ranges, boxes), every image the rows use (it
exists, decodes completely, and the row's box overlaps it), every point cloud (it exists, parses, has finite
coordinates and at least ``--point_num`` points) and the splits (train and val, and the zero-shot ones where the
dataset has novel classes, are not empty). Prints each problem with its file (and line), then a summary; exits
with status 1 if anything was found, 0 otherwise. ``--table`` checks another annotation file under the root (as
the scripts' flag reads it), and ``--shape_dir None`` skips the point clouds (for image-only runs).
``--views_dir`` also checks the multi-view renders (``--shape MultiView``): the ring description
``views.json`` and every model's strip (it exists, decodes, and holds the described views). The training
scripts' ``--skip_bad`` leaves out exactly the kind of rows and files reported here.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dataset.annotations import AnnotationTable, shape_path
from dataset.classes import DATASETS, dataset_info
from dataset.multiview import MultiViewError, read_spec, read_views, views_path
from dataset.pointcloud import PointCloudError, read_ply_points
from dataset.transforms import ImageError, clip_box, load_image
from dataset.viewpoint import PREPARE_HINT


def check_image(job) -> list[str]:
    """Problems of one image and the boxes of the rows that use it: [(line, box), ...]."""
    path, uses = job
    try:
        width, height = load_image(path).size  # a full decode: finds truncated files
    except (ImageError, FileNotFoundError) as error:
        lines = ", ".join(str(line) for line, _ in uses[:5]) + (" ..." if len(uses) > 5 else "")
        return [f"{error} (used on line(s) {lines})"]
    problems = []
    for line, box in uses:
        try:
            clip_box(box, width, height, path)  # the loader's own test of a box
        except ImageError as error:
            problems.append(f"line {line}: {error}")
    return problems


def check_cloud(job) -> list[str]:
    path, point_num, count = job
    try:
        points = read_ply_points(path)
    except (PointCloudError, FileNotFoundError) as error:
        return [f"{error} (used by {count} row(s))"]
    if points.shape[0] < point_num:
        return [f"point cloud {path} has {points.shape[0]} points, fewer than --point_num {point_num} "
                f"(used by {count} row(s))"]
    return []


def check_views(job) -> list[str]:
    path, spec, count = job
    try:
        read_views(path, spec)
    except (MultiViewError, FileNotFoundError) as error:
        return [f"{error} (used by {count} row(s))"]
    return []


def scan(root, dataset: str, shape_dir: str | None = "pointcloud", point_num: int = 2500, workers: int = 0,
         progress: bool = True, table_file: str | None = None, views_dir: str | None = None) -> dict:
    """Every problem of a dataset, by kind: ``{"table": [...], "images": [...], "clouds": [...], "splits": [...]}``
    (and ``"views"`` with ``views_dir``). ``table_file`` names another annotation file under ``root``;
    ``shape_dir=None`` leaves the point clouds out; ``views_dir`` (e.g. ``multiview``) checks the multi-view
    renders too."""
    root = Path(root)
    info = dataset_info(dataset)
    report = {"table": [], "images": [], "clouds": [], "views": [], "splits": []}
    table_path = root / (table_file or info.table)
    if not table_path.is_file():
        report["table"].append(f"annotation table {table_path} does not exist; "
                               f"{PREPARE_HINT.get(dataset, PREPARE_HINT['other'])}")
        return report
    table = AnnotationTable.read(table_path, skip_bad=True)
    report["table"] = list(table.problems)

    used = (table["set"] == "train") | (table["set"] == "val")
    images: dict[str, list] = {}
    clouds: dict[str, int] = {}
    views: dict[str, int] = {}
    spec = None
    if views_dir is not None:
        try:
            spec = read_spec(root / views_dir)
        except (MultiViewError, FileNotFoundError) as error:
            report["views"].append(str(error))
    for r in used.nonzero()[0]:
        box = tuple(float(table[c][r]) for c in ("left", "upper", "right", "lower"))
        images.setdefault(str(root / table["im_path"][r]), []).append((int(table["line"][r]), box))
        if shape_dir is not None and (not info.evaluation_only or table["set"][r] == "val"):
            key = str(shape_path(root, shape_dir, table["cat"][r], table["cad_index"][r]))
            clouds[key] = clouds.get(key, 0) + 1
        if spec is not None and (not info.evaluation_only or table["set"][r] == "val"):
            key = str(views_path(root, views_dir, table["cat"][r], table["cad_index"][r]))
            views[key] = views.get(key, 0) + 1

    jobs = [(check_image, sorted(images.items()), "images"),
            (check_cloud, [(p, point_num, n) for p, n in sorted(clouds.items())], "clouds"),
            (check_views, [(p, spec, n) for p, n in sorted(views.items())], "views")]
    executor = ProcessPoolExecutor(workers) if workers > 0 else None
    try:
        for function, items, kind in jobs:
            results = executor.map(function, items, chunksize=64) if executor else map(function, items)
            if progress:
                from tqdm import tqdm
                results = tqdm(results, total=len(items), desc=f"checking {kind}", file=sys.stderr)
            for problems in results:
                report[kind] += problems
    finally:
        if executor:
            executor.shutdown()

    protocols = [("train", {}, ""), ("val", {"classes": info.evaluation_classes(False)}, "")]
    if info.novel:
        protocols += [("train", {"exclude": info.novel}, " without the novel classes (--novel)"),
                      ("val", {"classes": info.evaluation_classes(True)}, " of the novel classes (--novel)")]
    for split, options, what in protocols:
        if not (split == "train" and info.evaluation_only) and len(table.select(split, **options)) == 0:
            report["splits"].append(f"{table_path}: the {split} split{what} is empty")
    if views_dir is None:
        del report["views"]
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="report every problem of a dataset at once")
    parser.add_argument("--dataset", default="Synthetic", choices=sorted(DATASETS))
    parser.add_argument("--data_dir", default=None, help="dataset root (default: data/<dataset>)")
    parser.add_argument("--table", default=None, help="annotation file under the root (default: <dataset>.txt)")
    parser.add_argument("--shape_dir", default="pointcloud", help="point-cloud folder; None skips the clouds")
    parser.add_argument("--views_dir", default=None, help="multi-view folder to check too (e.g. multiview)")
    parser.add_argument("--point_num", type=int, default=2500, help="points each cloud must have at least")
    parser.add_argument("--workers", type=int, default=4, help="processes decoding images")
    args = parser.parse_args(argv)
    root = Path(args.data_dir) if args.data_dir else Path("data") / args.dataset
    if not root.is_dir():
        print(f"error: dataset root {root} does not exist; {PREPARE_HINT.get(args.dataset, PREPARE_HINT['other'])}",
              file=sys.stderr)
        return 2
    shape_dir = None if args.shape_dir == "None" else args.shape_dir
    report = scan(root, args.dataset, shape_dir, args.point_num, args.workers, table_file=args.table,
                  views_dir=args.views_dir)
    total = sum(len(v) for v in report.values())
    for kind, problems in report.items():
        for problem in problems:
            print(f"[{kind}] {problem}")
    counts = ", ".join(f"{len(v)} {k}" for k, v in report.items())
    print(f"{root}: {'no problems found' if total == 0 else f'{total} problem(s) ({counts})'}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
