"""Throughput of the input pipeline and of the training and evaluation steps, on the current device.

    python benchmarks/throughput.py                                  # synthetic data, CPU or the GPU if any
    python benchmarks/throughput.py --device cuda --batch_size 160 --amp --channels_last --json bench.json

For the teacher step (image + point cloud, pose loss + InfoNCE) and the distillation step (frozen teacher
forward + student forward/backward + CRD with in-batch negatives, or with ``--crd_negatives memory`` CRD's
memory bank and its update), in samples per second:

* ``loader_sps``: the training DataLoader alone at ``--workers``;
* ``model_sps``: the step alone on one batch already on the device (image finishing, forward, backward,
  optimizer step);
* ``full_sps``: loader + transfer + step, as in training;
* ``eval_sps``: evaluation (val loader + forward) images per second;
* ``peak_mem_mb``: on CUDA the peak allocated memory of the stage; on a CPU the process's peak resident set
  (a high-water mark over the whole run).

The teacher stage also times ``reference_loader_sps``: a loader written the reference code's way
(:mod:`benchmarks.reference_loader`) on the same data, one process (``--reference_workers``). Every figure
is the median of ``--repeats`` timed windows of ``--batches`` batches each, after ``--warmup`` batches; the
device is synchronised at the ends of a window only. A benchmark, not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auxiliary.angles import ViewpointCodec  # noqa: E402
from auxiliary.files import atomic_write_text  # noqa: E402
from engine.loop import Precision, TeacherObjective, to_device  # noqa: E402
from engine.setup import resolve_device  # noqa: E402
from dataset.classes import DATASETS  # noqa: E402
from engine.data import make_dataset, make_loader  # noqa: E402
from dataset.transforms import AUGMENTATIONS  # noqa: E402
from model.crd import NEGATIVE_DEFAULTS, NEGATIVES, CRDLoss  # noqa: E402
from model.distill import DistillObjective, freeze  # noqa: E402
from model.encoders import IMAGE_BACKBONES  # noqa: E402
from model.estimator import build_model  # noqa: E402
from model.infonce import InfoNCE  # noqa: E402
from model.pose_loss import PoseLoss  # noqa: E402


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="Synthetic", choices=sorted(DATASETS))
    p.add_argument("--data_dir", default=None, help="dataset root (default: data/<dataset>; the synthetic set)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--input_dim", type=int, default=224)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--img_encoder", default="resnet50", choices=IMAGE_BACKBONES, help="the teacher's image encoder")
    p.add_argument("--student_encoder", default="resnet50", choices=IMAGE_BACKBONES)
    p.add_argument("--img_feature_dim", type=int, default=1024, help="teacher image feature")
    p.add_argument("--shape_feature_dim", type=int, default=1024)
    p.add_argument("--student_feature_dim", type=int, default=2048)
    p.add_argument("--point_num", type=int, default=2500)
    p.add_argument("--augment", default="reference", choices=AUGMENTATIONS)
    p.add_argument("--crd_negatives", default="batch", choices=NEGATIVES,
                   help="the student's CRD negatives (trainingKD.py's default: the batch; memory: CRD's bank)")
    p.add_argument("--nce_k", type=int, default=16384, help="memory negatives per anchor (--crd_negatives memory)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--reference_workers", type=int, default=0, help="workers of the reference-style loader")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--amp_dtype", default="bf16", choices=["bf16", "fp16"])
    p.add_argument("--channels_last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the trained network")
    p.add_argument("--batches", type=int, default=10, help="batches per timed window")
    p.add_argument("--repeats", type=int, default=3, help="timed windows per figure (the median is reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches before the windows")
    p.add_argument("--stages", nargs="+", default=["teacher", "student"], choices=["teacher", "student"])
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    # the dataset helpers read these training flags
    args.shape_dir, args.bin_size, args.novel, args.keypoint, args.shot = "pointcloud", 15, False, False, None
    args.random, args.random_range, args.skip_bad = False, 0, False
    return args


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def endless(loader):
    while True:
        yield from loader


def timed(run_batch, args, device, batch_size) -> float:
    """Median samples per second over ``--repeats`` windows of ``--batches`` calls, after ``--warmup`` calls."""
    for _ in range(args.warmup):
        run_batch()
    synchronize(device)
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.batches):
            run_batch()
        synchronize(device)
        rates.append(args.batches * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def measure_stage(args, device, precision, model, train_model, objective, optimizer, loader, eval_model,
                  eval_loader) -> dict:
    batches = endless(loader)
    # the loader alone (collated batches in host memory)
    loader_sps = timed(lambda: next(batches), args, device, args.batch_size)

    # the step alone, on one batch already on the device
    resident = {k: v.to(device) if torch.is_tensor(v) else v for k, v in next(batches).items()}

    def step(batch):
        batch = to_device(batch, device, precision.memory_format)
        with precision.autocast():
            loss, _, _ = objective(train_model, batch)
        precision.backward_step(loss, optimizer)

    model.train()
    reset_peak(device)
    model_sps = timed(lambda: step(dict(resident)), args, device, args.batch_size)
    full_sps = timed(lambda: step(next(batches)), args, device, args.batch_size)
    memory = peak_mb(device)

    eval_model.eval()
    eval_batches = endless(eval_loader)

    @torch.inference_mode()
    def evaluate_batch():
        batch = to_device(next(eval_batches), device, precision.memory_format)
        with precision.autocast():
            eval_model(batch["image"], batch.get("points"))

    eval_sps = timed(evaluate_batch, args, device, args.batch_size)
    return {"loader_sps": loader_sps, "model_sps": model_sps, "full_sps": full_sps, "eval_sps": eval_sps,
            "peak_mem_mb": memory}


def teacher_args(args) -> dict:
    return {"kind": "teacher", "img_encoder": args.img_encoder, "img_feature_dim": args.img_feature_dim,
            "shape_feature_dim": args.shape_feature_dim, "fusion": "deform", "num_bins": [24, 12, 24]}


def main(argv=None) -> dict:
    args = get_args(argv)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = True
    precision = Precision(device, args.amp, args.amp_dtype, args.channels_last)
    codec = ViewpointCodec(15)
    train_set = make_dataset(args, "train", "PointCloud")
    val_teacher, val_image = make_dataset(args, "val", "PointCloud"), make_dataset(args, "val", None)
    loader = make_loader(train_set, args.batch_size, args.workers, True, device, args.seed)
    results = {}

    if "teacher" in args.stages:
        model = precision.prepare(build_model(teacher_args(args)).to(device))
        train_model = torch.compile(model) if args.compile else model
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        objective = TeacherObjective(PoseLoss(codec), InfoNCE(0.1), 0.5)
        eval_loader = make_loader(val_teacher, args.batch_size, args.workers, False, device)
        results["teacher"] = measure_stage(args, device, precision, model, train_model, objective, optimizer, loader,
                                           model, eval_loader)
        from benchmarks.reference_loader import ReferenceStyleDataset
        reference = ReferenceStyleDataset(train_set.root, args.dataset, args.input_dim, args.point_num)
        reference_loader = torch.utils.data.DataLoader(reference, batch_size=args.batch_size, shuffle=True,
                                                       num_workers=args.reference_workers,
                                                       persistent_workers=args.reference_workers > 0)
        ours = make_loader(train_set, args.batch_size, args.reference_workers, True, device, args.seed)
        reference_batches, our_batches = endless(reference_loader), endless(ours)
        results["teacher"]["reference_loader_sps"] = timed(lambda: next(reference_batches), args, device,
                                                           args.batch_size)
        results["teacher"]["loader_same_workers_sps"] = timed(lambda: next(our_batches), args, device,
                                                              args.batch_size)
        del model, train_model, optimizer

    if "student" in args.stages:
        teacher = precision.prepare(freeze(build_model(teacher_args(args)).to(device)))
        student = precision.prepare(build_model({"kind": "image", "img_encoder": args.student_encoder,
                                                 "img_feature_dim": args.student_feature_dim,
                                                 "num_bins": [24, 12, 24]}).to(device))
        objective, positive = NEGATIVE_DEFAULTS[args.crd_negatives]
        crd = CRDLoss(200, 200, num_samples=len(train_set), nce_k=args.nce_k, weighting="linear",
                      poses=torch.from_numpy(train_set.labels()).float(), negatives=args.crd_negatives,
                      objective=objective, positive=positive).to(device)
        train_model = torch.compile(student) if args.compile else student
        optimizer = torch.optim.Adam(list(student.parameters()) + list(crd.parameters()), lr=1e-4)
        objective = DistillObjective(teacher, PoseLoss(codec), crd)
        eval_loader = make_loader(val_image, args.batch_size, args.workers, False, device)
        results["student"] = measure_stage(args, device, precision, student, train_model, objective, optimizer,
                                           loader, student, eval_loader)

    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    settings = {k: getattr(args, k) for k in ("dataset", "input_dim", "batch_size", "img_encoder", "student_encoder",
                                             "workers", "amp", "amp_dtype", "channels_last", "compile", "crd_negatives",
                                             "nce_k")}
    print(f"device: {device.type} ({machine}) | torch {torch.__version__} | "
          + " ".join(f"{k}={v}" for k, v in settings.items()))
    columns = ("loader_sps", "model_sps", "full_sps", "eval_sps", "peak_mem_mb")
    print(f"{'stage':<9}" + "".join(f"{c:>14}" for c in columns) + f"{'full/model':>12}")
    for stage, row in results.items():
        print(f"{stage:<9}" + "".join(f"{row[c]:>14.1f}" for c in columns) + f"{row['full_sps'] / row['model_sps']:>12.2f}")
    if "teacher" in results:
        t = results["teacher"]
        print(f"loader, {args.reference_workers} worker(s): ours {t['loader_same_workers_sps']:.0f} samples/s, "
              f"reference-style {t['reference_loader_sps']:.0f} samples/s "
              f"({t['loader_same_workers_sps'] / t['reference_loader_sps']:.2f}x)")
    if args.json:
        atomic_write_text(args.json, json.dumps({**results, "device": machine, "date": datetime.date.today().isoformat(),
                                                   "settings": settings}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
