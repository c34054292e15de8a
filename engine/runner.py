"""The epoch loop shared by training.py and trainingKD.py: resume, train, evaluate, log and checkpoint.

Every epoch writes ``checkpoint.pth`` (atomically; everything needed to resume, including the state of any
extra module such as the contrastive memory), appends a line to ``metrics.jsonl`` (plotted into
``curves.png`` at the end) and, when the mean per-class val Acc30 improves, the best network (``best_name``)
with ``results_best.json``. SIGINT or SIGTERM (Ctrl-C, a cluster pre-empting the job) saves ``checkpoint.pth``
after the current step, with the position inside the epoch and the partial epoch statistics, and exits with
128 + the signal number. Rerunning the same command continues from ``checkpoint.pth`` - mid-epoch if that is
where it stopped - and, with ``--deterministic``, reproduces the uninterrupted run bit for bit; lines of
``metrics.jsonl`` for epochs that will be trained again are dropped, so the log always matches the
checkpoint. A non-finite loss stops the run at once, without writing: the last checkpoint stays good.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import torch

from engine import distributed
from auxiliary.checkpoint import FORMAT, CheckpointError, atomic_save, load_checkpoint, load_weights
from auxiliary.files import append_jsonl, atomic_write_text, read_jsonl
from engine.loop import FP32, EpochInterrupted, Precision, evaluate, train_one_epoch
from auxiliary.errors import Interrupted, NonFiniteLossError
from auxiliary.metrics import format_table
from auxiliary.plots import plot_curves


def data_args(args) -> dict:
    """The data settings a checkpoint needs to be evaluated as it was trained."""
    return {"dataset": args.dataset, "input_dim": args.input_dim, "point_num": args.point_num,
            "point_norm": getattr(args, "point_norm", None) or "minmax", "bin_size": args.bin_size,
            "shape_dir": args.shape_dir}


def network_file(model, model_args, args, **extra) -> dict:
    """A checkpoint holding one network: enough for testing.py and the demo to rebuild and run it."""
    return {"format": FORMAT, "model_args": model_args, "data_args": data_args(args), "model": model.state_dict(),
            "args": vars(args), **extra}


class StopOnSignal:
    """While active, SIGINT and SIGTERM only set ``requested`` (the loop then saves and stops); a second signal
    interrupts at once. Outside the main thread (where handlers cannot be installed) it does nothing."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested, self.signum, self._previous = False, None, {}

    def _handle(self, signum, frame):
        if self.requested:
            signal.signal(signum, signal.SIG_DFL)
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum
        print(f"\n{signal.Signals(signum).name} received: saving a resumable checkpoint after this step "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False


def remove_stale_temporaries(output_dir: Path) -> None:
    """Temporary files left by a run killed in the middle of a write (the real files are intact)."""
    for tmp in output_dir.glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)


