"""Training and evaluation loops, shared by the scripts."""
from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import torch

from engine import distributed
from auxiliary.angles import ViewpointCodec
from auxiliary.errors import NonFiniteLossError
from auxiliary.metrics import ACC_THRESHOLD_DEG, per_class_table
from auxiliary.rotation import label_geodesic_error, label_geodesic_error_torch
from dataset.transforms import normalize_batch
from model.estimator import shape_input


class Precision:
    """Mixed precision and memory format of a run (``--amp``, ``--amp_dtype``, ``--channels_last``).

    On a CUDA device ``--amp`` runs the forward passes under autocast in bfloat16 (no loss scaling needed) or
    float16 with a gradient scaler. On a CPU it is ignored, with a note: CPU autocast is slower than float32 on
    most CPUs. ``--channels_last`` stores images and convolution weights in NHWC, which Tensor Cores prefer;
    on a CPU it is allowed and harmless.
    """

    def __init__(self, device, amp: bool = False, amp_dtype: str = "bf16", channels_last: bool = False):
        self.device = torch.device(device)
        self.dtype = None
        if amp and self.device.type == "cuda":
            self.dtype = torch.bfloat16 if amp_dtype == "bf16" else torch.float16
        elif amp:
            print("note: --amp applies to CUDA devices only; this run stays in float32")
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @classmethod
    def from_args(cls, args, device) -> "Precision":
        return cls(device, getattr(args, "amp", False), getattr(args, "amp_dtype", "bf16"),
                   getattr(args, "channels_last", False))

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=self.memory_format) if self.memory_format is torch.channels_last else model

    def backward_step(self, loss: torch.Tensor, optimizer, after_backward=None) -> None:
        optimizer.zero_grad(set_to_none=True)
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        if after_backward is not None:
            after_backward()
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


FP32 = Precision("cpu")


def to_device(batch: dict, device, memory_format=torch.contiguous_format) -> dict:
    """Move a loader batch to the device (non-blocking from pinned memory) and finish its images there: uint8
    crops -> colour-jittered, normalised float inputs (:func:`dataset.transforms.normalize_batch`)."""
    out = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
    out["image"] = normalize_batch(out["image"], out.pop("photometric", None))
    if memory_format is torch.channels_last:
        out["image"] = out["image"].contiguous(memory_format=torch.channels_last)
    if "views" in out:  # multi-view renders: uint8 (B, V, 3, S, S) -> normalised like the image, no jitter
        views = out["views"]
        out["views"] = normalize_batch(views.flatten(0, 1)).reshape(views.shape)
    return out


class EpochInterrupted(Exception):
    """Raised by :func:`train_one_epoch` after the step during which a stop was requested; ``progress`` is
    what a resumed run needs to finish the epoch as if nothing had happened."""

    def __init__(self, progress: dict):
        super().__init__("interrupted")
        self.progress = progress


class TeacherObjective:
    """Pose loss, plus the teacher's InfoNCE (image projection vs fused feature) when its weight is positive."""

    def __init__(self, pose_loss, infonce=None, contrast_weight: float = 0.0):
        self.pose_loss, self.infonce, self.contrast_weight = pose_loss, infonce, contrast_weight

    def __call__(self, model, batch):
        out = model(batch["image"], shape_input(batch))
        loss, parts = self.pose_loss(out["outputs"], batch["label"])
        if self.contrast_weight > 0 and getattr(distributed.unwrap(model), "kind", None) == "teacher":
            contrast = self.infonce(out["embedding"], out["feature"])
            loss = loss + self.contrast_weight * contrast
            parts["contrast"] = contrast.detach()
        return loss, parts, out


