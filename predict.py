"""Viewpoints for a folder of images, or for the boxes of a CSV, in one command.

    python predict.py --model save_models/best_student.pt --images photos/ --output predictions.csv
    python predict.py --model save_models/best_student.pt --images boxes.csv --overlay_dir overlays/

``--images`` is a folder (every .jpg/.jpeg/.png/.bmp/.webp file in it; each whole image is the crop) or a CSV
with the header ``image,left,upper,right,lower`` (image paths relative to the CSV's folder; empty box fields
mean the whole image). The predictions CSV has, per object, the image, the box and the predicted azimuth,
elevation and in-plane rotation in degrees (the convention of docs/angles.md), then for each angle its three most
likely bins as hypotheses (angle with its in-bin offset, and the bin's probability): a symmetric object often
has its second hypothesis 180 degrees from the first. Images run through the network in batches on the
device. A bad CSV row or an unreadable image is reported with its line (or file) on stderr and skipped; the
rest is still predicted. A teacher checkpoint needs the objects' shape, used for every image: ``--pointcloud``,
or ``--views`` for a multi-view teacher.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from auxiliary.angles import ANGLE_NAMES, ViewpointCodec, label_to_raw
from auxiliary.checkpoint import load_checkpoint
from auxiliary.errors import InputError
from auxiliary.files import atomic_write_text
from dataset.pointcloud import read_ply_points
from dataset.transforms import Augmentation, ImageError, clip_box, crop_view, load_image, normalize_batch
from demo import draw_pose, teacher_shape
from engine.cli import run_cli
from engine.data import collate_skipping
from engine.setup import resolve_device
from model.estimator import network_from_checkpoint

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
TOP = 3


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="3DAug-Pose: viewpoints for a folder of images or a CSV of boxes")
    p.add_argument("--model", required=True, help="a checkpoint from training.py or trainingKD.py")
    p.add_argument("--images", required=True, help="a folder of images, or a CSV of image,left,upper,right,lower")
    p.add_argument("--output", default="predictions.csv", help="the predictions CSV")
    p.add_argument("--overlay_dir", default=None, help="also draw each predicted pose into this folder")
    p.add_argument("--pointcloud", default=None, help="the objects' point cloud (PLY), for a teacher")
    p.add_argument("--views", default=None,
                   help="the objects' multi-view renders (views.png), for a multi-view teacher")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0, help="seed of the point sampling (teacher)")
    return p


def read_inputs(source: Path) -> tuple[list, list]:
    """([(where, image path, box or None)], [problems]) from a folder or a CSV of boxes."""
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"{source} holds no image ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return [(str(p), p, None) for p in files], []
    if not source.is_file():
        raise FileNotFoundError(f"--images {source} is neither a folder nor a file")
    items, problems = [], []
    with open(source, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if header[:5] != ["image", "left", "upper", "right", "lower"]:
            raise InputError(f"{source}: the header must be image,left,upper,right,lower, not {','.join(header)}")
        for row in reader:
            where = f"{source}, line {reader.line_num}"
            if not row or not any(v.strip() for v in row):
                continue
            if len(row) < 5 or not row[0].strip():
                problems.append(f"{where}: expected image,left,upper,right,lower, got {','.join(row)}")
                continue
            box = None
            if any(v.strip() for v in row[1:5]):
                try:
                    box = tuple(float(v) for v in row[1:5])
                except ValueError:
                    problems.append(f"{where}: the box {','.join(row[1:5])} is not four numbers")
                    continue
            items.append((where, source.parent / row[0].strip(), box))
    if not items and not problems:
        raise InputError(f"{source} has no rows")
    return items, problems


class Crops(Dataset):
    """The evaluation crop of each input (None for one that cannot be loaded, reported by the caller)."""

    def __init__(self, items, input_dim: int):
        self.items, self.input_dim = items, input_dim

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        where, path, box = self.items[index]
        try:
            image = load_image(path)
            box = clip_box(box if box is not None else (0, 0, *image.size), *image.size, path)
            crop = crop_view(image, box, self.input_dim, np.random.default_rng(0), Augmentation.none(), path)[0]
        except (ImageError, FileNotFoundError) as error:
            return {"index": index, "error": f"{where}: {error}"}
        return {"index": index, "image": crop, "box": torch.tensor(box, dtype=torch.float64)}


def collate(items):
    good = collate_skipping([i for i in items if "error" not in i])
    return good, [i["error"] for i in items if "error" in i]


def hypotheses(outputs, codec: ViewpointCodec) -> tuple[np.ndarray, np.ndarray]:
    """The ``TOP`` most likely bins of each angle: raw degrees (B, TOP, 3) and probabilities (B, TOP, 3)."""
    labels, probs = [], []
    for k in range(3):
        p, bins = outputs[k].float().softmax(dim=1).topk(TOP, dim=1)
        offsets = torch.tanh(outputs[k + 3].float().gather(1, bins)) / 2
        labels.append(codec.decode_bins(bins, offsets))
        probs.append(p)
    labels = torch.stack(labels, dim=2).cpu().numpy()
    return np.stack(label_to_raw(*np.moveaxis(labels, 2, 0)), axis=2), torch.stack(probs, dim=2).cpu().numpy()


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.model)
    model = network_from_checkpoint(checkpoint, args.model).to(device).eval()
    data_args = checkpoint.get("data_args", {})
    cloud = read_ply_points(args.pointcloud) if args.pointcloud else None
    shape = teacher_shape(model, checkpoint, device, cloud, args.views, np.random.default_rng(args.seed))
    codec = ViewpointCodec(360 // checkpoint["model_args"]["num_bins"][0])
    items, problems = read_inputs(Path(args.images))
    for problem in problems:
        print(f"warning: skipped {problem}", file=sys.stderr, flush=True)
    total = len(items) + len(problems)
    loader = DataLoader(Crops(items, data_args.get("input_dim", 224)), batch_size=args.batch_size,
                        num_workers=args.workers, collate_fn=collate)
    header = ["image", "left", "upper", "right", "lower", *ANGLE_NAMES]
    header += [f"{name}_{k}{suffix}" for k in range(1, TOP + 1) for name in ANGLE_NAMES for suffix in ("", "_p")]
    rows = []
    if args.overlay_dir:
        Path(args.overlay_dir).mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        for batch, errors in tqdm(loader, desc="predicting", unit="batch", disable=not sys.stderr.isatty()):
            for error in errors:
                print(f"warning: skipped {error}", file=sys.stderr, flush=True)
            problems += errors
            if batch is None:
                continue
            images = normalize_batch(batch["image"].to(device))
            out = model(images, None if shape is None else shape.expand(len(images), *shape.shape[1:]))
            angles, probs = hypotheses(out["outputs"], codec)
            for j, index in enumerate(batch["index"].tolist()):
                _, path, _ = items[index]
                box = batch["box"][j].tolist()
                values = [a for k in range(TOP) for n in range(3) for a in (angles[j, k, n], probs[j, k, n])]
                rows.append([str(path), *box, *angles[j, 0], *values])
                if args.overlay_dir:
                    overlay = Path(args.overlay_dir) / f"{index:05d}_{Path(path).stem}.png"
                    draw_pose(load_image(path), box, tuple(angles[j, 0]), None).save(overlay)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([r[:1] + [f"{v:.4f}" if isinstance(v, float) else v for v in r[1:]] for r in rows])
    atomic_write_text(args.output, buffer.getvalue())
    print(f"{len(rows)} of {total} objects predicted -> {args.output}"
          + (f"; {len(problems)} skipped (listed above)" if problems else ""))
    if not rows:
        raise InputError(f"no object of {args.images} could be predicted")
    return rows, problems


if __name__ == "__main__":
    run_cli(main)
