"""How fast do our networks learn, against the control? One change at a time, on two synthetic sets.

    python scripts/learning_ablation.py                      # every run on both sets -> docs/learning_ablation.md
    python scripts/learning_ablation.py --sets tuning --only control baseline

Every run trains from scratch for ``--epochs`` epochs at one small CPU budget (resnet18, input 32, batch 32,
Adam 1e-3 with L2 weight decay 5e-4, constant learning rate, no augmentation, seed 46 unless a row changes
it) and is scored on the val split after every epoch. ``control`` is ``benchmarks/plain_loop.py`` (a plain
torchvision ResNet over the same crops); every other row is ``training.py`` with the flags in its row, so
anyone can rerun one line. Two sets: ``tuning`` (data/Synthetic, generator seed 0: every choice was made
looking at it) and ``heldout`` (data/SyntheticHeldout, generator seed 1: other instances, other colours,
other images; never looked at before a choice was fixed). The table (mean per-class val Acc30 after each
epoch, and the median seconds per epoch on this machine) is rewritten after each run; rerunning the command
skips finished runs and resumes an interrupted one.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auxiliary.files import atomic_write_text, read_jsonl  # noqa: E402
from dataset.synthetic import ensure_synthetic  # noqa: E402

SETS = {"tuning": ("data/Synthetic", 0), "heldout": ("data/SyntheticHeldout", 1)}
BUDGET = ["--input_dim", "32", "--batch_size", "32", "--lr", "1e-3", "--workers", "2"]
OURS = ["--img_encoder", "resnet18", "--augment", "none", "--schedule", "step", "--decrease", "1000",
        "--print_freq", "0"]
IMAGE = ["--shape", "None"]
TEACHER = ["--shape", "PointCloud", "--img_feature_dim", "256", "--shape_feature_dim", "256", "--point_num", "250"]

# key -> (what the row is, script, flags beyond the budget). Each row changes one thing from the row it names.
RUNS = {
    "control": ("control: plain torchvision resnet18, 60 bin logits", "benchmarks/plain_loop.py", []),
    "baseline": ("image-only, the reference's 800-400-200 MLP head", "training.py",
                 OURS + IMAGE + ["--head", "mlp"]),
    "baseline_wd0": ("image-only, MLP head, no weight decay", "training.py",
                     OURS + IMAGE + ["--head", "mlp", "--weight_decay", "0"]),
    "baseline_offset0": ("image-only, MLP head, no offset loss", "training.py",
                         OURS + IMAGE + ["--head", "mlp", "--offset_weight", "0"]),
    "linear": ("image-only, linear head", "training.py", OURS + IMAGE + ["--head", "linear"]),
    "teacher_deform": ("teacher, the 3DAug fusion (1x1-conv MLP, tanh)", "training.py",
                       OURS + TEACHER + ["--fusion", "deform"]),
    "teacher_mlp": ("teacher, PoseFromShape's MLP fusion", "training.py", OURS + TEACHER + ["--fusion", "mlp"]),
    "teacher_linear": ("teacher, linear fusion", "training.py", OURS + TEACHER + ["--fusion", "linear"]),
    "teacher_linear_nce0": ("teacher, linear fusion, no InfoNCE", "training.py",
                            OURS + TEACHER + ["--fusion", "linear", "--contrast_weight", "0"]),
}


def run(key: str, data_dir: str, out: Path, epochs: int, seed: int) -> list[dict]:
    """Run (or resume, or skip when finished) one row; returns its metrics records."""
    _, script, flags = RUNS[key]
    records = read_jsonl(out / "metrics.jsonl")
    if len(records) < epochs:
        command = [script, "--dataset", "Synthetic", "--data_dir", data_dir, *BUDGET, *flags, "--seed", str(seed),
                   "--n_epoch", str(epochs), "--output_dir", str(out)]
        print("+ " + " ".join(command), flush=True)
        with open(out.with_suffix(".log"), "w") as log:
            subprocess.run([sys.executable, *command], cwd=REPO, check=True, stdout=log, stderr=subprocess.STDOUT)
        records = read_jsonl(out / "metrics.jsonl")
    return records[:epochs]


def finished(args) -> dict:
    """{set: {key: records}} of every row of RUNS finished on disk (also rows run by earlier invocations)."""
    results = {}
    for name in args.sets:
        results[name] = {}
        for key in RUNS:
            records = read_jsonl(REPO / args.out / name / key / "metrics.jsonl")
            if len(records) >= args.epochs:
                results[name][key] = records[:args.epochs]
    return results


def write_table(path: Path, results: dict, args) -> None:
    head = " | ".join(f"ep {e + 1}" for e in range(args.epochs))
    lines = [f"Mean per-class val Acc30 after each epoch (seed {args.seed}; input 32, batch 32, Adam 1e-3, no "
             "augmentation, constant learning rate); s/ep is the median epoch time on this machine.", ""]
    for name in args.sets:
        lines += [f"**{name}** ({SETS[name][0]})", "", f"| run | {head} | s/ep | flags |",
                  "| --- | " + " | ".join("---" for _ in range(args.epochs)) + " | --- | --- |"]
        for key, records in results.get(name, {}).items():
            label, script, flags = RUNS[key]
            accs = " | ".join(f"{r['val']['acc30']:.1f}" for r in records)
            command = f"`{Path(script).name} {' '.join(flags)}`".replace("  ", " ")
            lines.append(f"| {label} | {accs} | {statistics.median(r['time_s'] for r in records):.0f} | {command} |")
        lines.append("")
    atomic_write_text(path, "\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--only", nargs="+", default=list(RUNS), choices=list(RUNS), help="rows to run")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=46)
    parser.add_argument("--out", default="result/learning")
    parser.add_argument("--table", default="docs/learning_ablation.md")
    args = parser.parse_args(argv)
    start, table = time.time(), REPO / args.table
    for name in args.sets:
        data_dir, generator_seed = SETS[name]
        ensure_synthetic(REPO / data_dir, seed=generator_seed)
        for key in args.only:
            out = REPO / args.out / name / key
            out.mkdir(parents=True, exist_ok=True)
            run(key, data_dir, out, args.epochs, args.seed)
            write_table(table, finished(args), args)
    print(table.read_text())
    print(f"{(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
