"""The student's objective: pose loss + contrastive distillation + KL distillation from a frozen teacher.

    L = alpha * L_pose(student, ground truth)
      + beta  * L_crd(student feature, teacher representation)         (with --crd)
      + gamma * sum_k KL_T(teacher head k || student head k) * T^2      (Hinton KD on the six heads)
      + embed_kl * KL(softmax(teacher image projection) || softmax(student projection))

The last two are the losses of the public reference's ``--crd`` path (with alpha 0.25, gamma 0.75, T 1,
embed_kl 0.75); its six "heads" include the offset regressors, softmaxed like logits, and so do ours, so
that setting reproduces it. The teacher runs in eval mode under ``no_grad``; only the student and the CRD
embedding heads are trained.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from model.crd import collapse_warning
from model.estimator import shape_input


def kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(softmax(t / T) || softmax(s / T)) * T^2, summed over classes and averaged over the batch."""
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    p_teacher = F.softmax(teacher_logits.float() / temperature, dim=1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * temperature ** 2


def freeze(teacher: nn.Module) -> nn.Module:
    """Eval mode (BatchNorm statistics and dropout fixed) and no gradients: the teacher never changes."""
    teacher.eval()
    return teacher.requires_grad_(False)


class DistillObjective:
    """Callable ``(student, batch) -> (loss, parts, student outputs)`` for :func:`engine.loop.train_one_epoch`."""

    def __init__(self, teacher: nn.Module, pose_loss, crd: nn.Module | None = None, alpha: float = 1.0,
                 beta: float = 0.8, gamma: float = 0.0, kd_T: float = 4.0, embed_kl: float = 0.0,
                 teacher_feature: str = "fused"):
        if teacher_feature not in ("fused", "image"):
            raise ValueError(f"teacher_feature must be 'fused' or 'image', not {teacher_feature!r}")
        self.teacher, self.pose_loss, self.crd = teacher, pose_loss, crd
        self.alpha, self.beta, self.gamma, self.kd_T, self.embed_kl = alpha, beta, gamma, kd_T, embed_kl
        self.teacher_key = "feature" if teacher_feature == "fused" else "embedding"

    def epoch_notes(self, stats: dict) -> list[str]:
        """Warnings about an epoch's mean statistics (a collapsed CRD embedding)."""
        if self.crd is None:
            return []
        warning = collapse_warning(stats, getattr(self.crd, "positive", "memory"))
        return [warning] if warning else []

    def after_backward(self) -> None:
        """Called after each backward pass: the CRD module's own hook, if it has one (under torchrun it averages
        the embedding heads' gradients, which DistributedDataParallel does not see)."""
        hook = getattr(self.crd, "after_backward", None)
        if hook is not None:
            hook()

    def __call__(self, student, batch):
        with torch.no_grad():
            teacher_out = self.teacher(batch["image"], shape_input(batch))
        out = student(batch["image"])
        pose, parts = self.pose_loss(out["outputs"], batch["label"])
        loss = self.alpha * pose
        parts["pose"] = pose.detach()
        if self.crd is not None and self.beta:
            crd = self.crd(out["feature"], teacher_out[self.teacher_key], batch["index"], batch["label"])
            loss = loss + self.beta * crd
            parts["crd"] = crd.detach()
            parts.update(self.crd.diagnostics)
        if self.gamma:
            kd = sum(kl_divergence(s, t, self.kd_T) for s, t in zip(out["outputs"], teacher_out["outputs"]))
            loss = loss + self.gamma * kd
            parts["kd"] = kd.detach()
        if self.embed_kl:
            ekl = kl_divergence(out["embedding"], teacher_out["embedding"], 1.0)
            loss = loss + self.embed_kl * ekl
            parts["embed_kl"] = ekl.detach()
        return loss, parts, out
