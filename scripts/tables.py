"""Every results table of the README and docs/, written from the archived runs and benchmarks.

    python scripts/tables.py            # or: make tables; rewrite every generated table
    python scripts/tables.py --check    # exit 1, naming each table that is not what its archive gives

A table in a Markdown file sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``; NAME is the
function of BLOCKS that writes it from committed data (docs/runs/, docs/bench/). The comparison scripts' own
pages (docs/synthetic_claims.md, docs/shape_claims.md, docs/learning_ablation.md) are rewritten by their
scripts' ``--table_only`` code, called here too. A hand edit or a table left stale by a new run fails --check,
which the test suite runs.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import learning_ablation  # noqa: E402
import shape_claims  # noqa: E402
import synthetic_claims  # noqa: E402
from auxiliary.files import atomic_write_text  # noqa: E402

BLOCK = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)
PAGES = {"docs/synthetic_claims.md": synthetic_claims, "docs/shape_claims.md": shape_claims,
         "docs/learning_ablation.md": learning_ablation}


def _spread(values) -> str:
    mean = f"{statistics.mean(values):.1f}"
    return f"{mean} ± {statistics.stdev(values):.1f} ({len(values)})" if len(values) > 1 else f"{mean} (1)"


def _claims() -> dict:
    return synthetic_claims.finished(synthetic_claims.get_parser().parse_args([]))


def _claims_rows(keys, labels) -> list[str]:
    results = _claims()
    lines = ["| synthetic val, mean per-class Acc30 (seeds) | tuning set | held-out set |", "| --- | --- | --- |"]
    for key, label in zip(keys, labels):
        cells = []
        for name in synthetic_claims.SETS:
            seeds = results.get(name, {}).get(key, {})
            cells.append(_spread([records[-1]["val"]["acc30"] for records in seeds.values()]) if seeds else "")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return lines


def teacher_summary() -> list[str]:
    """Control, image-only network and teachers at equal epochs (6) on the 12-category synthetic sets."""
    return _claims_rows(
        ("control", "baseline", "teacher", "teacher_residual", "teacher_random", "teacher_residual_random"),
        ("control: plain torchvision resnet18", "image-only network", "teacher, point cloud, linear fusion",
         "teacher, residual fusion", "teacher, linear fusion, `--random`", "teacher, residual fusion, `--random`"))


def students_summary() -> list[str]:
    """Image-only students of one 20-epoch teacher per set, 3 epochs each."""
    return _claims_rows(
        ("kd_teacher", "pose", "kl", "crd", "crd_batch", "crd_batch_kl"),
        ("their teacher (20 epochs, one seed)", "student, pose loss only", "student, KL (the reference's recipe)",
         "student, CRD, memory bank", "student, CRD, in-batch negatives", "student, CRD in-batch + KL (default)"))


def shape_summary(latest: bool = False) -> list[str]:
    """Zero-shot on the many-category set: the 20 novel categories, after training on the 100 others; one group
    of rows per epoch budget that has runs (``latest``: the longest budget's only, for the README)."""
    args = shape_claims.get_parser().parse_args([])
    # the zero-shot rows, not the teachers weakened for the students' equal-accuracy control
    keys = [k for k in shape_claims.RUNS if k.startswith("novel_") and k not in shape_claims.WEAKENED]
    lines = ["| zero-shot, novel-category Acc30 after the last epoch (seeds) | tuning set | held-out set | "
             "best checkpoint, own shape / another category's (tuning; held-out) |", "| --- | --- | --- | --- |"]
    budgets = shape_claims.budgets(args)
    for epochs in [max(budgets)] if latest else budgets:
        results = shape_claims.finished(shape_claims.with_epochs(args, epochs))
        for key in keys:
            cells, probes = [], []
            for name in shape_claims.SETS:
                seeds = results.get(name, {}).get(key, {})
                cells.append(_spread([r[-1]["val"]["acc30"] for r, _ in seeds.values()]) if seeds else "")
                probed = [p for _, p in seeds.values() if p]
                probes.append(" / ".join(f"{statistics.mean(p[swap]['acc30'] for p in probed):.1f}"
                                         for swap in ("own", "other class")) if probed else "")
            if any(cells):
                probe = "; ".join(probe or "not run" for probe in probes) if key in shape_claims.TEACHERS else ""
                lines.append(f"| {shape_claims.RUNS[key][0]}, {epochs} epochs | {' | '.join(cells)} | {probe} |")
    return lines if len(lines) > 2 else ["No run of `scripts/shape_claims.py` has finished yet."]


def shape_students() -> list[str]:
    """The students of the many-category set's zero-shot teachers (the longest budget): Acc30 on the base categories
    they train on and on the novel ones, and their teacher's on the base categories; then the 10-shot rows."""
    args = shape_claims.get_parser().parse_args([])
    args = shape_claims.with_epochs(args, max(shape_claims.budgets(args)))
    results = shape_claims.finished(args)
    lines = [f"| {args.epochs} epochs, Acc30 after the last epoch (seeds) | tuning: base / novel categories | "
             "held-out: base / novel | the teacher on the base categories (tuning; held-out) |",
             "| --- | --- | --- | --- |"]
    for key in shape_claims.STUDENTS:
        cells, teachers = [], []
        for name in shape_claims.SETS:
            seeds = sorted(results.get(name, {}).get(key, {}))
            if not seeds:
                cells.append("")
                teachers.append("")
                continue
            novel = [shape_claims.zero_shot_of(key, args, name, s) for s in seeds]
            base = [shape_claims.base_of(shape_claims.STUDENTS[key], args, name, s) for s in seeds]
            last = [results[name][key][s][0][-1]["val"]["acc30"] for s in seeds]
            novel = _spread([z["mean"]["acc30"] for z in novel if z]) if any(novel) else "not run"
            cells.append(f"{_spread(last)} / {novel}")
            teachers.append(_spread([b["mean"]["acc30"] for b in base if b]) if any(base) else "")
        if any(cells):
            teacher = "; ".join(t or "not run" for t in teachers)
            lines.append(f"| {shape_claims.RUNS[key][0]} | {' | '.join(cells)} | {teacher} |")
    for key in shape_claims.SHOTS:
        cells = []
        for name in shape_claims.SETS:
            seeds = results.get(name, {}).get(key, {})
            cells.append(f"novel: {_spread([r[-1]['val']['acc30'] for r, _ in seeds.values()])}" if seeds else "")
        if any(cells):
            lines.append(f"| 10-shot: {shape_claims.RUNS[key][0]} | {' | '.join(cells)} |  |")
    return lines if len(lines) > 2 else ["No student of `scripts/shape_claims.py` has finished yet."]


def _bench(name: str) -> dict:
    return json.loads((REPO / "docs" / "bench" / f"{name}.json").read_text())


def speed_summary() -> list[str]:
    """Training steps per second on a CPU (the GPU rows stay empty until a GPU has run the benchmark)."""
    lines = ["| samples/s, batch 32, resnet18 (full step: loader + step) | teacher | student |", "| --- | --- | --- |"]
    for name in ("cpu_224", "cpu_64"):
        b = _bench(name)
        lines.append(f"| {b['device']}, input {b['settings']['input_dim']}, {b['date']} | "
                     f"{b['teacher']['full_sps']:.1f} | {b['student']['full_sps']:.1f} |")
    return lines + ["| GPU (`make bench` with `--device cuda --batch_size 160`) | not measured yet | not measured yet |"]


def speed_cpu() -> list[str]:
    """The whole CPU benchmark: loader, step, full step and evaluation, and our loader against the reference's."""
    lines = ["| input | stage | loader | model step | full step | full / model | eval | machine, date |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in ("cpu_224", "cpu_64"):
        b = _bench(name)
        for stage in ("teacher", "student"):
            r = b[stage]
            lines.append(f"| {b['settings']['input_dim']} | {stage} | {r['loader_sps']:.0f} | {r['model_sps']:.1f} | "
                         f"{r['full_sps']:.1f} | {r['full_sps'] / r['model_sps']:.2f} | {r['eval_sps']:.1f} | "
                         f"{b['device']}, {b['date']} |")
    lines += ["", "| input | our loader, 1 process | reference-style loader, 1 process | ratio |", "| --- | --- | --- | --- |"]
    for name in ("cpu_224", "cpu_64"):
        b = _bench(name)
        t = b["teacher"]
        lines.append(f"| {b['settings']['input_dim']} | {t['loader_same_workers_sps']:.0f} | "
                     f"{t['reference_loader_sps']:.0f} | {t['loader_same_workers_sps'] / t['reference_loader_sps']:.2f}x |")
    lines += ["", "| student at input 64, CRD negatives | model step, samples/s | machine, date |", "| --- | --- | --- |"]
    for kind in ("batch", "memory"):
        b = _bench(f"cpu_64_student_{kind}")
        lines.append(f"| {'in-batch' if kind == 'batch' else 'memory bank, 16384'} | {b['student']['model_sps']:.1f} | "
                     f"{b['device']}, {b['date']} |")
    return lines


def _published() -> dict:
    return json.loads((REPO / "docs" / "runs" / "published.json").read_text())


def published_objectnet3d() -> list[str]:
    rows = _published()["objectnet3d"]
    return ["| method | supervised | zero-shot (novel) | 10-shot |", "| --- | --- | --- | --- |"] + [
        f"| {r['method']} | {r['supervised']} | {r['zero_shot']} | {r['ten_shot']} |" for r in rows]


def published_pascal3d() -> list[str]:
    rows = _published()["pascal3d_pix3d"]
    return ["| method | Pascal3D+ Acc30 / MedErr | Pix3D bed | Pix3D chair | Pix3D desk |",
            "| --- | --- | --- | --- | --- |"] + [
        f"| {r['method']} | {r['pascal3d']} | {r['bed']} | {r['chair']} | {r['desk']} |" for r in rows]


CPU_RUNS = (("teacher_cpu", "teacher (image + point cloud), 24 epochs"),
            ("student_crdbatch_cpu", "student, CRD with in-batch negatives, 20 epochs"),
            ("student_pose_cpu", "student, pose loss only, 20 epochs"))


def cpu_recipes() -> list[str]:
    """The laptop-CPU teacher and students (docs/runs/cpu): best checkpoint's test figures and the training log."""
    lines = ["| network (synthetic val, 480 images) | best epoch | Acc30 | MedErr | last-epoch Acc30 | median epoch |",
             "| --- | --- | --- | --- | --- | --- |"]
    for run, label in CPU_RUNS:
        folder = REPO / "docs" / "runs" / "cpu" / run
        records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
        test = json.loads((folder / "test_results.json").read_text())["mean"]
        best = max(records, key=lambda r: r["val"]["acc30"])
        lines.append(f"| {label} | {best['epoch'] + 1} | {test['acc30']:.2f} | {test['mederr']:.2f} | "
                     f"{records[-1]['val']['acc30']:.2f} | {statistics.median(r['time_s'] for r in records):.0f} s |")
    return lines


def cpu_teacher_classes() -> list[str]:
    test = json.loads((REPO / "docs" / "runs" / "cpu" / "teacher_cpu" / "test_results.json").read_text())
    lines = ["| class | n | Acc30 | MedErr |", "| --- | --- | --- | --- |"]
    for name, row in test["classes"].items():
        lines.append(f"| {name} | {row['n']} | {row['acc30']:.2f} | {row['mederr']:.2f} |")
    for name in ("mean", "pooled"):
        row = test[name]
        lines.append(f"| {'mean over classes' if name == 'mean' else 'pooled (all samples)'} | {row['n']} | "
                     f"{row['acc30']:.2f} | {row['mederr']:.2f} |")
    return lines


BLOCKS = {"teacher-summary": teacher_summary, "students-summary": students_summary, "shape-summary": shape_summary,
          "shape-summary-latest": lambda: shape_summary(latest=True), "shape-students": shape_students,
          "speed-summary": speed_summary, "speed-cpu": speed_cpu, "published-objectnet3d": published_objectnet3d,
          "published-pascal3d": published_pascal3d, "cpu-recipes": cpu_recipes,
          "cpu-teacher-classes": cpu_teacher_classes}


def render(text: str, path: str = "") -> str:
    """``text`` with every table block rewritten by its function."""
    def block(match):
        name = match.group("name")
        if name not in BLOCKS:
            raise KeyError(f"{path}: unknown table {name!r}; known: {', '.join(BLOCKS)}")
        return match.group(1) + "\n".join(BLOCKS[name]()) + "\n" + match.group(4)
    return BLOCK.sub(block, text)


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def page_text(path: str) -> str:
    """What a comparison script writes for its page from the archive alone (``--table_only``), as text."""
    module = PAGES[path]
    with tempfile.TemporaryDirectory() as tmp:
        args = module.get_parser().parse_args(["--table_only", "--table", str(Path(tmp) / "page.md")])
        module.write_table(Path(args.table), module.finished(args), args)
        return (Path(tmp) / "page.md").read_text()


def stale() -> list[str]:
    """The generated tables and pages that differ from what their archives give now."""
    out = []
    for path in markdown_files():
        text = path.read_text()
        for match in BLOCK.finditer(text):
            expected = "\n".join(BLOCKS[match.group("name")]()) + "\n"
            if match.group("body") != expected:
                out.append(f"{path.relative_to(REPO)}: table {match.group('name')}")
    for page in PAGES:
        if (REPO / page).read_text() != page_text(page):
            out.append(f"{page}: written by scripts/{PAGES[page].__name__}.py --table_only")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any table is stale")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for problem in problems:
            print(f"stale: {problem} (run python scripts/tables.py)")
        return 1 if problems else 0
    for page in PAGES:
        atomic_write_text(REPO / page, page_text(page))
    for path in markdown_files():
        text = path.read_text()
        new = render(text, str(path.relative_to(REPO)))
        if new != text:
            atomic_write_text(path, new)
            print(f"rewrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
