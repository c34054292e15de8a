"""torchrun with 2 CPU processes (gloo) against one process with the same global batch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from auxiliary.checkpoint import load_checkpoint
from dataset.sampler import EpochSampler

from conftest import TINY_TEACHER, without_flags

REPO = Path(__file__).resolve().parents[1]
# per-process batch 8 under torchrun = batch 16 in one process; no dropout term (it draws per rank)
COMMON = without_flags(TINY_TEACHER, "--batch_size") + ["--sync_bn", "--n_epoch", "1"]


def test_rank_shares_rebuild_the_single_process_batches():
    single = EpochSampler(50, shuffle=True, seed=3, batch_size=8)
    shares = [EpochSampler(50, shuffle=True, seed=3, rank=r, world=2, batch_size=4) for r in range(2)]
    for sampler in [single, *shares]:
        sampler.set_epoch(2)
    order = [i for i, _ in single]
    ranks = [[i for i, _ in s] for s in shares]
    assert len(ranks[0]) == len(ranks[1]) == len(shares[0]) == 24  # 6 global batches of 8, the rest dropped
    for k in range(6):  # step k: rank 0's 4 items + rank 1's 4 items = the single process's batch k
        assert ranks[0][4 * k:4 * k + 4] + ranks[1][4 * k:4 * k + 4] == order[8 * k:8 * k + 8]
    shares[1].set_epoch(2, skip=8)
    assert [i for i, _ in shares[1]] == ranks[1][8:] and len(shares[1]) == 16
    evaluation = [EpochSampler(11, shuffle=False, rank=r, world=2) for r in range(2)]
    seen = [i for s in evaluation for i, _ in s]
    assert sorted(seen) == list(range(11)) and len(evaluation[0]) + len(evaluation[1]) == 11


def torchrun(script, argv, nproc=2):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", script,
               *argv]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def single(script, argv):
    run = subprocess.run([sys.executable, script, *argv], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_close_runs(a, b, banks=False):
    """Two runs of the same global batch agree up to float reordering, which Adam amplifies step by step: after
    an epoch they differ as much as one process run with 1 and with 2 threads does (a few per cent of the
    weights' change), so whole-epoch figures are compared here and single steps in the worker test."""
    ma, mb = metrics(a)[0], metrics(b)[0]
    assert ma["train"]["loss"] == pytest.approx(mb["train"]["loss"], rel=1e-2)
    x, y = load_checkpoint(a / "checkpoint.pth"), load_checkpoint(b / "checkpoint.pth")
    assert x["epoch"] == y["epoch"] == 0 and x["model"].keys() == y["model"].keys()
    if banks:  # the rows written at the first step (same weights) agree; later rows follow the drift
        sampler = EpochSampler(x["crd"]["memory.poses"].shape[0], shuffle=True, seed=1)
        first_batch = [i for i, _ in sampler][:16]
        for bank in ("memory.memory_student", "memory.memory_teacher"):
            cosine = (x["crd"][bank] * y["crd"][bank]).sum(1)  # rows are unit vectors
            assert cosine[first_batch].min() > 0.9999 and cosine.mean() > 0.8, bank
        assert torch.equal(x["crd"]["memory.poses"], y["crd"]["memory.poses"])  # the poses of the same views


def test_data_parallel_steps_equal_one_process_steps(synthetic_root, tmp_path):
    """Gradients of one step (teacher: DDP + global batch norm; student: DDP + CRD heads) and the CRD memory
    after two steps, against the same steps on the global batch in one process; banks identical across ranks."""
    out = tmp_path / "worker.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "tests" / "ddp_worker.py"), str(synthetic_root), str(out)]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["teacher_grad"] < 1e-4 and result["student_grad"] < 1e-4, result  # relative, all parameters
    for bank in ("memory_student", "memory_teacher", "poses", "z"):
        assert result[f"{bank}_across_ranks"] == 0.0, result
        assert result[f"{bank}_vs_single"] < 1e-3, result
    assert result["draws"] == 2


def test_two_process_teacher_matches_one_process_and_resumes_alone(synthetic_root, tmp_path):
    data = ["--data_dir", str(synthetic_root), "--contrast_weight", "0"]
    torchrun("training.py", COMMON + data + ["--batch_size", "8", "--output_dir", str(tmp_path / "ddp")])
    single("training.py", COMMON + data + ["--batch_size", "16", "--output_dir", str(tmp_path / "one")])
    assert_close_runs(tmp_path / "ddp", tmp_path / "one")
    # the checkpoint of the 2-process run is a plain one: a single process resumes it
    run = single("training.py", COMMON + data + ["--batch_size", "16", "--output_dir", str(tmp_path / "ddp"),
                                                 "--n_epoch", "2"])
    assert "resumed from" in run.stdout and [r["epoch"] for r in metrics(tmp_path / "ddp")] == [0, 1]


def test_two_process_distillation_keeps_identical_memory_banks(teacher_path, synthetic_root, tmp_path):
    argv = ["--dataset", "Synthetic", "--data_dir", str(synthetic_root), "--teacher_model", str(teacher_path),
            "--student_encoder", "resnet18", "--img_feature_dim", "32", "--crd", "--crd_negatives", "memory",
            "--nce_k", "16", "--workers", "0",
            "--print_freq", "0", "--lr", "1e-3", "--seed", "1", "--sync_bn", "--n_epoch", "1"]
    torchrun("trainingKD.py", argv + ["--batch_size", "8", "--output_dir", str(tmp_path / "ddp")])
    single("trainingKD.py", argv + ["--batch_size", "16", "--output_dir", str(tmp_path / "one")])
    assert_close_runs(tmp_path / "ddp", tmp_path / "one", banks=True)
    assert load_checkpoint(tmp_path / "ddp" / "checkpoint.pth")["crd"]["memory._extra_state"]["draws"] == 9
