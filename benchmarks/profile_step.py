"""Where a training step's time goes: each part of the teacher and of the image-only network, forward + backward.

    python benchmarks/profile_step.py --input_dim 64 --point_num 1024 --img_feature_dim 1024 --shape_feature_dim 1024

Times, on random inputs of one batch (median of ``--repeats`` after ``--warmup``), the image encoder, the
PointNet shape encoder, the fusion, the heads with the pose loss, the whole teacher step and the whole
image-only step (with the same backbone), next to the control's plain ResNet classifier step. Nothing here
loads data: ``benchmarks/throughput.py`` measures the loader.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auxiliary.angles import ViewpointCodec  # noqa: E402
from model.encoders import IMAGE_BACKBONES  # noqa: E402
from model.estimator import HEADS, build_model  # noqa: E402
from model.fusion import FUSIONS  # noqa: E402
from model.pose_loss import PoseLoss  # noqa: E402


def timed(step, warmup: int, repeats: int) -> float:
    """Median milliseconds of ``step()`` (forward + backward of one batch)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--img_encoder", default="resnet18", choices=IMAGE_BACKBONES)
    p.add_argument("--input_dim", type=int, default=64)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--point_num", type=int, default=1024)
    p.add_argument("--img_feature_dim", type=int, default=1024)
    p.add_argument("--shape_feature_dim", type=int, default=1024)
    p.add_argument("--fusion", default="deform", choices=FUSIONS)
    p.add_argument("--head", default="mlp", choices=HEADS)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    codec = ViewpointCodec()
    bins = list(codec.num_bins)
    teacher = build_model({"kind": "teacher", "img_encoder": args.img_encoder, "img_feature_dim": args.img_feature_dim,
                           "shape_feature_dim": args.shape_feature_dim, "fusion": args.fusion, "num_bins": bins}).train()
    image_only = build_model({"kind": "image", "img_encoder": args.img_encoder, "img_feature_dim": args.img_feature_dim,
                              "num_bins": bins, "head": args.head}).train()
    control = getattr(torchvision.models, args.img_encoder)(num_classes=sum(bins)).train()
    b = args.batch_size
    image = torch.randn(b, 3, args.input_dim, args.input_dim)
    points = torch.rand(b, 3, args.point_num)
    labels = torch.stack([torch.rand(b) * 360, torch.rand(b) * 180, torch.rand(b) * 360], dim=1)
    loss = PoseLoss(codec)
    image_feature = teacher.image_encoder(image).detach()
    shape_feature = teacher.shape_encoder(points).detach()
    fused_in = torch.cat([shape_feature, image_feature], 1).requires_grad_()
    fused = teacher.fusion(fused_in).detach().requires_grad_()
    parts = {
        "image encoder": lambda: teacher.image_encoder(image).sum().backward(),
        "PointNet shape encoder": lambda: teacher.shape_encoder(points).sum().backward(),
        "fusion": lambda: teacher.fusion(fused_in).sum().backward(),
        "heads + pose loss": lambda: loss(teacher.heads(fused), labels)[0].backward(),
        "teacher step": lambda: loss(teacher(image, points)["outputs"], labels)[0].backward(),
        "image-only step": lambda: loss(image_only(image)["outputs"], labels)[0].backward(),
        "control step": lambda: sum(torch.nn.functional.cross_entropy(chunk, codec.encode(labels)[0][:, k])
                                    for k, chunk in enumerate(control(image).split(bins, 1))).backward(),
    }
    print(f"{args.img_encoder}, input {args.input_dim}, batch {b}, {args.point_num} points, features "
          f"{args.img_feature_dim}/{args.shape_feature_dim}, fusion {args.fusion}, head {args.head}, "
          f"{torch.get_num_threads()} threads; forward + backward, median of {args.repeats}")
    results = {name: timed(step, args.warmup, args.repeats) for name, step in parts.items()}
    for name, ms in results.items():
        print(f"{name:<24}{ms:>9.1f} ms  {ms / results['control step']:>5.2f} x control")
    return results


if __name__ == "__main__":
    main()
