"""Run under torchrun by tests/test_distributed.py: data-parallel steps against the same steps on the global
batch in one process (computed here, on every rank, from copies of the same networks).

Writes a JSON file (rank 0) with the largest differences: the teacher's and the student's gradients after one
step, the CRD memory banks after two steps, and the difference of the banks across ranks.
"""
import contextlib
import copy
import json
import sys

import torch
from torch.utils.data import default_collate

from engine import distributed
from auxiliary.angles import ViewpointCodec
from engine.loop import TeacherObjective, to_device
from dataset.viewpoint import ViewpointDataset
from engine.distributed import DistributedCRDLoss
from model.distill import DistillObjective, freeze
from model.estimator import build_model
from model.infonce import InfoNCE
from model.pose_loss import PoseLoss


def relative_difference(grads, reference) -> float:
    """||g - g_ref|| / ||g_ref|| over all parameters that have a reference gradient."""
    pairs = [(g, r) for g, r in zip(grads, reference) if r is not None]
    difference = sum(float(((g - r) ** 2).sum()) for g, r in pairs) ** 0.5
    return difference / max(sum(float((r ** 2).sum()) for _, r in pairs) ** 0.5, 1e-12)


def main(data_dir, out):
    ctx = distributed.init("cpu")
    device = torch.device("cpu")
    torch.manual_seed(1)
    bins = [24, 12, 24]
    teacher = build_model({"kind": "teacher", "img_encoder": "resnet18", "img_feature_dim": 32,
                           "shape_feature_dim": 16, "fusion": "deform", "num_bins": bins})
    student = build_model({"kind": "image", "img_encoder": "resnet18", "img_feature_dim": 32, "num_bins": bins})
    dataset = ViewpointDataset(data_dir, "Synthetic", "train", shape="PointCloud", input_dim=32, point_num=100)
    crd = DistributedCRDLoss(200, 200, num_samples=len(dataset), feat_dim=16, nce_k=24, weighting="linear",
                  poses=torch.from_numpy(dataset.labels()).float(), seed=5)
    for module in (teacher, student, crd):
        distributed.broadcast_module(module)
    references = [copy.deepcopy(m) for m in (teacher, student, crd)]
    batches = [to_device(default_collate([dataset[(i, 0)] for i in range(k, k + 16)]), device) for k in (0, 16)]
    half = slice(ctx.rank * 8, ctx.rank * 8 + 8)
    local = [{k: v[half] if torch.is_tensor(v) else v for k, v in b.items()} for b in batches]
    codec = ViewpointCodec()
    result = {}

    # teacher: one step's gradients, global batch norm and DDP vs the plain network on the global batch
    objective = TeacherObjective(PoseLoss(codec), InfoNCE(0.1), 0.0)
    reference = references[0].train()
    with distributed.single_process():
        objective(reference, batches[0])[0].backward()
    wrapped = distributed.wrap(distributed.convert_sync_batchnorm(teacher, device), device).train()
    objective(wrapped, local[0])[0].backward()
    result["teacher_grad"] = relative_difference([p.grad for p in teacher.parameters()],
                                                 [p.grad for p in reference.parameters()])

    # student with CRD: two SGD steps
    frozen = freeze(copy.deepcopy(references[0]))
    runs = {}
    for name, (net, contrast, data) in {"ddp": (student, crd, local), "one": (references[1], references[2],
                                                                         batches)}.items():
        net = distributed.convert_sync_batchnorm(net, device) if name == "ddp" else net
        call = distributed.wrap(net, device) if name == "ddp" else net
        call.train()
        objective = DistillObjective(frozen, PoseLoss(codec), contrast, gamma=0.5)
        optimizer = torch.optim.SGD(list(net.parameters()) + list(contrast.parameters()), lr=0.01)
        grads = first = None
        with distributed.single_process() if name == "one" else contextlib.nullcontext():
            for step, batch in enumerate(data):
                optimizer.zero_grad()
                loss, _, _ = objective(call, batch)
                loss.backward()
                objective.after_backward()
                if step == 0:
                    grads = [None if p.grad is None else p.grad.clone()
                             for p in list(net.parameters()) + list(contrast.parameters())]
                    first = {k: v.clone() for k, v in contrast.memory.state_dict().items() if torch.is_tensor(v)}
                optimizer.step()
        runs[name] = (grads, contrast.memory, first)
    result["student_grad"] = relative_difference(runs["ddp"][0], runs["one"][0])
    for bank in ("memory_student", "memory_teacher", "poses", "z"):
        mine, single = getattr(runs["ddp"][1], bank), getattr(runs["one"][1], bank)
        result[f"{bank}_vs_single"] = (mine - single).abs().max().item()
        result[f"{bank}_vs_single_step1"] = (runs["ddp"][2][bank] - runs["one"][2][bank]).abs().max().item()
        gathered = distributed.all_gather(mine[None])
        result[f"{bank}_across_ranks"] = (gathered - gathered[0]).abs().max().item()
    result["draws"] = runs["ddp"][1].draws
    if ctx.is_main:
        with open(out, "w") as f:
            json.dump(result, f)
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
