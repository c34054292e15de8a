"""Contrastive representation distillation (CRD, Tian et al., ICLR 2020) with pose-aware negatives.

The student's feature and the frozen teacher's representation are each embedded by a trainable linear layer
and L2-normalised. Each anchor's positive (the other side's embedding of the same sample) is contrasted with
negatives, either the rest of the batch (``negatives="batch"``: live embeddings, InfoNCE both ways, the default
of ``trainingKD.py``) or ``K`` rows of two momentum memory banks of the training-set size (``"memory"``: CRD's,
with its NCE or InfoNCE, the default here). Each negative is weighted by the geodesic distance between its pose
and the anchor's, as in PoseContrast. The formulas, the memory bank's stale and random rows, and why in-batch
negatives distil better on our synthetic sets: docs/training.md ("CRD in detail") and
docs/experiments/claims.md.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from auxiliary.rotation import label_geodesic_error_torch

WEIGHTINGS = ("none", "linear", "sqrt", "square", "sin", "sinsin")
OBJECTIVES = ("nce", "infonce")
POSITIVES = ("memory", "live")
NEGATIVES = ("memory", "batch")
# the objective and the positive that go with each kind of negatives when not given (in-batch takes only these)
NEGATIVE_DEFAULTS = {"memory": ("nce", "memory"), "batch": ("infonce", "live")}
# An embedding whose samples point the same way has collapsed: CRD then no longer tells samples apart.
COLLAPSE_COSINE, COLLAPSE_RANK = 0.9, 2.0
# torch.linalg.svdvals synchronises a CUDA device with the host, so on a GPU the effective rank is measured
# every RANK_EVERY_CUDA-th step and held in between (the loop's only other waits are its --print_freq lines)
RANK_EVERY_CUDA = 50


def effective_rank(embeddings: torch.Tensor) -> torch.Tensor:
    """exp of the entropy of the normalised singular values of (B, d) embeddings (Roy & Vetterli, 2007):
    1 when every row points the same way, up to min(B, d) when they spread evenly."""
    singular = torch.linalg.svdvals(embeddings.float())
    p = singular / singular.sum().clamp_min(1e-12)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


def mean_pairwise_cosine(embeddings: torch.Tensor) -> torch.Tensor:
    """Mean cosine between distinct rows of L2-normalised (B, d) embeddings (1: collapsed)."""
    b = embeddings.shape[0]
    gram = embeddings.float() @ embeddings.float().t()
    return (gram.sum() - gram.diagonal().sum()) / max(1, b * (b - 1))


def collapse_warning(stats: dict, positive: str = "memory") -> str | None:
    """A warning when an epoch's mean CRD diagnostics (``diag_*`` in ``metrics.jsonl``) show a collapse."""
    collapsed = [side for side in ("student", "teacher")
                 if stats.get(f"diag_cos_{side}", 0.0) > COLLAPSE_COSINE
                 or stats.get(f"diag_rank_{side}", COLLAPSE_RANK + 1) < COLLAPSE_RANK]
    if not collapsed:
        return None
    figures = ", ".join(f"{side}: mean cosine {stats[f'diag_cos_{side}']:.2f}, effective rank "
                        f"{stats[f'diag_rank_{side}']:.2f}" for side in collapsed)
    return (f"warning: the CRD embeddings have collapsed ({figures}); the contrastive term no longer separates "
            f"samples (try a lower --tau{', --crd_positive memory' if positive == 'live' else ''}, or "
            f"--crd_objective infonce)")


def pose_weight(distance_deg: torch.Tensor, weighting: str) -> torch.Tensor:
    """Weight of a negative whose pose is ``distance_deg`` (geodesic, degrees in [0, 180]) from the anchor's."""
    d = distance_deg / 180.0
    if weighting == "none":
        return torch.ones_like(d)
    if weighting == "linear":
        return d
    if weighting == "sqrt":
        return d.clamp_min(0).sqrt()
    if weighting == "square":
        return d * d
    if weighting == "sin":
        return torch.sin(torch.deg2rad(distance_deg)).abs()
    if weighting == "sinsin":
        return torch.sin(torch.deg2rad(distance_deg)) ** 2
    raise ValueError(f"unknown weighting {weighting!r}; choose from {', '.join(WEIGHTINGS)}")


