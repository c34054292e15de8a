"""Finished runs' per-epoch metrics, kept in the repository so that the comparison scripts' tables survive a
fresh checkout.

Run directories live under ``result/`` (not committed: checkpoints are large), so a session that starts from a
clean clone would otherwise find none of the runs an earlier session finished, rerun them all, and a table
meant to gather seeds over several sessions would never hold more than one session's work. When a run
finishes, its ``metrics.jsonl`` (a few kB) is copied to ``docs/runs/<script>/<the run's path>.jsonl``; a run
counts as finished when either copy holds its epochs, and a run whose checkpoint another run needs (a
students' teacher) is trained again when only its archived metrics are left.
"""
from __future__ import annotations

import json
from pathlib import Path

from auxiliary.files import atomic_write_text, read_jsonl


def finished_records(run_dir: Path, archive_file: Path, epochs: int) -> list[dict] | None:
    """The first ``epochs`` records of a finished run (its run directory first, else its archived copy, which
    is written or refreshed from the run directory here), or None while it is not finished."""
    local = read_jsonl(Path(run_dir) / "metrics.jsonl")
    if len(local) >= epochs:
        if read_jsonl(archive_file) != local:
            atomic_write_text(archive_file, "".join(json.dumps(r) + "\n" for r in local))
        return local[:epochs]
    archived = read_jsonl(archive_file)
    return archived[:epochs] if len(archived) >= epochs else None


def has_checkpoint(run_dir: Path, epochs: int, weights: str = "model_best.pth") -> bool:
    """Whether the run directory itself (not only the archive) holds the finished run and its best weights
    (``weights``: a student's are best_student.pt)."""
    return len(read_jsonl(Path(run_dir) / "metrics.jsonl")) >= epochs and (Path(run_dir) / weights).is_file()
