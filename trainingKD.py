"""Stage 2: distil a frozen teacher (image + point cloud) into an image-only student.

An image-only network is also accepted as the teacher: the control that separates what a teacher's 3D knowledge
gives from what any teacher of its accuracy gives.

    python trainingKD.py --dataset ObjectNet3D --shape PointCloud --shape_dir pointcloud --batch_size 46 \
        --lr 1e-4 --n_epoch 60 --decrease 44 --teacher_model result/PointCloud_ObjectNet3D/model_best.pth \
        --crd --tau 0.5 --weighting linear

Loss: ``--alpha`` x pose loss + ``--beta`` x contrastive representation distillation (``--crd``; the other
samples of the batch as negatives, or with ``--crd_negatives memory`` CRD's memory bank and ``--nce_k`` negatives,
weighted by pose distance either way, see :mod:`model.crd`) + ``--gamma`` x KL on the six heads at
temperature ``--kd_T`` + ``--embed_kl`` x KL between the 200-d embeddings. Without ``--crd`` and with
``--gamma 0 --embed_kl 0 --alpha 1`` it trains the student on the pose loss alone, under the same budget, for
comparison. The defaults (alpha 0.25, gamma 0.75, T 1, embed_kl 0.75) are the KL terms the public reference's
``--crd`` path computes; with ``--crd`` the student gets CRD on top of them, the best recipe of
docs/experiments/claims.md.

Writes into ``--output_dir`` (default ``save_models``): ``best_student.pt`` (the best student by mean
per-class val Acc30, read by ``testing.py --shape None --model save_models/best_student.pt``), ``checkpoint.pth``
(every epoch, with the optimizer, schedule, CRD embedding heads and any memory banks: rerunning the command
resumes), ``args.json``, ``metrics.jsonl`` and ``results_best.json``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from engine import distributed
from auxiliary.angles import ViewpointCodec
from auxiliary.checkpoint import CheckpointError, load_checkpoint
from engine.loop import Precision, evaluate
from auxiliary.errors import InputError
from auxiliary.metrics import format_table
from engine.options import FROM_CHECKPOINT, data_parser, train_parser
from engine.runner import fit
from engine.schedule import make_optimizer, make_scheduler
from engine.cli import run_cli
from engine.setup import start_run, training_module
from engine.data import check_views, make_dataset, make_loader
from model.crd import NEGATIVE_DEFAULTS, NEGATIVES, OBJECTIVES, POSITIVES, WEIGHTINGS
from model.distill import DistillObjective, freeze
from model.encoders import IMAGE_BACKBONES
from model.estimator import FEATURE_DIM, HEADS, INITS, build_model, network_from_checkpoint, shape_of
from model.pose_loss import PoseLoss


EPILOG = """the paper's student (CRD from the frozen teacher, on top of the reference's KL terms):
  python trainingKD.py --dataset ObjectNet3D --shape PointCloud --shape_dir pointcloud --batch_size 46 --lr 1e-4 \\
      --n_epoch 60 --decrease 44 --teacher_model result/PointCloud_ObjectNet3D/model_best.pth \\
      --crd --tau 0.5 --weighting linear