def fit(args, model, model_args: dict, train_loader, val_loader, optimizer, scheduler, objective, codec, device,
        output_dir: Path, best_name: str = "model_best.pth", extra_modules: dict | None = None,
        precision: Precision = FP32, train_model=None) -> dict | None:
    """Train from the last checkpoint (if any) to ``args.n_epoch``; returns the last evaluation (or None).

    ``train_model`` is what the loop calls (e.g. a compiled or distributed wrapper of ``model``); ``model``
    itself is what gets saved, so checkpoints always load into a plain network.
    """
    extra_modules = {k: v for k, v in (extra_modules or {}).items() if v is not None}
    train_model = model if train_model is None else train_model
    main_rank = distributed.context().is_main  # under torchrun only rank 0 writes
    start_epoch, best, progress = 0, float("-inf"), None
    if main_rank:
        remove_stale_temporaries(output_dir)
    resume = Path(args.resume) if args.resume else output_dir / "checkpoint.pth"
    if args.resume or resume.is_file():
        state = load_checkpoint(resume, kind=model_args["kind"])
        load_weights(model, state["model"], resume)
        for name, module in extra_modules.items():
            if name not in state:
                raise CheckpointError(f"{resume} has no '{name}' state to resume from (was it written by "
                                      f"another script or with other flags?)")
            load_weights(module, state[name], f"{resume} ({name})")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        precision.load_state_dict(state.get("scaler", {}))
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        start_epoch, best, progress = state["epoch"] + 1, state["best_acc30"], state.get("progress")
        where = f"epoch {start_epoch}" if progress is None else f"epoch {progress['epoch']}, step {progress['step']}"
        print(f"resumed from {resume} at {where} (best val Acc30 so far {best:.2f})")
        if progress is not None:
            start_epoch = progress["epoch"]
    metrics_path = output_dir / "metrics.jsonl"
    if main_rank:
        kept = [r for r in read_jsonl(metrics_path) if r["epoch"] < start_epoch]
        atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
        atomic_write_text(output_dir / "args.json", json.dumps(vars(args), indent=2) + "\n")
    if getattr(train_loader.dataset, "skip_bad", False):
        train_loader.dataset.bad_log = output_dir / "skipped_samples.txt"

    def training_state(epoch: int, **extra) -> dict:
        return network_file(model, model_args, args, optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), scaler=precision.state_dict(), epoch=epoch,
                            best_acc30=best, torch_rng=torch.get_rng_state(),
                            cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                            **{name: module.state_dict() for name, module in extra_modules.items()}, **extra)

    result = None
    with StopOnSignal() as stop:
        for epoch in range(start_epoch, args.n_epoch):
            start = time.time()
            lr = optimizer.param_groups[0]["lr"]
            try:
                stats = train_one_epoch(train_model, train_loader, optimizer, objective, codec, device, epoch,
                                        args.print_freq, scheduler, precision, progress, stop)
            except EpochInterrupted as interrupted:
                if main_rank:
                    save_checkpoint(training_state(epoch - 1, progress=interrupted.progress), output_dir)
                distributed.barrier()
                raise Interrupted(stop.signum, f"stopped at epoch {epoch}, step {interrupted.progress['step']}; "
                                  f"{output_dir / 'checkpoint.pth'} holds the run: rerun the same command to "
                                  f"resume") from None
            except NonFiniteLossError as error:
                kept_file = output_dir / "checkpoint.pth"
                kept_note = (f"{kept_file} still holds the last good state" if kept_file.is_file()
                             else "no checkpoint had been written yet")
                raise NonFiniteLossError(f"{error}; stopped without saving: {kept_note} (lower --lr or check the "
                                         f"data with `python -m dataset.check`)") from None
            progress = None
            result = evaluate(model, val_loader, codec, device, precision)
            table = result["table"]
            improved = table["mean"]["acc30"] > best
            if improved:
                best = table["mean"]["acc30"]
                if main_rank:
                    save_checkpoint(network_file(model, model_args, args, epoch=epoch, val=table), output_dir,
                                    best_name)
                    atomic_write_text(output_dir / "results_best.json",
                                      json.dumps({"epoch": epoch, **table}, indent=2))
            if main_rank:
                save_checkpoint(training_state(epoch), output_dir)
            record = {"epoch": epoch, "lr": lr, "time_s": round(time.time() - start, 2), "train": stats,
                      "val": {"acc30": table["mean"]["acc30"], "mederr": table["mean"]["mederr"],
                              "pooled_acc30": table["pooled"]["acc30"], "pooled_mederr": table["pooled"]["mederr"]},
                      "best_acc30": best}
            if main_rank:
                append_jsonl(metrics_path, record)
            print(f"epoch {epoch}: train loss {stats['loss']:.4f} | val Acc30 {table['mean']['acc30']:.2f} "
                  f"MedErr {table['mean']['mederr']:.2f} | best {best:.2f}{' (new best)' if improved else ''} "
                  f"| {record['time_s']:.0f} s", flush=True)
            for note in getattr(objective, "epoch_notes", lambda stats: [])(stats):
                print(note, flush=True)
            if distributed.any_flag(stop.requested) and epoch + 1 < args.n_epoch:
                distributed.barrier()
                raise Interrupted(stop.signum, f"stopped after epoch {epoch}; {output_dir / 'checkpoint.pth'} "
                                  f"holds the run: rerun the same command to resume")
    if result is not None:
        print(format_table(result["table"], f"val split, last epoch ({args.n_epoch - 1})"))
    if main_rank and read_jsonl(metrics_path):
        plot_curves([output_dir], output_dir / "curves.png")
    distributed.barrier()
    print(f"run directory: {output_dir}")
    return result


def save_checkpoint(state: dict, output_dir: Path, name: str = "checkpoint.pth") -> None:
    """Write atomically; a failed write (a full disk) leaves the previous file and says so."""
    path = output_dir / name
    try:
        atomic_save(state, path)
    except OSError as error:
        raise CheckpointError(f"could not write {path}: {error}; "
                              f"{'the previous file is intact' if path.exists() else 'nothing was written'}") from None
