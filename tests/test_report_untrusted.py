"""Reports read data only: no report command imports a module that a record names, wherever the module
lies (the working directory, PYTHONPATH); such a record is refused, or shown apart as naming a module.

Each command runs in a subprocess, as a user runs it, with the planted module importable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qbench.report import leaderboard as L
from tests.report_records import sweep_record, unlearning_unit, write_records

ROOT = Path(__file__).resolve().parents[1]
PLANTED = "planted_by_a_record"


@pytest.fixture
def planted(tmp_path):
    """A module on the path that leaves a file behind when imported, and where that file would go."""
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{PLANTED}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\nThing = object()\n")
    return marker


def qbench(cwd, *argv, code=None):
    """``python -m qbench ARGV`` in ``cwd`` (first on its path), with ``cwd`` also on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd)])}
    argv = ["-m", "qbench", *map(str, argv)] if code is None else ["-c", code]
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def naming_records():
    """Unlearning and resilience records whose task, or method, is the planted module."""
    task = f"{PLANTED}:Thing"
    recs = [r for s in (0, 1) for r in unlearning_unit("retrain", s, [0.5, 0.7], task=task)]
    recs += [r for s in range(5) for r in unlearning_unit(f"{PLANTED}:Thing", s, [0.5, 0.8], task="xxz-12",
                                                           conform=True)]
    recs += [sweep_record("resilience", "mlp", "label_flip", a, s, 0.9, task=task) for a in (0.0, 0.3) for s in (0, 1)]
    return recs


def test_no_report_command_imports_a_module_a_record_names(tmp_path, planted):
    write_records(tmp_path / "run", naming_records())
    strict = qbench(tmp_path, "leaderboard", "--results", "run", "--output", "strict.md")
    assert not planted.exists()
    assert strict.returncode == 2 and not (tmp_path / "strict.md").exists()
    assert "names a module, neither built in nor installed (never imported by a report)" in strict.stderr
    shown = qbench(tmp_path, "leaderboard", "--results", "run", "--output", "shown.md", "--allow-nonprotocol")
    assert not planted.exists()
    assert shown.returncode == 0, shown.stderr
    text = (tmp_path / "shown.md").read_text()
    assert f'task: "{PLANTED}:Thing" names a module' in text and f'method: "{PLANTED}:Thing" names' not in text
    # a method named module:attr is data: its protocol records are ranked, its module never imported
    write_records(tmp_path / "method", [r for r in naming_records() if r["task"] == "xxz-12"])
    ranked = qbench(tmp_path, "leaderboard", "--results", "method", "--output", "ranked.md")
    assert not planted.exists()
    assert ranked.returncode == 0, ranked.stderr
    assert f"`{PLANTED}:Thing`" in (tmp_path / "ranked.md").read_text()
    plot = qbench(tmp_path, "plot", "--results", "run", "--out", "figures")
    assert not planted.exists()
    assert plot.returncode == 0, plot.stderr
    loaded = qbench(tmp_path, code="from qbench.report.leaderboard import load_results, render_block; "
                                   "print(len(render_block(load_results(['run']))))")
    assert not planted.exists()
    assert loaded.returncode == 0, loaded.stderr
    # the module is importable there: the test would see an import
    assert qbench(tmp_path, code=f"import {PLANTED}").returncode == 0 and planted.exists()


def test_a_record_under_ablations_is_validated_like_the_results_and_never_imported(tmp_path, planted):
    """In a copy of a repository: `qbench leaderboard --check` over the committed tree, with a record under
    leaderboard/ablations/ that names a module at the repository root."""
    board = tmp_path / "leaderboard"
    (board / "results").mkdir(parents=True)
    L.regenerate([str(board / "results")], str(board / "README.md"))
    assert qbench(tmp_path, "leaderboard", "--check").returncode == 0
    ablation = board / "ablations" / "xxz-phase-fixed"
    write_records(ablation, [sweep_record("resilience", "mlp", "label_flip", 0.3, 0, 0.9, task=f"{PLANTED}:Thing")])
    check = qbench(tmp_path, "leaderboard", "--check")
    assert not planted.exists()
    assert check.returncode == 2 and len(check.stderr.strip().splitlines()) == 1
    assert "leaderboard/ablations/xxz-phase-fixed/records/" in check.stderr
    assert f'not a record of any ablation (xxz global phase fixed): task: "{PLANTED}:Thing" names a module' in check.stderr
    # a record of a built-in task that belongs to no ablation is refused too, not skipped in silence
    for f in (ablation / "records").iterdir():
        f.unlink()
    write_records(ablation, [sweep_record("resilience", "qnn", "label_flip", 0.3, 0, 0.9, task="xxz-12", conform=True)])
    check = qbench(tmp_path, "leaderboard", "--check")
    assert check.returncode == 2 and "not a record of any ablation" in check.stderr