def off_diagonal(square: torch.Tensor) -> torch.Tensor:
    """(B, B) -> (B, B - 1): each row without its diagonal entry, the other columns in order."""
    b = square.shape[0]
    return square.flatten()[1:].view(b - 1, b + 1)[:, :-1].reshape(b, b - 1)


def diagonal_first(square: torch.Tensor) -> torch.Tensor:
    """(B, B) -> (B, B): column 0 the diagonal entry of the row, then the row's other entries in order."""
    return torch.cat([square.diagonal()[:, None], off_diagonal(square)], dim=1)


class Embed(nn.Module):
    """Linear layer to ``feat_dim`` followed by L2 normalisation."""

    def __init__(self, in_dim: int, feat_dim: int = 128):
        super().__init__()
        self.linear = nn.Linear(in_dim, feat_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(x.flatten(1)), dim=1)


class ContrastMemory(nn.Module):
    """The two memory banks (student, teacher), the stored poses and the running NCE normalisers."""

    def __init__(self, num_samples: int, feat_dim: int = 128, momentum: float = 0.5, poses: torch.Tensor | None = None,
                 seed: int = 0):
        super().__init__()
        self.seed, self.draws = seed, 0
        if num_samples < 2:
            raise ValueError("contrastive distillation needs at least 2 training samples")
        self.num_samples, self.momentum = num_samples, momentum
        bound = 1.0 / math.sqrt(feat_dim / 3)  # CRD's initialisation: rows of roughly unit norm
        self.register_buffer("memory_student", torch.rand(num_samples, feat_dim).mul_(2 * bound).sub_(bound))
        self.register_buffer("memory_teacher", torch.rand(num_samples, feat_dim).mul_(2 * bound).sub_(bound))
        poses = torch.zeros(num_samples, 3) if poses is None else torch.as_tensor(poses, dtype=torch.float32)
        if poses.shape != (num_samples, 3):
            raise ValueError(f"poses must have shape ({num_samples}, 3), not {tuple(poses.shape)}")
        self.register_buffer("poses", poses.clone())
        # running normalisers of the NCE form (student side, teacher side); negative until first estimated
        self.register_buffer("z", torch.full((2,), -1.0))

    def sample_negatives(self, index: torch.Tensor, k: int) -> torch.Tensor:
        """(B,) anchor indices -> (B, k) indices drawn uniformly from the other ``N - 1`` samples.

        The t-th draw uses a generator seeded by (seed, t): the same on every rank and after a resume (the draw
        count is saved with the module), independent of the global random stream.
        """
        generator = torch.Generator(device=index.device)
        generator.manual_seed(self.seed * 1_000_003 + self.draws)
        self.draws += 1
        draw = torch.randint(0, self.num_samples - 1, (index.shape[0], k), device=index.device, generator=generator)
        return draw + (draw >= index[:, None]).long()  # skip the anchor's own slot

    def get_extra_state(self) -> dict:
        return {"draws": self.draws}

    def set_extra_state(self, state: dict) -> None:
        self.draws = int(state["draws"])

    @torch.no_grad()
    def update(self, student: torch.Tensor, teacher: torch.Tensor, index: torch.Tensor, poses: torch.Tensor) -> None:
        """Momentum update of the anchors' rows, renormalised to unit length; store their current poses."""
        m = self.momentum
        for bank, value in ((self.memory_student, student), (self.memory_teacher, teacher)):
            rows = bank[index].mul(m).add_(value.detach().to(bank.dtype), alpha=1 - m)
            bank[index] = F.normalize(rows, dim=1)
        self.poses[index] = poses.detach().to(self.poses.dtype)


