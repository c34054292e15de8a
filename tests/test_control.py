"""The control loop (benchmarks/plain_loop.py)."""
import sys
from pathlib import Path

from auxiliary.files import read_jsonl
from auxiliary.plots import plot_curves

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import plain_loop  # noqa: E402


def test_a_tiny_control_run_learns_and_logs_like_the_scripts(synthetic_root, tmp_path):
    out = tmp_path / "control"
    plain_loop.main(["--data_dir", str(synthetic_root), "--input_dim", "32", "--batch_size", "16", "--n_epoch", "8",
                     "--lr", "2e-3", "--workers", "0", "--output_dir", str(out)])
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["epoch"] for r in records] == list(range(8))
    losses = [r["train"]["loss"] for r in records]
    assert losses[-1] < 0.6 * losses[0]  # it fits the 144 training crops
    assert records[-1]["train"]["acc30"] > records[0]["train"]["acc30"] + 20
    assert {"acc30", "mederr", "pooled_acc30", "pooled_mederr"} <= set(records[-1]["val"])
    assert plot_curves([out], tmp_path / "curves.png").is_file()  # the scripts' plot reads its log


def test_the_control_cosine_schedule_decays_the_logged_learning_rate(synthetic_root, tmp_path):
    out = tmp_path / "cosine"
    plain_loop.main(["--data_dir", str(synthetic_root), "--input_dim", "32", "--batch_size", "16", "--n_epoch", "2",
                     "--lr", "2e-3", "--workers", "0", "--schedule", "cosine", "--output_dir", str(out)])
    lrs = [r["lr"] for r in read_jsonl(out / "metrics.jsonl")]
    # the rate at the start of each epoch: the full rate, then half of it (cos(pi / 2) = 0 halfway through)
    assert lrs[0] == 2e-3 and abs(lrs[1] - 1e-3) < 1e-12
