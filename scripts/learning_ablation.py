"""How fast do our networks learn, against the control? One change at a time, on two synthetic sets.

    python scripts/learning_ablation.py                      # every run on both sets -> docs/learning_ablation.md
    python scripts/learning_ablation.py --sets tuning --only control baseline

Every run trains from scratch for ``--epochs`` epochs at one small CPU budget (resnet18, input 32, batch 32,
Adam 1e-3 with L2 weight decay 5e-4, constant learning rate, no augmentation, seed 46 unless a row changes
it) and is scored on the val split after every epoch. ``control`` is ``benchmarks/plain_loop.py`` (a plain
torchvision ResNet over the same crops); every other row is ``training.py`` with the flags in its row, so
anyone can rerun one line; the ``student_*`` rows are ``trainingKD.py`` from the set's linear-fusion teacher.
Two sets: ``tuning`` (data/Synthetic, generator seed 0: every choice was made
looking at it) and ``heldout`` (data/SyntheticHeldout, generator seed 1: other instances, other colours,
other images; never looked at before a choice was fixed). The table (mean per-class val Acc30 after each
epoch, and the median seconds per epoch) is rewritten after each run; rerunning the command skips finished runs (also those of
earlier sessions: their metrics are kept in ``--archive``, docs/runs/learning) and resumes an interrupted one.
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

from auxiliary.files import atomic_write_text  # noqa: E402
from dataset.synthetic import ensure_synthetic  # noqa: E402
from run_archive import finished_records, has_checkpoint  # noqa: E402

SETS = {"tuning": ("data/Synthetic", 0), "heldout": ("data/SyntheticHeldout", 1)}
BUDGET = ["--input_dim", "32", "--batch_size", "32", "--lr", "1e-3", "--workers", "2"]
OURS = ["--img_encoder", "resnet18", "--augment", "none", "--schedule", "step", "--decrease", "1000",
        "--print_freq", "0"]
IMAGE = ["--shape", "None"]
TEACHER = ["--shape", "PointCloud", "--img_feature_dim", "256", "--shape_feature_dim", "256", "--point_num", "250"]
# students distil the linear-fusion teacher of the same set (its best epoch), with the linear-head student
STUDENT = ["--student_encoder", "resnet18", "--head", "linear", "--augment", "none", "--schedule", "step",
           "--decrease", "1000", "--print_freq", "0", "--nce_k", "1024", "--teacher_model", "{teacher}"]
# the rows without KL keep the meaning they had when they were run (trainingKD.py's defaults now add the KL terms)
NO_KL = ["--alpha", "1", "--gamma", "0", "--embed_kl", "0"]
KL = ["--alpha", "0.25", "--gamma", "0.75", "--kd_T", "1", "--embed_kl", "0.75"]  # the reference's KL recipe
TEACHER_KEY = "teacher_linear"

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
    # one change each from ``linear`` (the optimiser, the warm-up, the initialisation, the augmentation)
    "linear_adamw": ("image-only, linear head, AdamW (decoupled decay 0.05)", "training.py",
                     OURS + IMAGE + ["--head", "linear", "--optimizer", "adamw", "--weight_decay", "0.05"]),
    "linear_nodecay_nb": ("image-only, linear head, no decay on biases and BatchNorm", "training.py",
                          OURS + IMAGE + ["--head", "linear", "--no_decay_norm_bias"]),
    "linear_warmup": ("image-only, linear head, 1 epoch of warm-up", "training.py",
                      OURS + IMAGE + ["--head", "linear", "--warmup", "1"]),
    "linear_init_ref": ("image-only, linear head, the reference's initialisation", "training.py",
                        OURS + IMAGE + ["--head", "linear", "--init", "reference"]),
    "linear_light": ("image-only, linear head, light augmentation (box jitter, flip)", "training.py",
                     OURS + IMAGE + ["--head", "linear", "--augment", "light"]),
    "teacher_deform": ("teacher, the 3DAug fusion (1x1-conv MLP, tanh)", "training.py",
                       OURS + TEACHER + ["--fusion", "deform"]),
    "teacher_mlp": ("teacher, PoseFromShape's MLP fusion", "training.py", OURS + TEACHER + ["--fusion", "mlp"]),
    "teacher_linear": ("teacher, linear fusion", "training.py", OURS + TEACHER + ["--fusion", "linear"]),
    "teacher_linear_nce0": ("teacher, linear fusion, no InfoNCE", "training.py",
                            OURS + TEACHER + ["--fusion", "linear", "--contrast_weight", "0"]),
    "teacher_linear_points1000": ("teacher, linear fusion, 1000 points (250 above)", "training.py",
                                  OURS + TEACHER + ["--fusion", "linear", "--point_num", "1000"]),
    "teacher_linear_sphere": ("teacher, linear fusion, clouds centred in the unit ball (`--point_norm sphere`)",
                              "training.py", OURS + TEACHER + ["--fusion", "linear", "--point_norm", "sphere"]),
    "student_pose": ("student, pose loss only", "trainingKD.py", STUDENT + NO_KL + ["--beta", "0"]),
    "student_crd_tau0.5": ("student, CRD (NCE, tau 0.5: the README's recipe)", "trainingKD.py",
                           STUDENT + NO_KL + ["--crd", "--crd_negatives", "memory", "--tau", "0.5",
                                              "--weighting", "linear"]),
    "student_crd_tau0.07": ("student, CRD (NCE, tau 0.07: CRD's own)", "trainingKD.py",
                            STUDENT + NO_KL + ["--crd", "--crd_negatives", "memory", "--tau", "0.07",
                                               "--weighting", "linear"]),
    "student_infonce_tau0.07": ("student, CRD (InfoNCE, tau 0.07)", "trainingKD.py",
                                STUDENT + NO_KL + ["--crd", "--crd_negatives", "memory", "--crd_objective", "infonce",
                                                   "--tau", "0.07", "--weighting", "linear"]),
    "student_kl": ("student, KL distillation (the reference's recipe)", "trainingKD.py",
                   STUDENT + KL),
    "student_crd_kl": ("student, CRD (NCE, tau 0.07) + the KL recipe", "trainingKD.py",
                       STUDENT + ["--crd", "--crd_negatives", "memory", "--tau", "0.07", "--weighting", "linear"] + KL),
}
DIAGNOSTICS = ("diag_cos_student", "diag_rank_student", "diag_cos_teacher", "diag_rank_teacher",
               "diag_grad_positive", "diag_grad_negative")


def run(key: str, data_dir: str, out: Path, archive: Path, epochs: int, seed: int,
        need_checkpoint: bool = False) -> None:
    """Run (or resume, or skip when finished) one row. A finished row's metrics are archived in the repository
    (scripts/run_archive.py); ``need_checkpoint`` (the students' teacher) trains it again when only those are
    left."""
    _, script, flags = RUNS[key]
    flags = [f.format(teacher=out.parent / TEACHER_KEY / "model_best.pth") for f in flags]
    done = has_checkpoint(out, epochs) if need_checkpoint else finished_records(out, archive, epochs) is not None
    if done:
        finished_records(out, archive, epochs)
        return
    out.mkdir(parents=True, exist_ok=True)
    command = [script, "--dataset", "Synthetic", "--data_dir", data_dir, *BUDGET, *flags, "--seed", str(seed),
               "--n_epoch", str(epochs), "--output_dir", str(out)]
    print("+ " + " ".join(command), flush=True)
    with open(out.parent / f"{out.name}.log", "w") as log:
        subprocess.run([sys.executable, *command], cwd=REPO, check=True, stdout=log, stderr=subprocess.STDOUT)
    finished_records(out, archive, epochs)


def epochs_for(key: str, args) -> int:
    return args.student_epochs if key.startswith("student") else args.epochs


def finished(args) -> dict:
    """{set: {key: records}} of every row of RUNS finished on disk (also rows run by earlier invocations)."""
    results = {}
    for name in SETS:  # every set, also those this invocation did not run: the table always shows all
        results[name] = {}
        for key in RUNS:
            records = finished_records(REPO / args.out / name / key, REPO / args.archive / name / f"{key}.jsonl",
                                       epochs_for(key, args))
            if records is not None:
                results[name][key] = records
    return results


def write_table(path: Path, results: dict, args) -> None:
    head = " | ".join(f"ep {e + 1}" for e in range(args.epochs))
    lines = ["# How fast our networks learn, one change at a time (generated)", "",
             "Written by `python scripts/learning_ablation.py` from the archived runs in docs/runs/learning "
             "(`--table_only` rewrites it without running anything); do not edit by hand.", "",
             f"Mean per-class val Acc30 after each epoch (seed {args.seed}; input 32, batch 32, Adam 1e-3, no "
             f"augmentation, constant learning rate; students {args.student_epochs} epochs from the set's "
             "linear-fusion teacher, `{teacher}` in their flags); s/ep is the median epoch time on the 2-core CPU "
             "that ran the row (other jobs ran beside some rows, so it is only indicative).", ""]
    if not any(results.values()):
        lines.append("No run of this ablation is archived yet: `make learning` runs them (about 5 minutes a row on 2 "
                     "cores) and fills this page.")
    for name in (name for name in SETS if results.get(name)):
        lines += [f"**{name}** ({SETS[name][0]})", "", f"| run | {head} | s/ep | flags |",
                  "| --- | " + " | ".join("---" for _ in range(args.epochs)) + " | --- | --- |"]
        for key, records in results.get(name, {}).items():
            label, script, flags = RUNS[key]
            accs = " | ".join([f"{r['val']['acc30']:.1f}" for r in records] + [""] * (args.epochs - len(records)))
            command = f"`{Path(script).name} {' '.join(flags)}`".replace("  ", " ")
            lines.append(f"| {label} | {accs} | {statistics.median(r['time_s'] for r in records):.0f} | {command} |")
        lines.append("")
        diagnosed = {k: r for k, r in results.get(name, {}).items() if DIAGNOSTICS[0] in r[-1]["train"]}
        if diagnosed:
            lines += [f"CRD diagnostics on **{name}**, epoch means of the last epoch (`diag_*` in metrics.jsonl): "
                      "mean pairwise cosine and effective rank of a batch's 128-d embeddings (student, teacher), "
                      "and the student side's gradient per anchor on the positive logit and on all negatives "
                      "together (per unit of cosine).", "",
                      "| run | cos student | rank student | cos teacher | rank teacher | grad positive | "
                      "grad negatives |", "| --- | --- | --- | --- | --- | --- | --- |"]
            for key, records in diagnosed.items():
                train = records[-1]["train"]
                lines.append(f"| {RUNS[key][0]} | " + " | ".join(f"{train[d]:.3g}" for d in DIAGNOSTICS) + " |")
            lines.append("")
    atomic_write_text(path, "\n".join(lines) + "\n")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--only", nargs="+", default=list(RUNS), choices=list(RUNS), help="rows to run")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--student_epochs", type=int, default=3, help="epochs of the student rows")
    parser.add_argument("--seed", type=int, default=46)
    parser.add_argument("--out", default="result/learning")
    parser.add_argument("--archive", default="docs/runs/learning",
                        help="finished rows' metrics, committed, so that rows add up over sessions")
    parser.add_argument("--table", default="docs/learning_ablation.md")
    parser.add_argument("--table_only", action="store_true", help="rewrite the table from finished runs; run nothing")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.table_only:
        write_table(REPO / args.table, finished(args), args)
        print((REPO / args.table).read_text())
        return
    start, table = time.time(), REPO / args.table
    for name in args.sets:
        data_dir, generator_seed = SETS[name]
        ensure_synthetic(REPO / data_dir, seed=generator_seed)
        for key in args.only:
            out, archive = REPO / args.out / name / key, REPO / args.archive / name / f"{key}.jsonl"
            if key.startswith("student") and finished_records(out, archive, epochs_for(key, args)) is None:
                run(TEACHER_KEY, data_dir, out.parent / TEACHER_KEY, archive.parent / f"{TEACHER_KEY}.jsonl",
                    args.epochs, args.seed, need_checkpoint=True)
            run(key, data_dir, out, archive, epochs_for(key, args), args.seed)
            write_table(table, finished(args), args)
    print(table.read_text())
    print(f"{(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
