"""The paper's claim on the synthetic benchmark: does distilling a 3D-aware teacher help an image-only student?

    python scripts/synthetic_claims.py            # or: make reproduce-synthetic

For each seed (default 1 2 3) and with identical budgets, trains on the built-in synthetic data:

* the teacher (image + point cloud);
* four image-only students from that teacher: pose loss only; KL distillation (the public reference's recipe:
  0.25 pose + 0.75 KL on the six heads + 0.75 KL on the embeddings, no contrastive term); CRD with plain
  negatives (``--weighting none``); CRD with pose-weighted negatives (``--weighting linear``);
* the zero-shot split: a teacher trained without the novel classes (bed, guitar, mug) and a CRD student
  (pose-weighted) distilled from it, both scored on the novel classes only.

Every run is evaluated on the val split after each epoch; the table reports the mean and the spread (sample
standard deviation over seeds) of the mean per-class Acc30 and MedErr at the best epoch (model selection on
val, as in the paper and the reference code) and of Acc30 at the last epoch. The table is rewritten after every
run (``--table``, default docs/synthetic_claims.md, also copied into the README between its
``synthetic-claims`` markers) with the time the runs took; rerunning the command skips finished runs and
resumes an interrupted one from its checkpoint.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auxiliary.files import atomic_write_text, read_jsonl, replace_between_markers  # noqa: E402

COMMON = ["--dataset", "Synthetic", "--batch_size", "64", "--workers", "2", "--lr", "2e-3", "--schedule", "cosine",
          "--warmup", "1", "--augment", "light", "--print_freq", "0"]
TEACHER = ["--fusion", "deform", "--img_encoder", "resnet18", "--input_dim", "32", "--img_feature_dim", "256", "--shape_feature_dim", "256",
           "--point_num", "250"]
STUDENT = ["--head", "mlp", "--student_encoder", "resnet18", "--img_feature_dim", "256", "--nce_k", "1024", "--tau", "0.5"]
STUDENTS = {  # name -> (label, flags)
    "pose": ("student, pose loss only", ["--beta", "0"]),
    "kl": ("student, KL distillation (reference recipe)", ["--alpha", "0.25", "--gamma", "0.75", "--kd_T", "1",
                                                           "--embed_kl", "0.75"]),
    "crd": ("student, CRD", ["--crd", "--weighting", "none"]),
    "crd_pose": ("student, CRD + pose-weighted negatives", ["--crd", "--weighting", "linear"]),
}


def run(command, out: Path, epochs: int) -> dict:
    """Run (or resume, or skip when finished) one training command; returns its figures."""
    records = read_jsonl(out / "metrics.jsonl")
    if len(records) < epochs or not (out / "results_best.json").is_file():
        print("+ " + " ".join(command), flush=True)
        subprocess.run([sys.executable, *command], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        records = read_jsonl(out / "metrics.jsonl")
    best = json.loads((out / "results_best.json").read_text())
    return {"acc30": best["mean"]["acc30"], "mederr": best["mean"]["mederr"], "best_epoch": best["epoch"],
            "last_acc30": records[-1]["val"]["acc30"], "time_s": sum(r["time_s"] for r in records)}


def spread(values) -> str:
    mean = statistics.mean(values)
    return f"{mean:.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{mean:.2f}"


def write_table(path: Path, rows: list, results: dict, args, elapsed: float) -> None:
    lines = ["| run | evaluated on | seeds | Acc30 (best epoch) | MedErr (best epoch) | Acc30 (last epoch) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key, label, classes in rows:
        found = [results[s][key] for s in args.seeds if key in results.get(s, {})]
        if not found:
            continue
        lines.append(f"| {label} | {classes} | {len(found)} | {spread([f['acc30'] for f in found])} | "
                     f"{spread([f['mederr'] for f in found])} | {spread([f['last_acc30'] for f in found])} |")
    epochs = sum(f["time_s"] for s in results.values() for f in s.values())
    lines += ["", f"Seeds {', '.join(map(str, args.seeds))}; teacher {args.teacher_epochs} epochs, students "
              f"{args.student_epochs} epochs; mean ± sample standard deviation over seeds. Training and "
              f"per-epoch evaluation took {epochs / 60:.1f} min in total (the sum of the runs' epoch times"
              + (f"; this invocation of `make reproduce-synthetic` ran {elapsed / 60:.1f} min)."
                 if elapsed > 60 else ").")]
    text = "\n".join(lines) + "\n"
    atomic_write_text(path, text)
    replace_between_markers(REPO / "README.md", "synthetic-claims", text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--teacher_epochs", type=int, default=4)
    parser.add_argument("--student_epochs", type=int, default=3)
    parser.add_argument("--out", default="result/claims", help="run directories")
    parser.add_argument("--table", default="docs/synthetic_claims.md")
    args = parser.parse_args(argv)
    out, table = REPO / args.out, REPO / args.table
    rows = [("teacher", "teacher (image + point cloud)", "all 12 classes")]
    rows += [(k, label, "all 12 classes") for k, (label, _) in STUDENTS.items()]
    rows += [("novel_teacher", "zero-shot teacher", "3 novel classes"),
             ("novel_crd_pose", "zero-shot student, CRD + pose-weighted", "3 novel classes")]
    results, start = {}, time.time()
    for seed in args.seeds:
        base = out / f"seed{seed}"
        results[seed] = {}
        for novel in (False, True):
            prefix = "novel_" if novel else ""
            flags = COMMON + ["--seed", str(seed)] + (["--novel"] if novel else [])
            teacher_dir = base / f"{prefix}teacher"
            results[seed][prefix + "teacher"] = run(
                ["training.py", *flags, *TEACHER, "--n_epoch", str(args.teacher_epochs), "--output_dir",
                 str(teacher_dir)], teacher_dir, args.teacher_epochs)
            write_table(table, rows, results, args, time.time() - start)
            for name, (_, extra) in STUDENTS.items():
                if novel and name != "crd_pose":
                    continue
                student_dir = base / f"{prefix}{name}"
                results[seed][prefix + name] = run(
                    ["trainingKD.py", *flags, *STUDENT, *extra, "--teacher_model", str(teacher_dir / "model_best.pth"),
                     "--n_epoch", str(args.student_epochs), "--output_dir", str(student_dir)],
                    student_dir, args.student_epochs)
                write_table(table, rows, results, args, time.time() - start)
    print(table.read_text())


if __name__ == "__main__":
    main()
