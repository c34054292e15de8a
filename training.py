"""Stage 1: train the teacher (image + point cloud, ``--shape PointCloud``) or the image-only baseline (``--shape None``).

    python training.py --dataset ObjectNet3D --n_epoch 300 --lr 1e-4 --decrease 200 --random \
        --shape PointCloud --shape_dir pointcloud --shape_feature_dim 1024 --img_feature_dim 1024 --batch_size 160

Writes into the run directory (default ``result/<shape>_<dataset>[_novel][_shot<K>]``): ``args.json``,
``metrics.jsonl`` (one line per epoch), ``checkpoint.pth`` (every epoch, everything needed to resume),
``model_best.pth`` (best mean per-class val Acc30) and ``results_best.json``. Rerunning the same command
continues from ``checkpoint.pth``, also after ``--n_epoch`` was raised.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from auxiliary.angles import ViewpointCodec
from auxiliary.checkpoint import (CheckpointError, atomic_save, atomic_write_text, load_checkpoint,
                                  load_weights, FORMAT)
from auxiliary.engine import TeacherObjective, evaluate, train_one_epoch
from auxiliary.metrics import format_table
from auxiliary.options import data_parser, model_parser, train_parser
from auxiliary.utils import append_jsonl, print_header, read_jsonl, resolve_device, seed_everything
from dataset.loaders import make_dataset, make_loader
from model.estimator import build_model, model_args_from
from model.infonce import InfoNCE
from model.pose_loss import PoseLoss


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="3DAug-Pose stage 1: teacher or image-only baseline",
                                     parents=[data_parser(), model_parser(), train_parser()], add_help=add_help)
    parser.add_argument("--model", default=None,
                        help="start from this checkpoint's weights (few-shot fine-tuning of a base-class model)")
    parser.add_argument("--contrast_weight", type=float, default=0.5,
                        help="weight of the teacher's InfoNCE between image projection and fused feature "
                             "(0: the PoseFromShape teacher)")
    parser.add_argument("--contrast_tau", type=float, default=0.1, help="temperature of that InfoNCE")
    return parser


def default_output_dir(args, shape) -> Path:
    name = f"{shape or 'None'}_{args.dataset}" + ("_novel" if args.novel else "")
    return Path("result") / (name + (f"_shot{args.shot}" if args.shot else ""))


def data_args(args) -> dict:
    """The data settings a checkpoint needs to be evaluated as it was trained."""
    return {"dataset": args.dataset, "input_dim": args.input_dim, "point_num": args.point_num,
            "bin_size": args.bin_size, "shape_dir": args.shape_dir}


def training_state(model, optimizer, scheduler, epoch, best, model_args, args) -> dict:
    return {"format": FORMAT, "model_args": model_args, "data_args": data_args(args), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
            "best_acc30": best, "args": vars(args), "torch_rng": torch.get_rng_state()}


def build_network(args, device):
    """The network: from ``--model`` (architecture from the file) or from the flags."""
    if args.model:
        checkpoint = load_checkpoint(args.model)
        model_args = checkpoint["model_args"]
        expected = "image" if args.shape is None else "teacher"
        if model_args["kind"] != expected:
            raise CheckpointError(f"{args.model} holds a {model_args['kind']} network but --shape {args.shape} "
                                  f"asks for a {expected} network")
        model = build_model(model_args)
        load_weights(model, checkpoint["model"], args.model)
        print(f"started from the weights of {args.model}")
    else:
        model_args = model_args_from(args)
        model = build_model(model_args, pretrained=args.pretrained)
    return model.to(device), model_args


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    print_header("training.py", args)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    codec = ViewpointCodec(args.bin_size)
    model, model_args = build_network(args, device)
    shape = "PointCloud" if model_args["kind"] == "teacher" else None
    output_dir = Path(args.output_dir) if args.output_dir else default_output_dir(args, shape)
    output_dir.mkdir(parents=True, exist_ok=True)

    train_set, val_set = make_dataset(args, "train", shape), make_dataset(args, "val", shape)
    print(f"{args.dataset}: {len(train_set)} training samples of {len(train_set.class_names)} classes, "
          f"{len(val_set)} val samples of {len(val_set.class_names)} classes")
    train_loader = make_loader(train_set, args.batch_size, args.workers, True, device, args.seed)
    val_loader = make_loader(val_set, args.batch_size, args.workers, False, device)

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[args.decrease], gamma=0.1)
    objective = TeacherObjective(PoseLoss(codec), InfoNCE(args.contrast_tau), args.contrast_weight)

    start_epoch, best = 0, float("-inf")
    resume = Path(args.resume) if args.resume else output_dir / "checkpoint.pth"
    if args.resume or resume.is_file():
        state = load_checkpoint(resume, kind=model_args["kind"])
        load_weights(model, state["model"], resume)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, best = state["epoch"] + 1, state["best_acc30"]
        print(f"resumed from {resume} at epoch {start_epoch} (best val Acc30 so far {best:.2f})")
    # keep the log consistent with the checkpoint: drop lines of epochs that will be trained again
    metrics_path = output_dir / "metrics.jsonl"
    kept = [r for r in read_jsonl(metrics_path) if r["epoch"] < start_epoch]
    atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
    atomic_write_text(output_dir / "args.json", json.dumps(vars(args), indent=2) + "\n")

    result = None
    for epoch in range(start_epoch, args.n_epoch):
        start = time.time()
        lr = optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(model, train_loader, optimizer, objective, codec, device, epoch, args.print_freq)
        scheduler.step()
        result = evaluate(model, val_loader, codec, device)
        table = result["table"]
        improved = table["mean"]["acc30"] > best
        if improved:
            best = table["mean"]["acc30"]
            atomic_save({"format": FORMAT, "model_args": model_args, "data_args": data_args(args),
                         "model": model.state_dict(), "epoch": epoch, "val": table, "args": vars(args)},
                        output_dir / "model_best.pth")
            atomic_write_text(output_dir / "results_best.json", json.dumps({"epoch": epoch, **table}, indent=2))
        atomic_save(training_state(model, optimizer, scheduler, epoch, best, model_args, args),
                    output_dir / "checkpoint.pth")
        record = {"epoch": epoch, "lr": lr, "time_s": round(time.time() - start, 2), "train": stats,
                  "val": {"acc30": table["mean"]["acc30"], "mederr": table["mean"]["mederr"],
                          "pooled_acc30": table["pooled"]["acc30"], "pooled_mederr": table["pooled"]["mederr"]},
                  "best_acc30": best}
        append_jsonl(metrics_path, record)
        print(f"epoch {epoch}: train loss {stats['loss']:.4f} | val Acc30 {table['mean']['acc30']:.2f} "
              f"MedErr {table['mean']['mederr']:.2f} | best {best:.2f}{' (new best)' if improved else ''} "
              f"| {record['time_s']:.0f} s", flush=True)
    if result is not None:
        print(format_table(result["table"], f"val split, last epoch ({args.n_epoch - 1})"))
    print(f"run directory: {output_dir}")
    return output_dir


if __name__ == "__main__":
    main()
