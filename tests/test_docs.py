"""The documentation: every results table equals what its archive gives, links resolve, --help is grouped."""
import re
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import tables  # noqa: E402


def test_every_generated_table_equals_what_its_archive_gives():
    assert tables.stale() == []


def test_a_hand_edited_or_stale_table_is_caught(tmp_path, monkeypatch):
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    readme = (REPO / "README.md").read_text()
    match = re.search(r"\| student, pose loss only \| (\d+\.\d)", readme)
    assert match, "the README's students table lost its pose-only row"
    (tmp_path / "README.md").write_text(readme.replace(match.group(0), match.group(0)[:-1] + "9", 1))
    page = tmp_path / "docs" / "synthetic_claims.md"
    page.write_text(page.read_text().replace("68.7 ± 1.1", "70.7 ± 1.1", 1))
    monkeypatch.setattr(tables, "REPO", tmp_path)
    problems = tables.stale()
    assert "README.md: table students-summary" in problems
    assert any(p.startswith("docs/synthetic_claims.md") for p in problems)
    assert tables.main([]) == 0 and tables.stale() == []          # rewriting repairs both
    assert (tmp_path / "README.md").read_text() == readme


def test_an_unknown_table_name_is_an_error():
    with pytest.raises(KeyError, match="unknown table 'nope'"):
        tables.render("<!-- table:nope -->\n<!-- /table:nope -->", "x.md")


def test_the_readme_is_a_front_door_and_every_relative_link_resolves():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make test" in readme and "make demo" in readme
    for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.relative_to(REPO)} links to missing {target}"


@pytest.mark.parametrize("script", ["training", "trainingKD", "testing", "vis_tSNE"])
def test_help_groups_every_flag_with_a_description_and_shows_the_papers_command(script):
    module = __import__(script)
    parser = module.get_args_parser()
    undocumented = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
    assert undocumented == []
    titles = [g.title for g in parser._action_groups if g._group_actions]
    assert {"data", "runtime"} <= set(titles)
    assert all(g.description for g in parser._action_groups if g._group_actions and g.title not in ("options",))
    assert "--dataset ObjectNet3D" in parser.epilog
    if script == "training":
        assert {"model", "optimisation", "run directory and resume"} <= set(titles)
    if script == "trainingKD":
        assert {"teacher", "student", "distillation"} <= set(titles)
