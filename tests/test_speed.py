"""The speed paths work on a CPU, and the benchmark reports every figure (no timing is asserted anywhere)."""
import json
import math

import pytest
import torch

import training
from auxiliary.checkpoint import load_checkpoint
from engine.loop import Precision, to_device
from model.estimator import network_from_checkpoint

from conftest import TINY_TEACHER


def test_amp_and_channels_last_flags_train_on_a_cpu(synthetic_root, tmp_path, capsys):
    out = training.main(TINY_TEACHER + ["--data_dir", str(synthetic_root), "--output_dir", str(tmp_path / "run"),
                                        "--n_epoch", "1", "--amp", "--channels_last"])
    assert "--amp applies to CUDA devices only" in capsys.readouterr().out
    checkpoint = load_checkpoint(out / "model_best.pth")
    network_from_checkpoint(checkpoint, out / "model_best.pth")  # loads into a plain network


def test_precision_on_cpu_is_float32_and_channels_last_is_kept():
    precision = Precision("cpu", amp=True, channels_last=True)
    assert precision.dtype is None and precision.scaler is None
    batch = to_device({"image": torch.zeros(2, 3, 8, 8, dtype=torch.uint8)}, "cpu", precision.memory_format)
    assert batch["image"].dtype == torch.float32
    assert batch["image"].is_contiguous(memory_format=torch.channels_last)
    with precision.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


@pytest.mark.parametrize("negatives", ["batch", "memory"])
def test_benchmark_reports_every_figure_for_both_stages(synthetic_root, tmp_path, negatives):
    from benchmarks import throughput

    path = tmp_path / "bench.json"
    throughput.main(["--data_dir", str(synthetic_root), "--device", "cpu", "--input_dim", "32", "--batch_size", "8",
                     "--img_encoder", "resnet18", "--student_encoder", "resnet18", "--img_feature_dim", "16",
                     "--shape_feature_dim", "16", "--student_feature_dim", "16", "--point_num", "100",
                     "--nce_k", "16", "--crd_negatives", negatives, "--workers", "0", "--batches", "1",
                     "--repeats", "1", "--warmup", "0", "--json", str(path)])
    report = json.loads(path.read_text())
    for stage in ("teacher", "student"):
        for key in ("loader_sps", "model_sps", "full_sps", "eval_sps", "peak_mem_mb"):
            assert math.isfinite(report[stage][key]) and report[stage][key] > 0, (stage, key)
    assert report["teacher"]["reference_loader_sps"] > 0 and report["settings"]["input_dim"] == 32


def test_compiled_training_saves_the_plain_network(synthetic_root, tmp_path):
    """--compile trains through torch.compile (about a minute of compilation here) and saves the plain module."""
    out = training.main(TINY_TEACHER + ["--data_dir", str(synthetic_root), "--output_dir", str(tmp_path / "run"),
                                        "--n_epoch", "1", "--shape", "None", "--compile"])
    checkpoint = load_checkpoint(out / "checkpoint.pth")
    assert not any("_orig_mod" in key for key in checkpoint["model"])
    network_from_checkpoint(checkpoint, out / "checkpoint.pth")
