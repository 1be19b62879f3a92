"""Where the leaderboard goes and what it keeps: the marker block, the text around it, --check, the
committed leaderboard written only from the committed records, the same bytes from the same records."""

import random
from pathlib import Path

from qbench.report import leaderboard as L
from tests.report_records import all_suites_records, results, run_cli, unlearning_unit, write_records  # noqa: F401  (fixture)


def test_rewrite_keeps_text_around_the_markers(capsys, tmp_path, results):
    out = tmp_path / "README.md"
    before, after = "# Title\n\nHand-written intro ✓\n\n", "\n\n## Notes\n\nkept as is\n"
    out.write_text(before + L.START + "\nstale table\n" + L.END + after)
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    assert code == 0 and "updated" in stdout
    text = out.read_text()
    assert text.startswith(before + L.START) and text.endswith(L.END + after)
    assert "stale table" not in text
    assert "#### xxz-12 · qnn (protocol 3)" in text and "| rank" in text



def test_missing_markers_is_an_error(capsys, tmp_path, results):
    out = tmp_path / "README.md"
    out.write_text("no markers here\n")
    code, _, err = run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    assert code == 2 and "marker" in err
    assert out.read_text() == "no markers here\n"



def test_missing_output_starts_from_a_skeleton(capsys, tmp_path, results):
    out = tmp_path / "sub" / "README.md"
    assert run_cli(capsys, "leaderboard", "--results", results, "--output", out)[0] == 0
    assert out.read_text().count(L.START) == 1



def test_generation_is_deterministic(capsys, tmp_path, results):
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    run_cli(capsys, "leaderboard", "--results", results, "--output", a)
    run_cli(capsys, "leaderboard", "--results", results, "--output", b)
    assert a.read_bytes() == b.read_bytes()
    # the same records in other files and another order give the same bytes
    other = tmp_path / "other"
    recs = all_suites_records()
    random.Random(3).shuffle(recs)
    write_records(other / "x", recs, shuffle_seed=5)
    c = tmp_path / "c.md"
    run_cli(capsys, "leaderboard", "--results", other, "--output", c)
    # provenance is identical too: same qbench version and revision in this process; the skeleton
    # around the block names the results directory
    block = lambda p: p.read_bytes()[p.read_bytes().index(L.START.encode()):]  # noqa: E731
    assert block(c) == block(a) and f"`{other}`" in c.read_text()



def test_check_detects_a_stale_file(capsys, tmp_path, results):
    out = tmp_path / "README.md"
    run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results, "--output", out, "--check")
    assert code == 0 and "up to date" in stdout
    write_records(results / "more", [r for s, v in ((0, 0.8), (1, 0.8), (2, 0.81))
                                     for r in unlearning_unit("gradient_ascent", s, [0.7, 0.75, v], task="xxz-12",
                                                              conform=True)])
    before = out.read_bytes()
    code, _, err = run_cli(capsys, "leaderboard", "--results", results, "--output", out, "--check")
    assert code == 1 and "out of date" in err
    assert out.read_bytes() == before  # --check never writes
    assert run_cli(capsys, "leaderboard", "--results", results, "--output", out)[0] == 0
    assert run_cli(capsys, "leaderboard", "--results", results, "--output", out, "--check")[0] == 0



def test_leaderboard_of_another_run_leaves_the_committed_one_byte_identical(capsys, tmp_path, results, monkeypatch):
    repo = Path(__file__).resolve().parents[1]
    committed = repo / "leaderboard" / "README.md"
    before = committed.read_bytes()
    monkeypatch.chdir(repo)
    try:
        code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results)
        assert committed.read_bytes() == before
    finally:
        committed.write_bytes(before)
    assert code == 0
    own = results / "leaderboard.md"
    assert f"{own}: updated" in stdout and "leaderboard/README.md is made from leaderboard/results only" in stdout
    assert own.read_text().count(L.START) == 1 and f"`{results}`" in own.read_text()
    assert run_cli(capsys, "leaderboard", "--results", results, "--check")[:2] == (0, f"{own} is up to date\n")
    # '-': standard output, nothing written
    own.unlink()
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results, "--output", "-")
    assert code == 0 and stdout.startswith("# qbench leaderboard") and "#### xxz-12 · qnn (protocol 3)" in stdout
    assert not own.exists() and committed.read_bytes() == before



def test_only_the_committed_records_write_the_committed_leaderboard(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "leaderboard" / "README.md"
    write_records(tmp_path / "leaderboard" / "results" / "unlearning", all_suites_records())
    code, stdout, _ = run_cli(capsys, "leaderboard")
    assert code == 0 and stdout == "leaderboard/README.md: updated\n" and committed.exists()
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", "leaderboard/results")
    assert code == 0 and stdout == "leaderboard/README.md: unchanged\n"
    # a part of the committed tree: standard output, no stray file inside the committed records
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", "leaderboard/results/unlearning")
    assert code == 0 and L.START in stdout
    assert sorted(p.name for p in (tmp_path / "leaderboard" / "results" / "unlearning").iterdir()) == ["records"]

