"""Viewpoint metrics: Acc@pi/6 (Acc30) and median geodesic error (MedErr), per class and over the dataset.

The dataset figure is the unweighted mean over classes of the per-class Acc30 and of the per-class MedErr (a
mean of medians), as in the papers; the pooled figures over all samples are reported beside it.
"""
from __future__ import annotations

import numpy as np

ACC_THRESHOLD_DEG = 30.0


def summarize(errors: np.ndarray) -> dict:
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        raise ValueError("cannot summarise an empty set of errors")
    return {"n": int(errors.size),
            "acc30": float(100.0 * np.mean(errors <= ACC_THRESHOLD_DEG)),
            "mederr": float(np.median(errors))}


def per_class_table(errors, classes) -> dict:
    """errors (N,) in degrees and class names (N,) -> {'classes': {cat: {n, acc30, mederr}}, 'mean': ..., 'pooled': ...}.

    Classes are listed in sorted order; ``mean`` averages the per-class figures without weighting.
    """
    errors = np.asarray(errors, dtype=np.float64)
    classes = np.asarray(classes)
    if errors.shape[0] != classes.shape[0]:
        raise ValueError(f"{errors.shape[0]} errors but {classes.shape[0]} class names")
    table = {str(c): summarize(errors[classes == c]) for c in sorted(set(classes.tolist()))}
    mean = {"n": int(errors.size),
            "acc30": float(np.mean([row["acc30"] for row in table.values()])),
            "mederr": float(np.mean([row["mederr"] for row in table.values()]))}
    return {"classes": table, "mean": mean, "pooled": summarize(errors)}


def format_table(result: dict, title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'class':<20}{'n':>7}{'Acc30':>9}{'MedErr':>9}")
    for cat, row in result["classes"].items():
        lines.append(f"{cat:<20}{row['n']:>7d}{row['acc30']:>9.2f}{row['mederr']:>9.2f}")
    for name in ("mean", "pooled"):
        row = result[name]
        label = "mean (over classes)" if name == "mean" else "pooled (all samples)"
        lines.append(f"{label:<20}{row['n']:>7d}{row['acc30']:>9.2f}{row['mederr']:>9.2f}")
    return "\n".join(lines)
