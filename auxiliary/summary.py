"""Print one line per evaluated run: mean per-class and pooled Acc30 / MedErr from testing.py's results.json.

    python -m auxiliary.summary result/demo/teacher/test/results.json result/demo/student/test/results.json \
        --labels teacher student
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def summary_table(results_files, labels=None) -> str:
    labels = labels or [str(Path(f).parent) for f in results_files]
    width = max(12, *(len(label) for label in labels)) + 2
    lines = [f"{'run':<{width}}{'mean Acc30':>12}{'mean MedErr':>13}{'pooled Acc30':>14}{'pooled MedErr':>15}"]
    for path, label in zip(results_files, labels):
        table = json.loads(Path(path).read_text())
        mean, pooled = table["mean"], table["pooled"]
        lines.append(f"{label:<{width}}{mean['acc30']:>12.2f}{mean['mederr']:>13.2f}{pooled['acc30']:>14.2f}"
                     f"{pooled['mederr']:>15.2f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="results.json files written by testing.py")
    parser.add_argument("--labels", nargs="+", default=None)
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.results):
        parser.error("give one --labels entry per results file")
    print(summary_table(args.results, args.labels))


if __name__ == "__main__":
    main()
