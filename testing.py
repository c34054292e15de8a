"""Evaluate a checkpoint (teacher or image-only network, read from the file) on a dataset's val split.

    python testing.py --dataset ObjectNet3D --model result/PointCloud_ObjectNet3D/model_best.pth --output_dir ObjectNet3D
    python testing.py --dataset Pix3D --shape None --model save_models/best_student.pt --img_feature_dim 2048

Writes ``predictions.csv`` (one row per sample; raw annotation angles in degrees), ``results.csv`` and
``results.json`` (per class n / Acc30 / MedErr, then the mean over classes and the pooled figures), the
figures ``per_class.png`` and ``error_cdf.png``, and prints the table. Input size, point count, point
normalisation and bin size come from the checkpoint unless given.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np

from auxiliary.angles import ViewpointCodec, label_to_raw
from auxiliary.checkpoint import SHAPE_NAMES, CheckpointError, load_checkpoint
from auxiliary.files import atomic_write_text
from engine.loop import Precision, evaluate
from auxiliary.metrics import format_table
from engine.options import FROM_CHECKPOINT, data_parser
from auxiliary.plots import plot_error_cdf, plot_per_class
from engine.cli import run_cli
from engine.setup import print_header, resolve_device
from engine.data import check_views, make_dataset, make_loader
from model.estimator import network_from_checkpoint, shape_of

EPILOG = """the paper's evaluation (the architecture, input size and shape input are read from the checkpoint):
  python testing.py --dataset ObjectNet3D --model result/PointCloud_ObjectNet3D/model_best.pth --output_dir ObjectNet3D
  python testing.py --dataset ObjectNet3D --shape None --model save_models/best_student.pt
zero-shot: add --novel (ObjectNet3D is always scored on its 20 novel classes). Details: docs/training.md"""


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="3DAug-Pose evaluation: per-class Acc30 / MedErr of a checkpoint",
                                     parents=[data_parser()], add_help=add_help,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    g = parser.add_argument_group("checkpoint", "the network to evaluate and where its results go")
    g.add_argument("--model", required=True, help="checkpoint to evaluate")
    g.add_argument("--output_dir", default=None, help="where the result files go (default: beside the checkpoint)")
    g.add_argument("--img_feature_dim", type=int, default=None, help="checked against the checkpoint if given")
    parser.set_defaults(shape=FROM_CHECKPOINT, input_dim=None, point_num=None, point_norm=None, bin_size=None)
    return parser


def resolve_settings(args, checkpoint) -> None:
    """Fill the settings left unset from the checkpoint, and refuse ones that contradict it."""
    model_args, trained = checkpoint["model_args"], checkpoint.get("data_args", {})
    kind = model_args["kind"]
    if args.shape != FROM_CHECKPOINT and args.shape != shape_of(model_args):
        raise CheckpointError(f"{args.model} holds {SHAPE_NAMES[shape_of(model_args)]}, but "
                              f"{SHAPE_NAMES[args.shape]} (--shape {args.shape}) was asked for")
    if args.img_feature_dim is not None and args.img_feature_dim != model_args["img_feature_dim"]:
        raise CheckpointError(f"{args.model} has img_feature_dim {model_args['img_feature_dim']}, "
                              f"not {args.img_feature_dim}")
    bins = int(360 // model_args["num_bins"][0])
    if args.bin_size is not None and args.bin_size != bins:
        raise CheckpointError(f"{args.model} was trained with --bin_size {bins}, not {args.bin_size}")
    args.bin_size = bins
    args.shape = shape_of(model_args)
    args.shape_dir = args.shape_dir or trained.get("shape_dir")
    args.input_dim = args.input_dim or trained.get("input_dim", 224)
    args.point_num = args.point_num or trained.get("point_num", 2500)
    args.point_norm = args.point_norm or trained.get("point_norm", "minmax")


def write_outputs(output_dir: Path, dataset, result: dict) -> None:
    predictions, indices, errors = result["predictions"], result["indices"], result["errors"]
    pred_raw = np.stack(label_to_raw(*predictions.T), 1)
    gt_raw = np.stack(label_to_raw(*dataset.labels()[indices].T), 1)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["im_path", "cat", "pred_azimuth", "pred_elevation", "pred_inplane", "gt_azimuth",
                     "gt_elevation", "gt_inplane", "error_deg"])
    for k, i in enumerate(indices):
        writer.writerow([dataset.im_paths[i], dataset.cats[i], *(f"{v:.4f}" for v in pred_raw[k]),
                         *(f"{v:.4f}" for v in gt_raw[k]), f"{errors[k]:.4f}"])
    atomic_write_text(output_dir / "predictions.csv", buffer.getvalue())
    table = result["table"]
    lines = ["class,n,acc30,mederr"] + [f"{c},{r['n']},{r['acc30']:.4f},{r['mederr']:.4f}"
                                        for c, r in table["classes"].items()]
    lines += [f"{name},{table[name]['n']},{table[name]['acc30']:.4f},{table[name]['mederr']:.4f}"
              for name in ("mean", "pooled")]
    atomic_write_text(output_dir / "results.csv", "\n".join(lines) + "\n")
    atomic_write_text(output_dir / "results.json", json.dumps(table, indent=2) + "\n")
    plot_per_class([output_dir / "results.json"], output_dir / "per_class.png")
    plot_error_cdf([output_dir / "predictions.csv"], output_dir / "error_cdf.png")


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    print_header("testing.py", args)
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.model)
    resolve_settings(args, checkpoint)
    precision = Precision.from_args(args, device)
    model = precision.prepare(network_from_checkpoint(checkpoint, args.model).to(device))
    dataset = make_dataset(args, "val", args.shape)
    check_views(checkpoint["model_args"], dataset)
    loader = make_loader(dataset, args.batch_size, args.workers, False, device)
    result = evaluate(model, loader, ViewpointCodec(args.bin_size), device, precision)
    output_dir = Path(args.output_dir) if args.output_dir else Path(args.model).parent / f"test_{args.dataset}"
    output_dir.mkdir(parents=True, exist_ok=True)
    write_outputs(output_dir, dataset, result)
    print(format_table(result["table"], f"{args.dataset} val split, {args.model}"))
    print(f"results written to {output_dir}")
    return result


if __name__ == "__main__":
    run_cli(main)
