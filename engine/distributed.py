"""Data-parallel training with torchrun: process group, rank-aware helpers and a batch norm synchronised on CPU too.

``torchrun --nproc_per_node N training.py ...`` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT;
:func:`init` then joins the process group (NCCL on GPUs, gloo on a CPU), pins each process to its GPU and
silences ``print`` on every rank but 0. Without those variables everything is a no-op and a run is the plain
single-process one. ``--batch_size`` is per process: the global batch is ``batch_size x world size``.
"""
from __future__ import annotations

import builtins
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from model.crd import CRDLoss


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    control: object = None  # a gloo group for host-side flags (no device sync)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CONTEXT = Context()


def context() -> Context:
    return _CONTEXT


def init(device_name: str = "auto") -> Context:
    """Join the torchrun process group if there is one; returns the rank, world size and local rank."""
    global _CONTEXT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _CONTEXT = Context()
        return _CONTEXT
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    control = dist.new_group(backend="gloo") if use_cuda else dist.group.WORLD
    _CONTEXT = Context(rank, world, local_rank, control)
    builtin_print = builtins.print

    def rank_print(*args, force: bool = False, **kwargs):
        """Only rank 0 prints, unless ``force=True``."""
        if rank == 0 or force:
            builtin_print(*args, **kwargs)

    builtins.print = rank_print
    return _CONTEXT


@contextmanager
def single_process():
    """Act as one process for a while (the collectives here become no-ops), e.g. to compute on one rank what a
    single-process run would."""
    global _CONTEXT
    saved, _CONTEXT = _CONTEXT, Context()
    try:
        yield
    finally:
        _CONTEXT = saved


def device_for(ctx: Context, device: torch.device) -> torch.device:
    return torch.device("cuda", ctx.local_rank) if ctx.enabled and device.type == "cuda" else device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if _CONTEXT.enabled:
        dist.barrier()


def any_flag(flag: bool) -> bool:
    """True on every rank if it is true on any (a host-side all-reduce on the gloo control group)."""
    if not _CONTEXT.enabled:
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=_CONTEXT.control)
    return bool(value.item())


def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate equal-sized tensors of every rank along dim 0, in rank order (no gradient)."""
    if not _CONTEXT.enabled:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(_CONTEXT.world)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def all_gather_objects(value) -> list:
    """Every rank's ``value`` (any picklable object, sizes may differ), in rank order."""
    if not _CONTEXT.enabled:
        return [value]
    out = [None] * _CONTEXT.world
    dist.all_gather_object(out, value)
    return out


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    if not _CONTEXT.enabled:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor)
    return tensor / _CONTEXT.world


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if not _CONTEXT.enabled:
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor)
    return tensor


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (e.g. the CRD memory banks, drawn at random)."""
    if not _CONTEXT.enabled:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def average_gradients(module: nn.Module) -> None:
    """Average the gradients of a module that is not wrapped in DistributedDataParallel (the CRD heads)."""
    if not _CONTEXT.enabled:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= _CONTEXT.world


def unwrap(model: nn.Module) -> nn.Module:
    """The plain network inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch of all ranks, differentiable, for any backend (gloo on a CPU included;
    torch's SyncBatchNorm is GPU-only). Same parameters and buffers as BatchNorm, so checkpoints load into a
    plain network."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _CONTEXT.enabled):
            return super().forward(x)
        with warnings.catch_warnings():  # the differentiable all-reduce is marked deprecated, not yet replaced
            warnings.simplefilter("ignore", FutureWarning)
            from torch.distributed.nn.functional import all_reduce

        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor(float(x.numel() // x.shape[1]), device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count[None]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            stats = all_reduce(stats)  # differentiable sum over ranks
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(var.detach() * n / (n - 1), alpha=momentum)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``--sync_bn``: torch's SyncBatchNorm on GPUs, :class:`GlobalBatchNorm` elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            replacement = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                          child.track_running_stats)
            # the same Parameter and buffer objects: an optimizer built before the conversion still works
            if child.affine:
                replacement.weight, replacement.bias = child.weight, child.bias
            if child.track_running_stats:
                replacement.running_mean, replacement.running_var = child.running_mean, child.running_var
                replacement.num_batches_tracked = child.num_batches_tracked
            replacement.train(child.training)
            setattr(model, name, replacement)
        else:
            convert_sync_batchnorm(child, device)
    return model


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around ``model`` when running under torchrun (some heads are unused by some
    objectives, hence ``find_unused_parameters``)."""
    if not _CONTEXT.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


__all__ = ["Context", "init", "context", "shutdown", "barrier", "any_flag", "all_gather", "all_gather_objects",
           "all_reduce_mean", "all_reduce_sum", "broadcast_module", "average_gradients", "unwrap",
           "GlobalBatchNorm", "convert_sync_batchnorm", "wrap"]


class DistributedCRDLoss(CRDLoss):
    """CRD (:class:`model.crd.CRDLoss`) for the processes of a torchrun job, which together act as one process
    with their global batch: each process draws the negatives of the global batch (identically: the generator is
    seeded by (seed, draw count)) and keeps its own rows, the NCE normaliser is estimated over the global batch,
    and every process updates its memory banks with the global batch, so the banks stay identical on every
    process and equal to those of one process. The embedding heads' gradients are averaged after each backward
    pass. Outside torchrun it is exactly CRDLoss. Same parameters and buffers, so checkpoints are interchangeable.
    """

    def draw_negatives(self, index: torch.Tensor) -> torch.Tensor:
        first = _CONTEXT.rank * index.shape[0] if _CONTEXT.enabled else 0
        self._global_index = all_gather(index)  # gathered once a step: the memory update reuses it
        return self.memory.sample_negatives(self._global_index, self.k)[first:first + index.shape[0]]

    def batch_mean(self, values: torch.Tensor) -> torch.Tensor:
        return all_reduce_mean(values.mean())

    def update_memory(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor, poses: torch.Tensor) -> None:
        self.memory.update(all_gather(s), all_gather(t), self._global_index, all_gather(poses))

    def after_backward(self) -> None:
        average_gradients(self)