def train_one_epoch(model, loader, optimizer, objective, codec: ViewpointCodec, device, epoch: int,
                    print_freq: int = 50, scheduler=None, precision: Precision = FP32, progress: dict | None = None,
                    stop=None) -> dict:
    """One pass over ``loader``; returns the mean loss terms and the training Acc30 (on augmented crops).

    ``scheduler`` (optional) is stepped after every batch. ``progress`` (from :class:`EpochInterrupted`) resumes
    an epoch at the step it was stopped at. ``stop`` is polled after every step: when ``stop.requested`` is set
    the epoch ends with :class:`EpochInterrupted`. Nothing here waits for the device except the progress lines
    (every ``print_freq`` steps) and the non-finite loss check, which is immediate on a CPU and made at the
    progress lines and at the end on a GPU (it still names the first bad step).
    """
    model.train()
    progress = progress or {}
    skip = progress.get("step", 0)
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch, skip * loader.batch_size)
    elif skip:
        raise ValueError("resuming mid-epoch needs a sampler with set_epoch(epoch, skip)")
    sums = dict(progress.get("sums", {}))
    correct = progress.get("correct", torch.zeros((), dtype=torch.long)).to(device)
    seen = progress.get("seen", 0)
    first_bad = torch.full((), -1, dtype=torch.long, device=device)
    bad_values = None
    eager_check = torch.device(device).type == "cpu"
    start, total, step = time.time(), skip + len(loader), skip

    def check_finite():
        bad = int(first_bad)
        if distributed.any_flag(bad >= 0):  # every rank stops together
            if bad < 0:
                raise NonFiniteLossError(f"non-finite training loss on another rank at epoch {epoch}")
            names = ["loss"] + sorted(k for k in sums if k != "loss")
            terms = ", ".join(f"{n}={float(v):.4g}" for n, v in zip(names, bad_values))
            raise NonFiniteLossError(f"non-finite training loss at epoch {epoch}, step {bad}/{total} ({terms})")

    def position(done: int) -> dict:
        return {"epoch": epoch, "step": done, "sums": {k: v.cpu() for k, v in sums.items()},
                "correct": correct.cpu(), "seen": seen}

    batches = iter(loader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except RuntimeError:  # workers stopped by the same signal as this process: save what was done
            if stop is not None and stop.requested:
                check_finite()
                raise EpochInterrupted(position(step)) from None
            raise
        step += 1
        if batch is None:  # every sample of this batch was left out by --skip_bad
            continue
        batch = to_device(batch, device, precision.memory_format)
        with precision.autocast():
            loss, parts, out = objective(model, batch)
        parts["loss"] = loss.detach()
        finite = torch.isfinite(parts["loss"])
        values = torch.stack([parts["loss"].float()] + [parts[k].float() for k in sorted(parts) if k != "loss"])
        bad_values = values if bad_values is None else torch.where((first_bad < 0) & ~finite, values, bad_values)
        first_bad = torch.where((first_bad < 0) & ~finite, step, first_bad)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        if eager_check:
            check_finite()
        precision.backward_step(loss, optimizer, getattr(objective, "after_backward", None))
        if scheduler is not None:
            scheduler.step()
        with torch.no_grad():
            errors = label_geodesic_error_torch(codec.decode(out["outputs"]), batch["label"])
            correct += (errors <= ACC_THRESHOLD_DEG).sum()
        seen += len(errors)
        if print_freq and (step % print_freq == 0 or step == total):
            check_finite()
            elapsed = time.time() - start
            eta = timedelta(seconds=int(elapsed / max(1, step - skip) * (total - step)))
            print(f"epoch {epoch} [{step}/{total}] loss {float(sums['loss']) / step:.4f} "
                  f"acc30 {100 * float(correct) / seen:.2f} lr {optimizer.param_groups[0]['lr']:.2e} eta {eta}",
                  flush=True)
        if stop is not None and distributed.any_flag(stop.requested) and step < total:
            check_finite()
            raise EpochInterrupted(position(step))
    check_finite()
    if seen == 0:
        raise ValueError("the training loader yielded no batch (is the training set smaller than one batch?)")
    # under torchrun: the mean over ranks of the per-step losses (equal shares) and the global accuracy
    means = {k: float(distributed.all_reduce_mean(torch.as_tensor(v, device=device))) / total for k, v in sums.items()}
    correct = distributed.all_reduce_sum(correct)
    seen = int(distributed.all_reduce_sum(torch.tensor(seen, device=device)))
    means["acc30"] = 100.0 * float(correct) / seen
    return means


@torch.inference_mode()
def predict(model, loader, codec: ViewpointCodec, device, precision: Precision = FP32) -> tuple[np.ndarray, np.ndarray]:
    """Label-space predictions (N, 3) and the dataset indices they belong to, for every sample of ``loader``."""
    model.eval()
    predictions, indices = [], []
    for batch in loader:
        if batch is None:
            continue
        batch = to_device(batch, device, precision.memory_format)
        with precision.autocast():
            out = model(batch["image"], shape_input(batch))
        predictions.append(codec.decode([o.float() for o in out["outputs"]]))
        indices.append(batch["index"])
    if not predictions:
        raise ValueError("the evaluation loader yielded no sample")
    return torch.cat(predictions).cpu().numpy(), torch.cat(indices).cpu().numpy()  # one copy back, at the end


def evaluate(model, loader, codec: ViewpointCodec, device, precision: Precision = FP32) -> dict:
    """Predict on an evaluation loader and score it: the per-class table plus the raw arrays.

    Every sample is scored exactly once; with ``--skip_bad`` the samples that could not be loaded are left out
    of the table and counted in ``skipped``.
    """
    dataset = loader.dataset
    predictions, indices = predict(model, loader, codec, device, precision)
    if distributed.context().enabled:  # each rank predicted its share: gather every sample once
        shares = distributed.all_gather_objects((predictions, indices))
        predictions = np.concatenate([p for p, _ in shares])
        indices = np.concatenate([i for _, i in shares])
    unique = len(set(indices.tolist()))
    skipped = len(dataset) - unique
    if unique != len(indices) or (skipped and not getattr(dataset, "skip_bad", False)):
        raise RuntimeError(f"evaluation saw {unique} of {len(dataset)} samples ({len(indices)} predictions)")
    if skipped:
        print(f"warning: {skipped} of {len(dataset)} evaluation samples could not be loaded and are not scored")
    gt = dataset.labels()[indices]
    errors = label_geodesic_error(predictions, gt)
    return {"table": per_class_table(errors, dataset.cats[indices]), "predictions": predictions,
            "indices": indices, "errors": errors, "skipped": skipped}
