"""Figures written by the scripts: training curves, per-class Acc30 bars, error CDFs.

    python -m auxiliary.plots curves RUN_DIR [RUN_DIR ...]  --out curves.png
    python -m auxiliary.plots classes RESULTS.json [...]    --out per_class.png
    python -m auxiliary.plots cdf PREDICTIONS.csv [...]     --out error_cdf.png

training.py and trainingKD.py write ``curves.png`` into their run directory, testing.py writes
``per_class.png`` and ``error_cdf.png`` beside its tables; the command line overlays several runs.
Images are written atomically (temporary file, then rename).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from auxiliary.metrics import ACC_THRESHOLD_DEG  # noqa: E402
from auxiliary.files import read_jsonl  # noqa: E402


def save_figure(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _label(path) -> str:
    path = Path(path)
    return path.name if path.is_dir() else path.parent.name


def plot_curves(run_dirs, out, labels=None) -> Path:
    """Training loss terms and val Acc30 / MedErr per epoch, from each run's ``metrics.jsonl``."""
    labels = labels or [_label(r) for r in run_dirs]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for k, (run, name) in enumerate(zip(run_dirs, labels)):
        records = read_jsonl(Path(run) / "metrics.jsonl")
        if not records:
            raise ValueError(f"{Path(run) / 'metrics.jsonl'} has no epoch records")
        epochs = [r["epoch"] for r in records]
        colour = f"C{k % 10}"
        # one run: every loss term; several: each run's total loss in its colour
        terms = [t for t in records[0]["train"] if t != "acc30" and not t.startswith("diag_")] if len(run_dirs) == 1 else ["loss"]
        for j, key in enumerate(terms):
            axes[0].plot(epochs, [r["train"][key] for r in records], color=f"C{j % 10}" if len(terms) > 1 else colour,
                         label=key if len(run_dirs) == 1 else f"{name}: total")
        axes[1].plot(epochs, [r["val"]["acc30"] for r in records], color=colour, marker="o", ms=3, label=f"{name}: val")
        axes[1].plot(epochs, [r["train"]["acc30"] for r in records], color=colour, ls="--",
                     label=f"{name}: train (augmented)")
        axes[2].plot(epochs, [r["val"]["mederr"] for r in records], color=colour, marker="o", ms=3, label=name)
    for ax, title in zip(axes, ("training loss terms", "mean per-class Acc30 (%)", "val mean per-class MedErr (deg)")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    return save_figure(fig, out)


def plot_per_class(results_files, out, labels=None) -> Path:
    """Grouped bars of per-class Acc30 from testing.py's ``results.json`` files (the class mean last)."""
    tables = [json.loads(Path(f).read_text()) for f in results_files]
    labels = labels or [_label(f) for f in results_files]
    classes = list(tables[0]["classes"])
    names = classes + ["mean"]
    width = 0.8 / len(tables)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) * max(1, len(tables) / 2)), 4))
    x = np.arange(len(names))
    for k, (table, label) in enumerate(zip(tables, labels)):
        values = [table["classes"].get(c, {}).get("acc30", np.nan) for c in classes] + [table["mean"]["acc30"]]
        ax.bar(x + (k - (len(tables) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("Acc30 (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out)


def read_errors(predictions_csv) -> np.ndarray:
    with open(predictions_csv, newline="") as f:
        return np.array([float(row["error_deg"]) for row in csv.DictReader(f)])


def plot_error_cdf(prediction_files, out, labels=None) -> Path:
    """Fraction of samples with geodesic error <= x, for x in [0, 180], from ``predictions.csv`` files."""
    labels = labels or [_label(f) for f in prediction_files]
    fig, ax = plt.subplots(figsize=(6, 4))
    for path, label in zip(prediction_files, labels):
        errors = np.sort(read_errors(path))
        ax.step(errors, np.arange(1, len(errors) + 1) / len(errors), where="post", label=label)
    ax.axvline(ACC_THRESHOLD_DEG, color="grey", ls=":", label="30 degrees")
    ax.set_xlim(0, 180)
    ax.set_ylim(0, 1)
    ax.set_xlabel("geodesic error (degrees)")
    ax.set_ylabel("fraction of samples")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description="3DAug-Pose figures")
    parser.add_argument("kind", choices=["curves", "classes", "cdf"])
    parser.add_argument("inputs", nargs="+", help="run directories (curves), results.json (classes) or predictions.csv (cdf)")
    parser.add_argument("--labels", nargs="+", default=None, help="legend names, one per input")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.inputs):
        parser.error("give one --labels entry per input")
    if args.kind == "curves":
        path = plot_curves(args.inputs, args.out, args.labels)
    elif args.kind == "classes":
        path = plot_per_class(args.inputs, args.out, args.labels)
    else:
        path = plot_error_cdf(args.inputs, args.out, args.labels)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
