"""Training and evaluation loops, shared by the scripts."""
from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import torch

from auxiliary.angles import ViewpointCodec
from auxiliary.metrics import ACC_THRESHOLD_DEG, per_class_table
from auxiliary.rotation import label_geodesic_error, label_geodesic_error_torch


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


class TeacherObjective:
    """Pose loss, plus the teacher's InfoNCE (image projection vs fused feature) when its weight is positive."""

    def __init__(self, pose_loss, infonce=None, contrast_weight: float = 0.0):
        self.pose_loss, self.infonce, self.contrast_weight = pose_loss, infonce, contrast_weight

    def __call__(self, model, batch):
        out = model(batch["image"], batch.get("points"))
        loss, parts = self.pose_loss(out["outputs"], batch["label"])
        if self.contrast_weight > 0 and getattr(model, "kind", None) == "teacher":
            contrast = self.infonce(out["embedding"], out["feature"])
            loss = loss + self.contrast_weight * contrast
            parts["contrast"] = contrast.detach()
        return loss, parts, out


def train_one_epoch(model, loader, optimizer, objective, codec: ViewpointCodec, device, epoch: int,
                    print_freq: int = 50, scheduler=None) -> dict:
    """One pass over ``loader``; returns the mean loss terms and the training Acc30 (on augmented crops).

    ``scheduler`` (optional) is stepped after every batch.
    """
    model.train()
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    sums, correct, seen = {}, torch.zeros((), device=device), 0
    start, total = time.time(), len(loader)
    for step, batch in enumerate(loader, start=1):
        batch = to_device(batch, device)
        loss, parts, out = objective(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        parts["loss"] = loss.detach()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        with torch.no_grad():
            errors = label_geodesic_error_torch(codec.decode(out["outputs"]), batch["label"])
            correct += (errors <= ACC_THRESHOLD_DEG).sum()
        seen += len(errors)
        if print_freq and (step % print_freq == 0 or step == total):
            elapsed = time.time() - start
            eta = timedelta(seconds=int(elapsed / step * (total - step)))
            print(f"epoch {epoch} [{step}/{total}] loss {float(sums['loss']) / step:.4f} "
                  f"acc30 {100 * float(correct) / seen:.2f} lr {optimizer.param_groups[0]['lr']:.2e} eta {eta}",
                  flush=True)
    if seen == 0:
        raise ValueError("the training loader yielded no batch (is the training set smaller than one batch?)")
    means = {k: float(v) / len(loader) for k, v in sums.items()}
    means["acc30"] = 100.0 * float(correct) / seen
    return means


@torch.inference_mode()
def predict(model, loader, codec: ViewpointCodec, device) -> tuple[np.ndarray, np.ndarray]:
    """Label-space predictions (N, 3) and the dataset indices they belong to, for every sample of ``loader``."""
    model.eval()
    predictions, indices = [], []
    for batch in loader:
        batch = to_device(batch, device)
        out = model(batch["image"], batch.get("points"))
        predictions.append(codec.decode(out["outputs"]).cpu())
        indices.append(batch["index"].cpu())
    return torch.cat(predictions).numpy(), torch.cat(indices).numpy()


def evaluate(model, loader, codec: ViewpointCodec, device) -> dict:
    """Predict on an evaluation loader and score it: the per-class table plus the raw arrays."""
    dataset = loader.dataset
    predictions, indices = predict(model, loader, codec, device)
    if len(indices) != len(dataset) or len(set(indices.tolist())) != len(dataset):
        raise RuntimeError(f"evaluation saw {len(set(indices.tolist()))} of {len(dataset)} samples")
    gt = dataset.labels()[indices]
    errors = label_geodesic_error(predictions, gt)
    return {"table": per_class_table(errors, dataset.cats[indices]), "predictions": predictions,
            "indices": indices, "errors": errors}
