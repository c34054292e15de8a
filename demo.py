"""Estimate the viewpoint of an object in your own image.

    python demo.py --image photo.jpg --bbox 40 30 200 180 --model save_models/best_student.pt --overlay pose.png
    python demo.py --image photo.jpg --model result/teacher_cpu/model_best.pth --pointcloud chair.ply
    python demo.py --image photo.jpg --model result/mv_teacher/model_best.pth --views chair/views.png

Prints azimuth, elevation and in-plane rotation in degrees (the annotation convention of docs/angles.md). The crop
is the box (the whole image without ``--bbox``), resized and padded as in evaluation. A teacher checkpoint
also needs the object's shape: its point cloud (``--pointcloud``, a PLY with x/y/z in the CAD frame, z up) or,
for a multi-view teacher, its renders (``--views``, the strip written by the renderers, :mod:`dataset.multiview`). ``--overlay``
draws the box and the object's axes at the predicted pose (x red, y green, z blue), and the point cloud when
given. Settings (input size, points) come from the checkpoint.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image, ImageDraw

from auxiliary.angles import ViewpointCodec, label_to_raw
from auxiliary.checkpoint import load_checkpoint
from auxiliary.errors import InputError
from auxiliary.rotation import viewpoint_to_rotation
from engine.cli import run_cli
from engine.setup import resolve_device
from dataset.multiview import read_views
from dataset.pointcloud import prepare_points, read_ply_points
from dataset.transforms import Augmentation, clip_box, crop_view, load_image, normalize_batch
from model.estimator import network_from_checkpoint


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="3DAug-Pose: viewpoint of the object in an image")
    parser.add_argument("--image", required=True)
    parser.add_argument("--bbox", type=float, nargs=4, metavar=("X1", "Y1", "X2", "Y2"), default=None,
                        help="object box in pixels (default: the whole image)")
    parser.add_argument("--model", required=True, help="a checkpoint from training.py or trainingKD.py")
    parser.add_argument("--pointcloud", default=None, help="the object's point cloud (PLY), for a teacher")
    parser.add_argument("--views", default=None, help="the object's multi-view renders (views.png), for a "
                                                       "multi-view teacher")
    parser.add_argument("--overlay", default=None, help="write the image with the predicted pose drawn here")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0, help="seed of the point sampling (teacher)")
    return parser


def load_network(path, device):
    checkpoint = load_checkpoint(path)
    return network_from_checkpoint(checkpoint, path).to(device).eval(), checkpoint


def teacher_shape(model, checkpoint, device, cloud=None, views_file=None, rng=None):
    """A teacher's shape input for one object, (1, ...) on ``device``: its point cloud (an (N, 3) array) or its
    multi-view strip (a file); None for an image-only network."""
    if model.kind != "teacher":
        return None
    data_args = checkpoint.get("data_args", {})
    if model.shape == "MultiView":
        if views_file is None:
            raise InputError("this checkpoint is a multi-view teacher: it needs the object's renders (--views PNG)")
        views = torch.from_numpy(read_views(views_file, {"view_num": model.shape_encoder.view_num}))
        return normalize_batch(views.to(device))[None]
    if cloud is None:
        raise InputError("this checkpoint is a teacher: it needs the object's point cloud (--pointcloud PLY)")
    rng = rng if rng is not None else np.random.default_rng(0)
    return torch.from_numpy(prepare_points(cloud, data_args.get("point_num", 2500), rng,
                                           norm=data_args.get("point_norm", "minmax")))[None].to(device)


@torch.no_grad()
def predict_pose(model, checkpoint, image, box, device, cloud=None, seed: int = 0, path=None,
                 views_file=None) -> tuple[float, float, float]:
    """Raw (azimuth, elevation, in-plane) degrees for the object in ``box`` of a PIL image."""
    data_args = checkpoint.get("data_args", {})
    rng = np.random.default_rng(seed)
    crop, _, _, _ = crop_view(image, box, data_args.get("input_dim", 224), rng, Augmentation.none(), path)
    shape = teacher_shape(model, checkpoint, device, cloud, views_file, rng)
    out = model(normalize_batch(crop[None].to(device)), shape)
    codec = ViewpointCodec(360 // checkpoint["model_args"]["num_bins"][0])
    label = codec.decode(out["outputs"])[0].cpu().numpy()
    azimuth, elevation, inplane = (float(v) for v in label_to_raw(*label))
    return azimuth, elevation, inplane


def draw_pose(image, box, pose, cloud=None):
    """The image with the box, the object axes and (optionally) the point cloud drawn at ``pose``; images under
    384 pixels are enlarged first so that the drawing stays legible."""
    factor = max(1, -(-384 // max(image.size)))
    canvas = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    box = tuple(v * factor for v in box)
    draw = ImageDraw.Draw(canvas)
    left, upper, right, lower = box
    draw.rectangle(box, outline=(255, 255, 0), width=2)
    centre = np.array([(left + right) / 2, (upper + lower) / 2])
    scale = 0.45 * max(right - left, lower - upper)
    rotation = viewpoint_to_rotation(*pose)

    def to_pixels(points):  # object frame -> camera frame -> image (orthographic, u right, v down)
        cam = np.asarray(points) @ rotation.T
        return np.stack([centre[0] + scale * cam[:, 0], centre[1] - scale * cam[:, 1]], 1), cam[:, 2]

    if cloud is not None:
        points = cloud - cloud.mean(0)
        points = points / max(float(np.abs(points).max()), 1e-9)
        pixels, depth = to_pixels(points[:: max(1, len(points) // 1500)])
        for (u, v), z in sorted(zip(pixels.tolist(), depth.tolist()), key=lambda item: item[1]):
            shade = int(120 + 135 * (z + 1) / 2)
            draw.point((u, v), fill=(shade, shade, shade))
    ends, _ = to_pixels(np.eye(3))
    for end, colour in zip(ends, ((255, 0, 0), (0, 200, 0), (0, 80, 255))):
        draw.line([tuple(centre), tuple(end)], fill=colour, width=max(2, int(scale / 30)))
    return canvas


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    device = resolve_device(args.device)
    model, checkpoint = load_network(args.model, device)
    image = load_image(args.image)
    box = clip_box(args.bbox if args.bbox is not None else (0, 0, *image.size), *image.size, args.image)
    cloud = read_ply_points(args.pointcloud) if args.pointcloud else None
    pose = predict_pose(model, checkpoint, image, box, device, cloud, args.seed, args.image, args.views)
    print(f"azimuth {pose[0]:.2f}  elevation {pose[1]:.2f}  in-plane {pose[2]:.2f}  (degrees)")
    if args.overlay:
        draw_pose(image, box, pose, cloud).save(args.overlay)
        print(f"overlay written to {args.overlay}")
    return pose


if __name__ == "__main__":
    run_cli(main)
