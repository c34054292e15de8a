"""Stage 1: train the teacher (image + shape: ``--shape PointCloud`` or ``--shape MultiView``) or the image-only
baseline (``--shape None``).

    python training.py --dataset ObjectNet3D --n_epoch 300 --lr 1e-4 --decrease 200 --random \
        --shape PointCloud --shape_dir pointcloud --shape_feature_dim 1024 --img_feature_dim 1024 --batch_size 160

Writes into the run directory (default ``result/<shape>_<dataset>[_novel][_shot<K>]``): ``args.json``,
``metrics.jsonl`` (one line per epoch), ``checkpoint.pth`` (every epoch, everything needed to resume),
``model_best.pth`` (best mean per-class val Acc30) and ``results_best.json``. Rerunning the same command
continues from ``checkpoint.pth``, also after ``--n_epoch`` was raised.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from auxiliary.angles import ViewpointCodec
from auxiliary.checkpoint import SHAPE_NAMES, CheckpointError, load_checkpoint
from engine.loop import Precision, TeacherObjective
from engine.runner import fit
from engine.schedule import make_optimizer, make_scheduler
from engine.options import data_parser, model_parser, train_parser
from engine.cli import run_cli
from engine.setup import start_run, training_module
from engine.data import check_views, make_dataset, make_loader, resolve_view_tour
from model.estimator import build_model, model_args_from, network_from_checkpoint, shape_of
from model.infonce import InfoNCE
from model.pose_loss import PoseLoss


EPILOG = """the paper's teacher (ObjectNet3D, supervised; --novel for zero-shot, then --shot 10 --model ... for 10-shot):
  python training.py --dataset ObjectNet3D --n_epoch 300 --lr 1e-4 --decrease 200 --random --shape PointCloud \\
      --shape_dir pointcloud --shape_feature_dim 1024 --img_feature_dim 1024 --batch_size 160
the image-only baseline: --shape None. A CPU try on the built-in synthetic data: make demo. Details: docs/training.md"""


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="3DAug-Pose stage 1: teacher or image-only baseline",
                                     parents=[data_parser(), model_parser(), train_parser()], add_help=add_help,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    g = parser.add_argument_group("teacher", "the teacher's own loss terms and starting point")
    g.add_argument("--model", default=None,
                        help="start from this checkpoint's weights (few-shot fine-tuning of a base-class model)")
    g.add_argument("--contrast_weight", type=float, default=0.5,
                        help="weight of the teacher's InfoNCE between image projection and fused feature "
                             "(0: the PoseFromShape teacher)")
    g.add_argument("--contrast_tau", type=float, default=0.1, help="temperature of that InfoNCE")
    return parser


def default_output_dir(args, shape) -> Path:
    name = f"{shape or 'None'}_{args.dataset}" + ("_novel" if args.novel else "")
    return Path("result") / (name + (f"_shot{args.shot}" if args.shot else ""))


def build_network(args, device):
    """The network: from ``--model`` (architecture from the file) or from the flags."""
    if args.model:
        checkpoint = load_checkpoint(args.model)
        model_args = checkpoint["model_args"]
        expected = "image" if args.shape is None else "teacher"
        if model_args["kind"] != expected or shape_of(model_args) != args.shape:
            raise CheckpointError(f"{args.model} holds {SHAPE_NAMES[shape_of(model_args)]}, but --shape {args.shape} "
                                  f"asks for {SHAPE_NAMES[args.shape]}")
        model = network_from_checkpoint(checkpoint, args.model)
        print(f"started from the weights of {args.model}")
    else:
        resolve_view_tour(args)
        model_args = model_args_from(args)
        model = build_model(model_args, pretrained=args.pretrained, init=args.init)
    return model.to(device), model_args


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    device = start_run(args, "training.py")
    precision = Precision.from_args(args, device)
    codec = ViewpointCodec(args.bin_size)
    model, model_args = build_network(args, device)
    model.heads.detach_offsets = args.offset_detach
    model, train_model = training_module(precision.prepare(model), args, device)
    shape = shape_of(model_args)
    train_set, val_set = make_dataset(args, "train", shape), make_dataset(args, "val", shape)
    check_views(model_args, train_set)
    # created once the data has loaded, so that bad input leaves no empty run directory behind
    output_dir = Path(args.output_dir) if args.output_dir else default_output_dir(args, shape)
    output_dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.dataset}: {len(train_set)} training samples of {len(train_set.class_names)} classes, "
          f"{len(val_set)} val samples of {len(val_set.class_names)} classes")
    train_loader = make_loader(train_set, args.batch_size, args.workers, True, device, args.seed)
    val_loader = make_loader(val_set, args.batch_size, args.workers, False, device)

    optimizer = make_optimizer(model.parameters(), args.optimizer, args.lr, args.weight_decay, args.decay_norm_bias)
    scheduler = make_scheduler(optimizer, len(train_loader), args.n_epoch, args.schedule, args.decrease, args.warmup)
    objective = TeacherObjective(PoseLoss(codec, args.offset_weight), InfoNCE(args.contrast_tau), args.contrast_weight)

    fit(args, model, model_args, train_loader, val_loader, optimizer, scheduler, objective, codec, device,
        output_dir, precision=precision, train_model=train_model)
    return output_dir


if __name__ == "__main__":
    run_cli(main)
