"""``qbench submit module:Class``: a method from a file outside the repository, checked, run, verified,
its tables and figures made, and what to commit said; the module is committed beside its records."""

import shutil
from pathlib import Path

import pytest

from qbench.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "magnitude_finetune.py"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """The example plugin copied outside the repository, importable from there (sys.path restored after)."""
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    d = tmp_path / "elsewhere"
    d.mkdir()
    shutil.copy(EXAMPLE, d / "magnitude_finetune.py")
    monkeypatch.syspath_prepend(str(d))
    return d


def test_stage_module_commits_one_file_and_refuses_a_clash(elsewhere, tmp_path, monkeypatch):
    from qbench.commands.submit import stage_module
    from qbench.errors import QbenchError

    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    src, dst = stage_module("magnitude_finetune:MagnitudeFinetune")
    assert Path(dst) == repo / "leaderboard" / "submissions" / "magnitude_finetune.py"
    assert Path(dst).read_bytes() == Path(src).read_bytes() == EXAMPLE.read_bytes()
    assert stage_module("magnitude_finetune:MagnitudeFinetune")[1] == dst  # the same file again: fine
    import sys

    sys.path.remove(str(Path(dst).parent))  # a new process: the user's file comes first again
    (elsewhere / "magnitude_finetune.py").write_text(EXAMPLE.read_text() + "\n# changed\n")
    with pytest.raises(QbenchError, match="exists and differs"):
        stage_module("magnitude_finetune:MagnitudeFinetune")
    with pytest.raises(QbenchError, match="takes MODULE:CLASS"):
        stage_module("finetune")
    with pytest.raises(QbenchError, match="cannot find module 'no_such_module_xyz'"):
        stage_module("no_such_module_xyz:Thing")


def test_a_trial_submission_runs_every_step_and_commits_nothing(elsewhere, tmp_path, cache_dir, capsys, monkeypatch):
    monkeypatch.setenv("QBENCH_PROTOCOL_MODELS", "off")
    out = tmp_path / "trial"
    code = main(["submit", "magnitude_finetune:MagnitudeFinetune", "--task", "xxz-4", "--model", "mlp", "--epochs",
                 "1", "--steps", "2", "--seeds", "0,1", "--out", str(out), "--cache-dir", cache_dir])
    text = capsys.readouterr().out
    assert code == 0, text
    for step in ("1/5 a trial", "2/5 qbench check method", "3/5 a trial run (not the protocol)",
                 "0 of 4 shared starting model(s) (poisoned models, oracles) are committed; the other 4 are TRAINED HERE",
                 "4/5 qbench verify --sample 2: re-running 2 of the method's 2 unit(s) bit for bit", "5/5"):
        assert step in text
    assert "agrees" in text and (out / "leaderboard.md").is_file() and list((out / "figures").glob("*.png"))
    assert "not the protocol's and are not committed" in text and "git add" not in text
    code = main(["submit", "magnitude_finetune:MagnitudeFinetune", "--epochs", "1", "--out", "leaderboard/results/x"])
    assert code == 2 and "give --out DIR outside leaderboard/results" in capsys.readouterr().err
