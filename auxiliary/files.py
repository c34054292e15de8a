"""Small file helpers every layer uses: atomic text writes and one-JSON-object-per-line logs."""
from __future__ import annotations

import json
import os
from pathlib import Path


def atomic_write_text(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)



def append_jsonl(path, record: dict) -> None:
    """Append one JSON line (flushed and fsynced, so a crash loses at most the line being written)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a torn last line from a crash
    return records


def replace_between_markers(path, name: str, text: str) -> bool:
    """Put ``text`` between the lines ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` of a file (a README
    table that a script regenerates); False, and nothing written, when the file lacks the markers."""
    path = Path(path)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = path.read_text()
    if start not in content or end not in content:
        return False
    head, rest = content.split(start, 1)
    atomic_write_text(path, head + start + "\n" + text + rest[rest.index(end):])
    return True
