"""The epoch loop shared by training.py and trainingKD.py: resume, train, evaluate, log and checkpoint.

Every epoch writes ``checkpoint.pth`` (atomically; everything needed to resume, including the state of any
extra module such as the contrastive memory), appends a line to ``metrics.jsonl`` (plotted into
``curves.png`` at the end) and, when the mean
per-class val Acc30 improves, the best network (``best_name``) with ``results_best.json``. Rerunning the same
command continues from ``checkpoint.pth``; lines of ``metrics.jsonl`` for epochs that will be trained again
are dropped, so the log always matches the checkpoint.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from auxiliary.checkpoint import FORMAT, atomic_save, atomic_write_text, load_checkpoint, load_weights
from auxiliary.engine import evaluate, train_one_epoch
from auxiliary.metrics import format_table
from auxiliary.plots import plot_curves
from auxiliary.utils import append_jsonl, read_jsonl


def data_args(args) -> dict:
    """The data settings a checkpoint needs to be evaluated as it was trained."""
    return {"dataset": args.dataset, "input_dim": args.input_dim, "point_num": args.point_num,
            "bin_size": args.bin_size, "shape_dir": args.shape_dir}


def network_file(model, model_args, args, **extra) -> dict:
    """A checkpoint holding one network: enough for testing.py and the demo to rebuild and run it."""
    return {"format": FORMAT, "model_args": model_args, "data_args": data_args(args), "model": model.state_dict(),
            "args": vars(args), **extra}


def fit(args, model, model_args: dict, train_loader, val_loader, optimizer, scheduler, objective, codec, device,
        output_dir: Path, best_name: str = "model_best.pth", extra_modules: dict | None = None) -> dict | None:
    """Train from the last checkpoint (if any) to ``args.n_epoch``; returns the last evaluation (or None)."""
    extra_modules = extra_modules or {}
    start_epoch, best = 0, float("-inf")
    resume = Path(args.resume) if args.resume else output_dir / "checkpoint.pth"
    if args.resume or resume.is_file():
        state = load_checkpoint(resume, kind=model_args["kind"])
        load_weights(model, state["model"], resume)
        for name, module in extra_modules.items():
            if name not in state:
                raise KeyError(f"{resume} has no '{name}' state to resume from")
            load_weights(module, state[name], f"{resume} ({name})")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, best = state["epoch"] + 1, state["best_acc30"]
        print(f"resumed from {resume} at epoch {start_epoch} (best val Acc30 so far {best:.2f})")
    metrics_path = output_dir / "metrics.jsonl"
    kept = [r for r in read_jsonl(metrics_path) if r["epoch"] < start_epoch]
    atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
    atomic_write_text(output_dir / "args.json", json.dumps(vars(args), indent=2) + "\n")

    result = None
    for epoch in range(start_epoch, args.n_epoch):
        start = time.time()
        lr = optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(model, train_loader, optimizer, objective, codec, device, epoch, args.print_freq,
                                scheduler)
        result = evaluate(model, val_loader, codec, device)
        table = result["table"]
        improved = table["mean"]["acc30"] > best
        if improved:
            best = table["mean"]["acc30"]
            atomic_save(network_file(model, model_args, args, epoch=epoch, val=table), output_dir / best_name)
            atomic_write_text(output_dir / "results_best.json", json.dumps({"epoch": epoch, **table}, indent=2))
        state = network_file(model, model_args, args, optimizer=optimizer.state_dict(),
                             scheduler=scheduler.state_dict(), epoch=epoch, best_acc30=best,
                             torch_rng=torch.get_rng_state(),
                             **{name: module.state_dict() for name, module in extra_modules.items()})
        atomic_save(state, output_dir / "checkpoint.pth")
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
    if read_jsonl(metrics_path):
        plot_curves([output_dir], output_dir / "curves.png")
    print(f"run directory: {output_dir}")
    return result