class CRDLoss(nn.Module):
    """Embedding heads + memory + the contrastive objective; ``forward`` returns the loss and updates the memory."""

    def __init__(self, student_dim: int, teacher_dim: int, num_samples: int, feat_dim: int = 128,
                 nce_k: int = 16384, tau: float = 0.5, momentum: float = 0.5, objective: str = "nce",
                 weighting: str = "none", z_momentum: float = 0.99, poses: torch.Tensor | None = None,
                 seed: int = 0, positive: str = "memory", negatives: str = "memory"):
        super().__init__()
        if negatives not in NEGATIVES:
            raise ValueError(f"unknown CRD negatives {negatives!r}; choose from {', '.join(NEGATIVES)}")
        if negatives == "batch" and (objective != "infonce" or positive != "live"):
            raise ValueError("in-batch negatives (negatives='batch') take the live positive and the infonce "
                             f"objective, not the {positive} positive and the {objective} objective")
        self.negatives = negatives
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown CRD objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
        if positive not in POSITIVES:
            raise ValueError(f"unknown CRD positive {positive!r}; choose from {', '.join(POSITIVES)}")
        self.positive = positive
        pose_weight(torch.zeros(1), weighting)  # validates the name
        self.embed_student = Embed(student_dim, feat_dim)
        self.embed_teacher = Embed(teacher_dim, feat_dim)
        # in-batch negatives read no memory: none is allocated (nor saved in checkpoints)
        self.memory = ContrastMemory(num_samples, feat_dim, momentum, poses, seed) if negatives == "memory" else None
        self.k = min(nce_k, num_samples - 1) if negatives == "memory" else 0
        self.tau, self.objective, self.weighting, self.z_momentum = tau, objective, weighting, z_momentum
        self.diagnostics: dict = {}
        # measure the effective rank every this many steps, holding it in between (None: every step on a CPU,
        # every RANK_EVERY_CUDA-th on a GPU)
        self.rank_every: int | None = None
        self._rank_calls, self._ranks = 0, None

    def batch_weights(self, poses: torch.Tensor) -> torch.Tensor | None:
        """(B, B - 1) weights of the in-batch negatives: row i, the samples j != i in order."""
        if self.weighting == "none":
            return None
        b = poses.shape[0]
        anchors = poses[:, None, :].expand(b, b, 3).reshape(b * b, 3)
        others = poses[None, :, :].expand(b, b, 3).reshape(b * b, 3)
        distance = label_geodesic_error_torch(anchors, others).reshape(b, b)
        return off_diagonal(pose_weight(distance, self.weighting).float())

    def negative_weights(self, anchor_poses: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor | None:
        if self.weighting == "none":
            return None
        b, k = negatives.shape
        stored = self.memory.poses[negatives].reshape(b * k, 3)
        anchors = anchor_poses[:, None, :].expand(b, k, 3).reshape(b * k, 3)
        distance = label_geodesic_error_torch(anchors, stored).reshape(b, k)
        return pose_weight(distance, self.weighting).float()

    def side_loss(self, logits: torch.Tensor, weights: torch.Tensor | None, side: int) -> torch.Tensor:
        """Loss of one side from logits (B, 1 + K): column 0 is the positive."""
        if self.objective == "infonce":
            if weights is not None:
                logits = torch.cat([logits[:, :1], logits[:, 1:] + torch.log(weights.clamp_min(1e-12))], dim=1)
            return -(logits[:, 0] - torch.logsumexp(logits, dim=1)).mean()
        n = self.memory.num_samples
        scores = torch.exp(logits)
        with torch.no_grad():
            estimate = self.batch_mean(scores) * n
            z = self.memory.z[side]  # negative until the first estimate; torch.where avoids a host sync
            z = torch.where(z < 0, estimate, self.z_momentum * z + (1 - self.z_momentum) * estimate)
            self.memory.z[side] = z
        p = scores / z
        noise = self.k / n
        eps = 1e-7
        positive = torch.log(p[:, 0] / (p[:, 0] + noise + eps))
        negative = torch.log(noise / (p[:, 1:] + noise + eps))
        if weights is not None:
            negative = negative * weights
        return -(positive.sum() + negative.sum()) / logits.shape[0]

    # The batch-level steps, written for one process; engine.distributed.DistributedCRDLoss overrides these three
    # so that several processes act as one process with their global batch.
    def draw_negatives(self, index: torch.Tensor) -> torch.Tensor:
        """(B, K) negative indices for the anchors ``index``."""
        return self.memory.sample_negatives(index, self.k)

    def batch_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean over the batch (the NCE normaliser's estimate)."""
        return values.mean()

    def update_memory(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor, poses: torch.Tensor) -> None:
        self.memory.update(s, t, index, poses)

    def measure(self, s: torch.Tensor, t: torch.Tensor, logits_s: torch.Tensor, student_loss: torch.Tensor,
                index: torch.Tensor) -> dict:
        """Collapse and balance diagnostics of one step (detached scalars, logged as ``diag_*``): the mean
        pairwise cosine and effective rank of the batch's student and teacher embeddings; the size of the
        student side's gradient on the positive logit and on all negative logits together (per anchor, with
        respect to the cosine similarities, so the temperature's 1 / tau is included); how well each student
        embedding agrees with its own teacher embedding (``diag_align``: mean cosine of ``s_i`` and ``t_i``,
        what distillation is for); and how far the teacher memory row of an anchor, before this step's update,
        is from its live teacher embedding (``diag_memory_fresh``: mean cosine; near 0 while the rows are still
        the random initial ones; not with in-batch negatives, which do not use the memory)."""
        every = self.rank_every or (RANK_EVERY_CUDA if s.is_cuda else 1)
        if self._ranks is None or self._rank_calls % every == 0:
            self._ranks = {"diag_rank_student": effective_rank(s.detach()),
                           "diag_rank_teacher": effective_rank(t.detach())}
        self._rank_calls += 1
        out = {"diag_cos_student": mean_pairwise_cosine(s.detach()),
               "diag_cos_teacher": mean_pairwise_cosine(t.detach()), **self._ranks,
               "diag_align": (s.detach() * t.detach()).sum(1).mean()}
        if self.negatives == "memory":
            out["diag_memory_fresh"] = (self.memory.memory_teacher[index] * t.detach().to(
                self.memory.memory_teacher.dtype)).sum(1).mean()
        if logits_s.requires_grad:
            (grad,) = torch.autograd.grad(student_loss, logits_s, retain_graph=True)
            grad = grad.detach().abs() * logits_s.shape[0] / self.tau  # per anchor, per unit of cosine
            out["diag_grad_positive"] = grad[:, 0].mean()
            out["diag_grad_negative"] = grad[:, 1:].sum(dim=1).mean()
        return out

    def forward(self, student_feature: torch.Tensor, teacher_feature: torch.Tensor, index: torch.Tensor,
                poses: torch.Tensor) -> torch.Tensor:
        """Features (B, d_s), (B, d_t) of the samples ``index`` (B,) seen at label-space ``poses`` (B, 3)."""
        s = self.embed_student(student_feature.float())
        t = self.embed_teacher(teacher_feature.float())
        if self.negatives == "batch":
            return self.batch_forward(s, t, index, poses)
        negatives = self.draw_negatives(index)
        idx = torch.cat([index[:, None], negatives], dim=1)
        weights = self.negative_weights(poses, negatives)
        rows = idx if self.positive == "memory" else negatives  # live: the positive is not a memory row
        logits_s = torch.einsum("bd,bkd->bk", s, self.memory.memory_teacher[rows]) / self.tau
        logits_t = torch.einsum("bd,bkd->bk", t, self.memory.memory_student[rows]) / self.tau
        if self.positive == "live":  # each side's own embedding against the other side's, held fixed
            logits_s = torch.cat([(s * t.detach()).sum(1, keepdim=True) / self.tau, logits_s], dim=1)
            logits_t = torch.cat([(t * s.detach()).sum(1, keepdim=True) / self.tau, logits_t], dim=1)
        student_loss = self.side_loss(logits_s, weights, 0)
        loss = student_loss + self.side_loss(logits_t, weights, 1)
        self.diagnostics = self.measure(s, t, logits_s, student_loss, index)
        self.update_memory(s.detach(), t.detach(), index, poses)
        return loss

    def batch_forward(self, s: torch.Tensor, t: torch.Tensor, index: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
        """In-batch contrast of embedded features (``negatives="batch"``): ``l_ij = <s_i, t_j> / tau``, the
        student side a softmax over each row (positive ``j = i``), the teacher side over each column."""
        if s.shape[0] < 2:
            raise ValueError("in-batch negatives need batches of at least 2 samples")
        similarity = s @ t.t() / self.tau
        weights = self.batch_weights(poses)
        logits_s, logits_t = diagonal_first(similarity), diagonal_first(similarity.t())
        student_loss = self.side_loss(logits_s, weights, 0)
        loss = student_loss + self.side_loss(logits_t, weights, 1)
        self.diagnostics = self.measure(s, t, logits_s, student_loss, index)
        return loss  # the memory banks are neither read nor written
