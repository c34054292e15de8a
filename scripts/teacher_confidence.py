"""How sure is a network of its bins? The soft targets a student's KL terms pull it towards.

    python scripts/teacher_confidence.py --dataset SyntheticMany --data_dir data/SyntheticMany --novel --eval_base \
        --model result/shape/tuning/seed1/novel_image.e15/model_best.pth --output confidence.json

Runs a checkpoint (a teacher, or an image-only network) over the val split (``--split train``: the training
images, without augmentation) and reports, for each of the three classification heads (azimuth, elevation,
in-plane rotation), the mean probability of its top bin and the mean entropy of its softmax at temperature
``--kd_T`` (the KL terms' temperature, default 1), as a fraction of the uniform distribution's (1: no preference
among the bins; 0: one bin), and the accuracy of the top bin. Two teachers of equal Acc30 can give students very
different targets: one that is unsure hands out near-uniform distributions.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import testing  # noqa: E402
from auxiliary.angles import ViewpointCodec  # noqa: E402
from auxiliary.checkpoint import load_checkpoint  # noqa: E402
from auxiliary.files import atomic_write_text  # noqa: E402
from engine.cli import run_cli  # noqa: E402
from engine.data import make_dataset, make_loader  # noqa: E402
from engine.loop import to_device  # noqa: E402
from engine.setup import resolve_device  # noqa: E402
from model.estimator import network_from_checkpoint, shape_input  # noqa: E402

HEADS = ("azimuth", "elevation", "inplane")


@torch.no_grad()
def confidence(model, loader, codec: ViewpointCodec, device, kd_T: float = 1.0) -> dict:
    """{head: {top_prob, entropy (fraction of log(bins)), top_bin_acc}} over every sample of ``loader``."""
    model.eval()
    sums = {head: {"top_prob": 0.0, "entropy": 0.0, "top_bin_acc": 0.0} for head in HEADS}
    count = 0
    for batch in loader:
        batch = to_device(batch, device)
        logits = model(batch["image"], shape_input(batch))["outputs"][:3]
        bins = codec.encode(batch["label"])[0]  # (B, 3) bin indices
        for i, (head, z) in enumerate(zip(HEADS, logits)):
            p = torch.softmax(z.float() / kd_T, dim=1)
            entropy = -(p * p.clamp_min(1e-12).log()).sum(1) / math.log(z.shape[1])
            sums[head]["top_prob"] += p.max(1).values.sum().item()
            sums[head]["entropy"] += entropy.sum().item()
            sums[head]["top_bin_acc"] += (z.argmax(1) == bins[:, i]).float().sum().item()
        count += len(batch["image"])
    return {head: {k: v / count for k, v in row.items()} for head, row in sums.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     parents=[testing.get_args_parser(add_help=False)])
    parser.add_argument("--split", default="val", choices=["val", "train"])
    parser.add_argument("--kd_T", type=float, default=1.0, help="softmax temperature (the KL terms')")
    parser.add_argument("--output", default=None, help="write the table here as JSON")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.model)
    testing.resolve_settings(args, checkpoint)
    args.augment = "none"  # the training images as they are, not as augmented
    model = network_from_checkpoint(checkpoint, args.model).to(device)
    dataset = make_dataset(args, args.split, args.shape)
    loader = make_loader(dataset, args.batch_size, args.workers, False, device)
    rows = confidence(model, loader, ViewpointCodec(args.bin_size), device, args.kd_T)
    print(f"{args.model} on the {args.split} split of {args.dataset} ({len(dataset)} samples, T {args.kd_T:g})")
    print(f"{'head':<11}{'top prob':>10}{'entropy':>9}{'top bin acc':>13}")
    for head, row in rows.items():
        print(f"{head:<11}{row['top_prob']:10.3f}{row['entropy']:9.3f}{row['top_bin_acc']:13.3f}")
    if args.output:
        atomic_write_text(Path(args.output), json.dumps({"model": str(args.model), "split": args.split,
                                                         "kd_T": args.kd_T, "heads": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    run_cli(main)
