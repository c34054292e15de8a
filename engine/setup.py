"""Run set-up: joining torchrun, seeding, determinism, the device, compilation and the run header."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool) -> None:
    """``--deterministic``: deterministic kernels only (bit-exact reruns and resumes on the same machine).
    Otherwise cuDNN may benchmark its convolution algorithms, which is faster on a GPU."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def compile_for_training(model, enabled: bool, device: torch.device):
    """``--compile``: the module the training loop calls, compiled with torch.compile (the plain module is what
    is saved). Compilation takes a minute or two and pays off on long GPU runs."""
    if not enabled:
        return model
    print(f"compiling the network with torch.compile for {device.type} (the first steps are slow)")
    return torch.compile(model)


def start_run(args, script: str) -> torch.device:
    """Join torchrun's process group if there is one, print the header, seed (offset by rank), set determinism;
    returns this process's device."""
    from engine import distributed

    ctx = distributed.init(args.device)
    print_header(script, args)
    seed_everything(args.seed + ctx.rank)
    configure_determinism(args.deterministic)
    device = distributed.device_for(ctx, resolve_device(args.device))
    if ctx.enabled:
        print(f"torchrun: {ctx.world} processes; global batch {args.batch_size} x {ctx.world} = "
              f"{args.batch_size * ctx.world}")
    return device


def training_module(model, args, device):
    """What the training loop calls: ``--sync_bn`` and DistributedDataParallel under torchrun, then
    ``--compile``. ``model`` itself (converted in place) stays what is saved."""
    from engine import distributed

    if distributed.context().enabled and getattr(args, "sync_bn", False):
        model = distributed.convert_sync_batchnorm(model, device)
    return model, compile_for_training(distributed.wrap(model, device), args.compile, device)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def print_header(script: str, args) -> None:
    print(f"{script} | git {git_revision()} | torch {torch.__version__} | python {sys.version.split()[0]}")
    print("arguments: " + " ".join(f"{k}={v}" for k, v in sorted(vars(args).items())))