pose loss alone: --alpha 1 --gamma 0 --embed_kl 0 (without --crd). Details: docs/training.md"""


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="3DAug-Pose stage 2: distil the teacher into an image-only student",
                                     parents=[data_parser(), train_parser()], add_help=add_help,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    parser.set_defaults(n_epoch=60, decrease=44, output_dir="save_models", input_dim=None, point_num=None,
                        point_norm=None, shape=FROM_CHECKPOINT)
    g = parser.add_argument_group("teacher", "the frozen teacher (its architecture and shape input come from its checkpoint)")
    g.add_argument("--teacher_model", required=True, help="the teacher's checkpoint (from training.py)")
    g.add_argument("--teacher_feature", default="fused", choices=["fused", "image"],
                   help="teacher representation distilled by CRD: the fused 3D-augmented feature or its image projection")
    g.add_argument("--shape_feature_dim", type=int, default=None, help="checked against the teacher if given")
    g = parser.add_argument_group("student", "the image-only network being trained")
    g.add_argument("--student_encoder", default="resnet50", choices=IMAGE_BACKBONES, help="the student's backbone")
    g.add_argument("--img_feature_dim", type=int, default=2048, help="the student's backbone output width")
    g.add_argument("--head", default="linear", choices=HEADS,
                   help="the student's way to the feature its heads read: the reference's MLP to 200, linear (the "
                        "backbone's last layer maps straight to 200) or direct (the backbone's pooled feature)")
    g.add_argument("--student_model", default=None, help="start the student from this image-only checkpoint")
    g.add_argument("--init", default="torchvision", choices=INITS, help="initialisation of a student trained from scratch")
    g.add_argument("--pretrained", action="store_true", help="ImageNet weights for the student's backbone (downloads)")
    g = parser.add_argument_group("distillation", "alpha x pose loss + beta x CRD + gamma x KL on the heads + embed_kl x KL on the embeddings")
    g.add_argument("--alpha", type=float, default=0.25,
                   help="weight of the pose loss (ground truth); 1 with --gamma 0 --embed_kl 0: the pose loss alone")
    g.add_argument("--beta", type=float, default=0.8, help="weight of the contrastive distillation (with --crd)")
    g.add_argument("--gamma", type=float, default=0.75,
                   help="weight of the KL on the six head outputs (the public reference's 0.75)")
    g.add_argument("--kd_T", type=float, default=1.0, help="temperature of that KL (the reference's 1; RepDistiller's 4)")
    g.add_argument("--embed_kl", type=float, default=0.75,
                   help="weight of the KL between teacher and student 200-d embeddings (the reference's second KL)")
    g.add_argument("--crd", action="store_true", help="contrastive representation distillation")
    g.add_argument("--crd_negatives", default="batch", choices=NEGATIVES,
                   help="the negatives of an anchor: the other side's live embeddings of the rest of the batch (the "
                        "default, with the live positive and the infonce objective: the best student of the "
                        "synthetic comparison, docs/experiments/claims.md) or --nce_k rows of a memory bank (CRD's)")
    g.add_argument("--crd_objective", default=None, choices=OBJECTIVES,
                   help="infonce (the softmax form; the only form with in-batch negatives) or nce (CRD's; the "
                        "default with --crd_negatives memory)")
    g.add_argument("--crd_positive", default=None, choices=POSITIVES,
                   help="the positive of an anchor: its memory row (CRD's and the default with memory negatives; "
                        "refreshed once an epoch, random in the first) or the other side's live embedding of the "
                        "same sample (collapses with memory negatives on the synthetic sets; the only "
                        "positive of in-batch negatives)")
    g.add_argument("--tau", type=float, default=0.5,
                   help="contrastive temperature: the original README's 0.5 (PoseContrast's); CRD's own is 0.07 "
                        "(docs/experiments/learning.md: better on one synthetic set, not on the other)")
    g.add_argument("--weighting", default="linear", choices=WEIGHTINGS,
                   help="weight of each negative by its pose distance to the anchor (none: plain CRD)")
    g.add_argument("--feat_dim", type=int, default=128, help="CRD embedding width")
    g.add_argument("--nce_k", type=int, default=16384,
                   help="memory negatives per anchor (at most training-set size - 1; --crd_negatives memory)")
    g.add_argument("--nce_m", type=float, default=0.5, help="memory-bank momentum (--crd_negatives memory)")
    g.add_argument("--z_momentum", type=float, default=0.99, help="momentum of the NCE normaliser's running estimate")
    return parser


def resolve_crd_args(args) -> None:
    """Fill the CRD objective and positive that follow the negatives, and refuse the combinations that do not go."""
    batch = args.crd_negatives == "batch"
    for name, fits in zip(("crd_objective", "crd_positive"), NEGATIVE_DEFAULTS[args.crd_negatives]):
        if getattr(args, name) is None:
            setattr(args, name, fits)
        elif batch and getattr(args, name) != fits:
            raise InputError(f"--crd_negatives batch takes --{name} {fits}, not {getattr(args, name)} (add "
                             f"--crd_negatives memory for CRD's memory bank)")
    if args.crd and not batch and args.skip_bad and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # a dropped image would leave the processes with batches of different sizes, which the gather of the
        # global batch for the memory update does not allow
        raise InputError("--skip_bad cannot be combined with --crd --crd_negatives memory under torchrun (use the "
                         "in-batch negatives, or fix the data: python -m dataset.check)")


def load_teacher(args, device):
    """The frozen teacher: a network that reads shapes, or an image-only network (no shape is loaded then: the
    control that tells what distillation gives without 3D knowledge)."""
    checkpoint = load_checkpoint(args.teacher_model)
    model_args = checkpoint["model_args"]
    teacher_shape = shape_of(model_args)
    if args.shape is None and teacher_shape is not None:
        raise InputError("trainingKD.py gives the teacher the shapes it reads: leave --shape out (the teacher's own is "
                         "used; the student never sees shapes; test it with testing.py --shape None)")
    if args.shape not in (FROM_CHECKPOINT, None) and args.shape != teacher_shape:
        raise CheckpointError(f"{args.teacher_model} reads {teacher_shape or 'no'} shapes, not {args.shape}")
    args.shape = teacher_shape
    if (args.shape_feature_dim is not None and teacher_shape == "PointCloud"
            and args.shape_feature_dim != model_args["shape_feature_dim"]):
        raise CheckpointError(f"{args.teacher_model} has shape_feature_dim {model_args['shape_feature_dim']}, "
                              f"not {args.shape_feature_dim}")
    bins = int(360 // model_args["num_bins"][0])
    if bins != args.bin_size:
        raise CheckpointError(f"{args.teacher_model} was trained with --bin_size {bins}, not {args.bin_size}")
    teacher = network_from_checkpoint(checkpoint, args.teacher_model)
    # the teacher's input size and point count, unless given: the student is trained on the same crops
    trained = checkpoint.get("data_args", {})
    args.input_dim = args.input_dim or trained.get("input_dim", 224)
    args.point_num = args.point_num or trained.get("point_num", 2500)
    args.point_norm = args.point_norm or trained.get("point_norm", "minmax")
    args.shape_dir = args.shape_dir or trained.get("shape_dir")
    return freeze(teacher.to(device)), model_args


def build_student(args, device):
    model_args = {"kind": "image", "img_encoder": args.student_encoder, "img_feature_dim": args.img_feature_dim,
                  "num_bins": [int(span // args.bin_size) for span in (360, 180, 360)], "head": args.head}
    if args.student_model:
        checkpoint = load_checkpoint(args.student_model, kind="image")
        model_args = checkpoint["model_args"]
        student = network_from_checkpoint(checkpoint, args.student_model)
        print(f"student starts from {args.student_model}")
    else:
        student = build_model(model_args, pretrained=args.pretrained, init=args.init)
    return student.to(device), model_args


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    resolve_crd_args(args)
    device = start_run(args, "trainingKD.py")
    precision = Precision.from_args(args, device)
    codec = ViewpointCodec(args.bin_size)

    teacher, teacher_args = load_teacher(args, device)
    student, student_args = build_student(args, device)
    student.heads.detach_offsets = args.offset_detach
    # the lengths of the two representations CRD compares (the embeddings are 200-d; a feature's length is the
    # network's: 200, or the backbone's own with --head direct)
    student_dim = student.feature_dim
    teacher_dim = teacher.feature_dim if args.teacher_feature == "fused" else FEATURE_DIM
    teacher = precision.prepare(teacher)
    student, train_student = training_module(precision.prepare(student), args, device)
    train_set = make_dataset(args, "train", args.shape)
    check_views(teacher_args, train_set)
    teacher_val = make_dataset(args, "val", args.shape)
    val_set = make_dataset(args, "val", None)
    # created once the teacher and the data have loaded, so that bad input leaves no empty run directory behind
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.dataset}: {len(train_set)} training samples, {len(val_set)} val samples; teacher "
          f"{teacher_args['img_encoder']} + {args.shape or 'no shape'}, student {student_args['img_encoder']}")
    train_loader = make_loader(train_set, args.batch_size, args.workers, True, device, args.seed)
    val_loader = make_loader(val_set, args.batch_size, args.workers, False, device)

    check = evaluate(teacher, make_loader(teacher_val, args.batch_size, args.workers, False, device), codec, device,
                     precision)
    print(format_table(check["table"], f"teacher {args.teacher_model} on the val split (sanity check)"))

    crd = None
    if args.crd:
        crd = distributed.DistributedCRDLoss(
            student_dim=student_dim, teacher_dim=teacher_dim, num_samples=len(train_set), feat_dim=args.feat_dim, nce_k=args.nce_k,
            tau=args.tau, momentum=args.nce_m, objective=args.crd_objective, weighting=args.weighting,
            z_momentum=args.z_momentum, poses=torch.from_numpy(train_set.labels()).float(), seed=args.seed,
            positive=args.crd_positive, negatives=args.crd_negatives).to(device)
        distributed.broadcast_module(crd)  # rank 0's random memory banks on every rank
        if args.crd_negatives == "memory":
            negatives = f"{crd.k} memory negatives per anchor (memory {len(train_set)} x {args.feat_dim}, x2)"
        else:
            negatives = f"in-batch negatives ({args.batch_size - 1} per anchor)"
        print(f"CRD: {args.crd_objective} objective, {args.crd_positive} positive, {negatives}, "
              f"tau {args.tau}, weighting {args.weighting}")
    objective = DistillObjective(teacher, PoseLoss(codec, args.offset_weight), crd, alpha=args.alpha, beta=args.beta, gamma=args.gamma,
                                 kd_T=args.kd_T, embed_kl=args.embed_kl, teacher_feature=args.teacher_feature)
    parameters = list(student.parameters()) + (list(crd.parameters()) if crd is not None else [])
    optimizer = make_optimizer(parameters, args.optimizer, args.lr, args.weight_decay, args.decay_norm_bias)
    scheduler = make_scheduler(optimizer, len(train_loader), args.n_epoch, args.schedule, args.decrease, args.warmup)
    fit(args, student, student_args, train_loader, val_loader, optimizer, scheduler, objective, codec, device,
        output_dir, best_name="best_student.pt", extra_modules={"crd": crd}, precision=precision,
        train_model=train_student)
    return output_dir


if __name__ == "__main__":
    run_cli(main)
