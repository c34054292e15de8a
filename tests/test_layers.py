"""Imports run downwards only: scripts -> engine -> model, dataset -> auxiliary (model and dataset are siblings)."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYER = {"auxiliary": 0, "dataset": 1, "model": 1, "engine": 2}
SCRIPTS = {"training", "trainingKD", "testing", "vis_tSNE", "demo"}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of this project's modules that a file imports, at module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & (set(LAYER) | SCRIPTS)


def violations(package: str, names: set[str]) -> list[str]:
    return sorted(name for name in names
                  if name in SCRIPTS or LAYER[name] > LAYER[package]
                  or (LAYER[name] == LAYER[package] and name != package))


@pytest.mark.parametrize("package", sorted(LAYER))
def test_a_package_imports_only_from_lower_layers(package):
    found = {str(path.relative_to(REPO)): violations(package, imported_packages(path))
             for path in sorted((REPO / package).glob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_check_catches_an_upward_import(tmp_path):
    source = tmp_path / "upward.py"
    source.write_text("import torch\nfrom model.crd import CRDLoss\n\ndef f():\n    from engine import distributed\n")
    assert violations("auxiliary", imported_packages(source)) == ["engine", "model"]
    assert violations("model", imported_packages(source)) == ["engine"]
    assert violations("dataset", imported_packages(source)) == ["engine", "model"]
    assert violations("engine", imported_packages(source)) == []
