"""The control: the simplest loop that could estimate viewpoints, to judge how well our networks learn.

    python benchmarks/plain_loop.py --dataset Synthetic --input_dim 64 --n_epoch 10 --output_dir result/control

A plain torchvision ResNet whose classifier has 24 + 12 + 24 outputs (the azimuth, elevation and in-plane bin
logits), trained from scratch with the sum of the three cross-entropies, Adam at a constant learning rate (L2
weight decay; ``--schedule cosine`` decays it to 0 per step, with the same formula as our scripts), no
augmentation: the crops are the evaluation crops of the same tables (the box, resized and
padded to ``--input_dim``), decoded once and held in memory. A prediction is the centre of each arg-max bin.
After every epoch the val split is scored with the project's metric code, printed, and appended to
``metrics.jsonl`` in the scripts' format, so ``python -m auxiliary.plots curves`` draws it beside our runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auxiliary.angles import ViewpointCodec  # noqa: E402
from auxiliary.files import append_jsonl, atomic_write_text  # noqa: E402
from auxiliary.metrics import ACC_THRESHOLD_DEG, format_table, per_class_table  # noqa: E402
from auxiliary.rotation import label_geodesic_error  # noqa: E402
from dataset.classes import DATASETS  # noqa: E402
from engine.data import data_root  # noqa: E402
from engine.schedule import make_scheduler  # noqa: E402
from dataset.transforms import normalize_batch  # noqa: E402
from dataset.viewpoint import ViewpointDataset  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="Synthetic", choices=sorted(DATASETS))
    p.add_argument("--data_dir", default=None)
    p.add_argument("--novel", action="store_true", help="train without the novel classes, evaluate on them")
    p.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet34", "resnet50"])
    p.add_argument("--input_dim", type=int, default=64)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight_decay", type=float, default=5e-4)
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                   help="constant learning rate, or cosine decay to 0 over the run (stepped per batch)")
    p.add_argument("--n_epoch", type=int, default=10)
    p.add_argument("--bin_size", type=int, default=15)
    p.add_argument("--workers", type=int, default=2, help="processes that decode the crops (once)")
    p.add_argument("--seed", type=int, default=46)
    p.add_argument("--output_dir", default="result/control")
    return p


def load_split(args, split: str):
    """Every crop of a split as one uint8 tensor (N, 3, D, D), with its labels (N, 3) and dataset."""
    dataset = ViewpointDataset(data_root(args), args.dataset, split, input_dim=args.input_dim, augment=False,
                               novel=args.novel, seed=args.seed)
    images, labels = [], []
    for batch in DataLoader(dataset, batch_size=256, num_workers=args.workers):
        images.append(batch["image"])
        labels.append(batch["label"])
    return torch.cat(images), torch.cat(labels), dataset


def predict(model, images: torch.Tensor, codec: ViewpointCodec, batch_size: int = 256) -> torch.Tensor:
    """Label-space degrees (N, 3): the centre of the arg-max bin of each angle."""
    model.eval()
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = model(normalize_batch(images[start:start + batch_size]))
            bins = torch.stack([chunk.argmax(1) for chunk in logits.split(codec.num_bins, dim=1)], dim=1)
            predictions.append(codec.decode_bins(bins, torch.zeros(bins.shape)))
    return torch.cat(predictions)


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    torch.manual_seed(args.seed)
    codec = ViewpointCodec(args.bin_size)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "args.json", json.dumps(vars(args), indent=2) + "\n")
    metrics = out / "metrics.jsonl"
    metrics.unlink(missing_ok=True)  # the control always runs from scratch (it is short)

    train_images, train_labels, _ = load_split(args, "train")
    val_images, val_labels, val_set = load_split(args, "val")
    train_bins = codec.encode(train_labels)[0]
    print(f"{args.dataset}: {len(train_images)} train and {len(val_images)} val crops at {args.input_dim} px")

    model = getattr(torchvision.models, args.arch)(num_classes=sum(codec.num_bins))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed)
    steps = len(train_images) // args.batch_size  # drop the last partial batch, as our training loaders do
    scheduler = make_scheduler(optimizer, steps, args.n_epoch, "cosine") if args.schedule == "cosine" else None
    best = float("-inf")
    for epoch in range(args.n_epoch):
        start = time.time()
        model.train()
        order = torch.randperm(len(train_images), generator=generator)
        lr = optimizer.param_groups[0]["lr"]
        loss_sum, correct = 0.0, 0
        for step in range(steps):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            logits = model(normalize_batch(train_images[batch]))
            loss = sum(F.cross_entropy(chunk, train_bins[batch, k])
                       for k, chunk in enumerate(logits.split(codec.num_bins, dim=1)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += float(loss.detach())
            with torch.no_grad():
                bins = torch.stack([chunk.argmax(1) for chunk in logits.split(codec.num_bins, dim=1)], dim=1)
                errors = label_geodesic_error(codec.decode_bins(bins, torch.zeros(bins.shape)).numpy(),
                                              train_labels[batch].numpy())
                correct += int((errors <= ACC_THRESHOLD_DEG).sum())
        errors = label_geodesic_error(predict(model, val_images, codec).numpy(), val_labels.numpy())
        table = per_class_table(errors, val_set.cats)
        best = max(best, table["mean"]["acc30"])
        record = {"epoch": epoch, "lr": lr, "time_s": round(time.time() - start, 2),
                  "train": {"loss": loss_sum / steps, "acc30": 100.0 * correct / (steps * args.batch_size)},
                  "val": {"acc30": table["mean"]["acc30"], "mederr": table["mean"]["mederr"],
                          "pooled_acc30": table["pooled"]["acc30"], "pooled_mederr": table["pooled"]["mederr"]},
                  "best_acc30": best}
        append_jsonl(metrics, record)
        print(f"epoch {epoch}: train loss {record['train']['loss']:.4f} | val Acc30 {table['mean']['acc30']:.2f} "
              f"MedErr {table['mean']['mederr']:.2f} | best {best:.2f} | {record['time_s']:.0f} s", flush=True)
    print(format_table(table, f"val split, last epoch ({args.n_epoch - 1})"))
    return table


if __name__ == "__main__":
    main()
