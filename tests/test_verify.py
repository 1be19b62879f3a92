"""``qbench verify``: re-runs units from their stored config, agrees on fresh records, catches edits."""

import json
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.verify import is_timing, values_agree

TINY = ["--task", "xxz-4", "--epochs", "2", "--seeds", "0", "--no-progress"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, cache_dir):
    """Tiny real runs: one resilience unit and one unlearning unit (2 steps) on xxz-4."""
    root = tmp_path_factory.mktemp("verify")
    assert main(["run", "--suite", "resilience", *TINY, "--model", "mlp", "--corruption", "label_flip",
                 "--alphas", "0.3", "--out", str(root / "resilience"), "--cache-dir", cache_dir]) == 0
    assert main(["run", "--suite", "unlearning", *TINY, "--steps", "2", "--model", "mlp", "--method", "finetune",
                 "--out", str(root / "unlearning"), "--cache-dir", cache_dir]) == 0
    _drop_oracle(root / "unlearning")
    return root


def _drop_oracle(d: Path) -> None:
    """One unlearning unit per tree: the method's (its re-run still gets the oracle, through the model cache);
    tests/test_oracle.py verifies the oracle's own unit."""
    for f in (d / "records").glob("unlearning.oracle-*.jsonl"):
        f.unlink()


def _one_file(d: Path) -> Path:
    (f,) = sorted((d / "records").glob("*.jsonl"))
    return f


def _snapshot(d: Path) -> dict:
    return {str(p): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_verify_agrees_on_fresh_records_and_writes_nothing(capsys, fresh, cache_dir):
    before = _snapshot(fresh)
    code, out, err = run_cli(capsys, "verify", fresh, "--cache-dir", cache_dir)
    assert code == 0, out + err
    assert "verifying 2 of 2 successful units" in out
    assert "all 2 re-run unit(s) agree" in out
    assert _snapshot(fresh) == before


def _edit(src: Path, dst: Path, line: int, change) -> Path:
    lines = src.read_text().splitlines()
    rec = json.loads(lines[line])
    change(rec)
    lines[line] = json.dumps(rec, sort_keys=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(lines) + "\n")
    return dst


def test_verify_catches_an_edited_metric(capsys, fresh, tmp_path, cache_dir):
    src = _one_file(fresh / "unlearning")

    def bump(rec):
        rec["metrics"]["forget_acc"] = rec["metrics"]["forget_acc"] + 0.05

    edited = _edit(src, tmp_path / "edited" / src.name, 2, bump)
    code, out, _ = run_cli(capsys, "verify", edited, "--cache-dir", cache_dir)
    assert code == 1
    row = next(line for line in out.splitlines() if "forget_acc" in line)
    assert "step 2" in row and src.stem in row
    assert "1 disagreement(s) in 1 of 1 re-run unit(s)" in out
    # a tolerance that covers the edit accepts it
    assert run_cli(capsys, "verify", edited, "--cache-dir", cache_dir, "--atol", "0.1")[0] == 0


def test_verify_ignores_timings_and_flags_edited_config(capsys, fresh, tmp_path, cache_dir):
    src = _one_file(fresh / "resilience")

    def slow(rec):
        rec["metrics"]["wall_s"] = 1e6
        rec["metrics"]["train_wall_s"] = 1e6

    timed = _edit(src, tmp_path / "timed" / src.name, 0, slow)
    assert run_cli(capsys, "verify", timed, "--cache-dir", cache_dir)[0] == 0

    def retarget(rec):
        rec["config"]["alpha"] = 0.0  # the config no longer hashes to the record's config_hash/unit_key

    edited = _edit(src, tmp_path / "cfg" / src.name, 0, retarget)
    code, out, _ = run_cli(capsys, "verify", edited, "--cache-dir", cache_dir)
    assert code == 1 and "(config)" in out


def test_verify_bad_input_is_status_2(capsys, tmp_path, fresh):
    code, _, err = run_cli(capsys, "verify", tmp_path / "nope")
    assert code == 2 and "no such record file or directory" in err
    broken = tmp_path / "broken.jsonl"
    broken.write_text(_one_file(fresh / "resilience").read_text()[:50] + "\n")
    code, _, err = run_cli(capsys, "verify", broken)
    assert code == 2 and f"{broken}:1: not valid JSON" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "verify", fresh, "--sample", "0")
    assert code == 2 and "--sample must be >= 1" in err


def test_verify_module_attr_method_must_import(capsys, tmp_path, fresh):
    src = _one_file(fresh / "unlearning")

    def plugin(rec):
        rec["config"]["method"] = "no_such_module_xyz:Thing"

    edited = _edit(src, tmp_path / "plugin" / src.name, 0, plugin)
    code, _, err = run_cli(capsys, "verify", edited)
    assert code == 2 and "method no_such_module_xyz:Thing (not found)" in err and "--trust-code" in err
    code, _, err = run_cli(capsys, "verify", edited, "--trust-code")
    assert code == 2 and "cannot import module 'no_such_module_xyz'" in err


def test_tolerance_policy():
    assert values_agree("val_acc", 0.5, 0.5 + 5e-7, rtol=1e-5, atol=1e-6)[0]
    assert not values_agree("val_acc", 0.5, 0.5 + 1 / 199, rtol=1e-5, atol=1e-6)[0]  # one sample of 199
    assert not values_agree("val_acc", 100.0, 100.0 + 1e-4, rtol=1e-5, atol=1e-6)[0]  # accuracies: atol only
    assert values_agree("hessian_trace", 100.0, 100.0 + 5e-4, rtol=1e-5, atol=1e-6)[0]  # rtol for the rest
    assert not values_agree("hessian_trace", 100.0, 100.1, rtol=1e-5, atol=1e-6)[0]
    assert values_agree("eig_top", [1.0, 2.0], [1.0, 2.0], rtol=0, atol=0)[0]
    assert not values_agree("eig_top", [1.0, 2.0], [1.0], rtol=0, atol=1)[0]
    assert values_agree("loss", None, None, rtol=0, atol=0)[0] and not values_agree("loss", None, 0.1, rtol=0, atol=1)[0]
    assert not values_agree("n_steps", 4, 5, rtol=1, atol=1)[0]
    assert all(map(is_timing, ["wall_s", "train_wall_s", "first_step_s", "unit_wall_s", "trace_wall_s"]))
    assert not any(map(is_timing, ["val_acc", "loss", "n_steps", "hessian_trace"]))


def test_verify_sample_is_seeded(capsys, fresh, cache_dir):
    code, out, _ = run_cli(capsys, "verify", fresh, "--sample", "1", "--seed", "3", "--cache-dir", cache_dir)
    assert code == 0 and "verifying 1 of 2 successful units (sample seed 3)" in out
    picked = [line for line in out.splitlines() if line.startswith("  ")]
    code, out2, _ = run_cli(capsys, "verify", fresh, "--sample", "1", "--seed", "3", "--cache-dir", cache_dir)
    assert [line for line in out2.splitlines() if line.startswith("  ")] == picked


def test_records_carry_the_thread_count_and_verify_honours_it(capsys, fresh, tmp_path, cache_dir, monkeypatch):
    from qbench.threads import tf_threads

    monkeypatch.setattr("qbench.verify.thread_cap", lambda: 64)  # as on a machine with more cores than this one
    src = _one_file(fresh / "resilience")
    assert json.loads(src.read_text().splitlines()[0])["provenance"]["tf_threads"] == tf_threads()
    other = tf_threads() + 1

    lines = src.read_text().splitlines()
    edited = tmp_path / "threads" / src.name
    edited.parent.mkdir()
    edited.write_text("\n".join(json.dumps({**json.loads(line), "provenance": {
        **json.loads(line)["provenance"], "tf_threads": other}}) for line in lines) + "\n")
    code, out, err = run_cli(capsys, "verify", edited, "--cache-dir", cache_dir)
    assert code == 0, out + err
    assert f"re-running 1 unit(s) in a worker process with {other} TensorFlow thread(s)" in out
    assert f"agrees ({other} thread(s))" in out


def test_rerun_elsewhere_runs_with_the_asked_thread_count(fresh, tmp_path, cache_dir):
    from qbench.experiment import RunContext
    from qbench.suites import get_suite
    from qbench.verify import _rerun_elsewhere

    rec = json.loads(_one_file(fresh / "resilience").read_text().splitlines()[0])
    unit = get_suite(rec["suite"]).unit_from_config(rec["config"])
    got = _rerun_elsewhere({unit.key: unit}, [unit.key], 3, RunContext(cache_dir=cache_dir), str(tmp_path))
    assert got[unit.key] and {r["provenance"]["tf_threads"] for r in got[unit.key]} == {3}
    assert all(r["status"] == "ok" for r in got[unit.key])


def test_recorded_threads_policy():
    from qbench.errors import QbenchError
    from qbench.threads import default_tf_threads
    from qbench.verify import recorded_threads

    def recs(*counts):
        return [{"unit_key": "u", "provenance": {} if c == "absent" else {"tf_threads": c}} for c in counts]

    assert recorded_threads(recs(1, 1)) == 1
    assert recorded_threads(recs("absent")) == default_tf_threads()  # older records: TF's default here
    assert recorded_threads(recs("absent"), unknown=4) == 4
    assert recorded_threads(recs(2), unknown=4) == 2  # a recorded count wins
    with pytest.raises(QbenchError, match="different thread counts"):
        recorded_threads(recs(1, 2))
    with pytest.raises(QbenchError, match="positive integer"):
        recorded_threads(recs(0))


@pytest.fixture(scope="module")
def tree(tmp_path_factory, cache_dir):
    """Three tiny units: resilience MLP seeds 0 and 1, unlearning MLP (finetune, 2 steps) seed 0."""
    root = tmp_path_factory.mktemp("verify-all") / "results"
    assert main(["run", "--suite", "resilience", "--task", "xxz-4", "--epochs", "2", "--seeds", "0,1", "--no-progress",
                 "--model", "mlp", "--corruption", "label_flip", "--alphas", "0.3",
                 "--out", str(root / "resilience"), "--cache-dir", cache_dir]) == 0
    assert main(["run", "--suite", "unlearning", *TINY, "--steps", "2", "--model", "mlp", "--method", "finetune",
                 "--out", str(root / "unlearning"), "--cache-dir", cache_dir]) == 0
    _drop_oracle(root / "unlearning")
    return root


def _ledger(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_verify_all_is_resumable_keeps_a_ledger_and_reports_coverage(capsys, tree, tmp_path, cache_dir):
    import shutil

    from qbench.records.provenance import git_revision
    from qbench.verify import ledger_coverage

    root = tmp_path / "results"
    shutil.copytree(tree, root)
    ledger = tmp_path / "verify-ledger.jsonl"  # the default: beside the directory
    code, out, _ = run_cli(capsys, "verify", "--all", root, "--suite", "resilience", "--one-seed-per-scenario",
                           "--cache-dir", cache_dir)
    assert code == 0 and "1 unit(s) re-run now, 0 already in the ledger, of 1 selected; 0 disagree" in out
    (entry,) = _ledger(ledger)
    assert entry["unit"].startswith("resilience-xxz-4-mlp-label_flip-a0.3-s0-")
    assert entry["agree"] is True and entry["disagreements"] == 0 and entry["revision"] == git_revision()
    assert entry["max_deviation"] == 0.0 and isinstance(entry["tf_threads"], int) and entry["records"] == 1
    # the entry names the checking CPU and the one that made the record (here: the same machine)
    from qbench.records.ledger import cpu_relation
    from qbench.records.provenance import machine

    assert entry["cpu_fingerprint"] == machine()["cpu_fingerprint"] == entry["made_on_cpu"]
    assert cpu_relation(entry) == "same_cpu"
    assert cpu_relation({**entry, "made_on_cpu": "elsewhere"}) == "other_cpu"
    assert cpu_relation({k: v for k, v in entry.items() if k != "cpu_fingerprint"}) == "cpu_unknown"

    code, out, _ = run_cli(capsys, "verify", "--all", root, "--cache-dir", cache_dir)
    assert code == 0 and "2 unit(s) re-run now, 1 already in the ledger, of 3 selected; 0 disagree" in out
    code, out, _ = run_cli(capsys, "verify", "--all", root, "--model", "mlp", "--cache-dir", cache_dir)
    assert code == 0 and "0 unit(s) re-run now, 3 already in the ledger, of 3 selected" in out
    assert len(_ledger(ledger)) == 3

    # an edited record is new content: checked again, and found out
    f = next((root / "unlearning" / "records").glob("*.jsonl"))
    recs = [json.loads(line) for line in f.read_text().splitlines()]
    v = recs[-1]["metrics"]["val_acc"]
    recs[-1]["metrics"]["val_acc"] = v - 0.25 if v >= 0.5 else v + 0.25
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, out, err = run_cli(capsys, "verify", "--all", root, "--cache-dir", cache_dir)
    assert code == 1 and "1 unit(s) re-run now, 2 already in the ledger, of 3 selected; 1 disagree" in out
    assert f"disagrees: {f.stem}" in err
    last = _ledger(ledger)[-1]
    assert last["unit"] == f.stem and last["agree"] is False and last["max_deviation"] == pytest.approx(0.25, abs=1e-6)

    cov = ledger_coverage(ledger, root)
    assert {k: cov[k] for k in ("units", "units_checked", "units_agreed", "units_disagreed")} == \
        {"units": 3, "units_checked": 3, "units_agreed": 2, "units_disagreed": 1}
    # made and re-run on this machine: a real disagreement, not a change of CPU
    assert (cov["disagreed_same_cpu"], cov["disagreed_other_cpu"], cov["disagreed_cpu_unknown"]) == (1, 0, 0)
    assert cov["records"] == 2 + len(recs) and cov["records_agreed"] == 2
    assert cov["revisions"] == [git_revision()]
    assert cov["by_suite"]["resilience"]["units_agreed"] == 2 and cov["by_suite"]["unlearning"]["units_agreed"] == 0
    assert cov["by_model"] == {"mlp": {k: cov[k] for k in cov if k not in ("revisions", "by_model", "by_suite")}}

    # a ledger of another revision does not count as checked here: everything runs again
    other = tmp_path / "old-ledger.jsonl"
    other.write_text("".join(json.dumps({**e, "revision": "0" * 40}) + "\n" for e in _ledger(ledger)))
    code, out, _ = run_cli(capsys, "verify", "--all", root, "--ledger", other, "--suite", "resilience",
                           "--cache-dir", cache_dir)
    assert code == 0 and "2 unit(s) re-run now, 0 already in the ledger, of 2 selected" in out
    assert ledger_coverage(other, root)["units_checked"] == 3


@pytest.mark.parametrize("argv, needle", [
    (["--model", "mlp", "X"], "--model is an option of `qbench verify --all DIR`"),
    (["--all", "X", "Y"], "--all DIR takes no RECORDS"),
    ([], "give RECORDS (files or directories) or --all DIR"),
    (["--all", "NOPE"], "--all needs a directory of records"),
    (["--all", "ROOT", "--suite", "bogus"], "unknown suite 'bogus'"),
    (["--all", "ROOT", "--ledger", "ROOT/resilience/records/l.jsonl"], "would be read as records"),
])
def test_verify_all_bad_input_is_one_line_status_2(capsys, tree, tmp_path, argv, needle):
    argv = [a.replace("ROOT", str(tree)) for a in argv]
    code, _, err = run_cli(capsys, "verify", *argv)
    assert code == 2 and err.count("\n") == 1 and needle in err
    assert not (tree.parent / "verify-ledger.jsonl").exists()


def test_records_name_their_cpu_and_verify_says_when_a_record_was_made_on_another():
    from qbench.records.provenance import machine
    from qbench.verify import other_cpu

    here = machine()
    assert here["cpu_model"] and len(here["cpu_fingerprint"]) == 12
    same = [{"provenance": {"machine": dict(here)}}]
    other = [{"provenance": {"machine": {**here, "cpu_model": "AMD EPYC 9004", "cpu_fingerprint": "0" * 12}}}]
    legacy = [{"provenance": {"machine": {"platform": "Linux"}}}]
    assert other_cpu(same) is None and other_cpu(legacy) is None
    assert other_cpu(other) == "AMD EPYC 9004"


def test_one_seed_per_scenario_keeps_the_lowest_seed_of_each_method_alpha_and_known_fraction():
    from qbench.verify import one_seed_per_scenario

    def rec(seed, method="finetune", alpha=0.3, f=None):
        r = {"suite": "corrective", "scenario": "corrective/xxz-12/qnn", "method": method, "alpha": alpha, "seed": seed}
        return r if f is None else {**r, "known_fraction": f}

    by_unit = {"a": [rec(1, f=0.1)], "b": [rec(0, f=0.1)], "c": [rec(2, f=0.5)], "d": [rec(0, "scrub", f=0.5)],
               "e": [rec(3, alpha=0.6)], "g": [rec(4, alpha=0.6)]}
    assert one_seed_per_scenario(list(by_unit), by_unit) == ["b", "c", "d", "e"]


def test_one_seed_per_scenario_keeps_the_lowest_seed_of_each_sensitivity_grid_point():
    from qbench.verify import one_seed_per_scenario

    def rec(seed, fo, kl=0.0):
        return {"suite": "sensitivity", "scenario": "sensitivity/xxz-12/qnn", "method": "scrub", "alpha": 0.3,
                "seed": seed, "grid": {"params": ["lambda_fo", "lambda_kl"], "point": {"lambda_kl": kl, "lambda_fo": fo}}}

    by_unit = {"a": [rec(1, 0.1)], "b": [rec(0, 0.1)], "c": [rec(3, 0.2)], "d": [rec(2, 0.2)], "e": [rec(4, 0.2, 0.5)],
               "f": [{**rec(0, 0.1), "grid": {"params": ["lambda_kl", "lambda_fo"], "point": {"lambda_fo": 0.1, "lambda_kl": 0.0}}}]}
    # "f" is "b"'s point written in another key order: the same point, so one of the two is kept
    assert one_seed_per_scenario(list(by_unit), by_unit) == ["b", "d", "e"]


def test_a_ledger_entry_holds_for_every_revision_with_the_same_package_source(tmp_path):
    import subprocess

    from qbench.records.provenance import package_tree
    from qbench.verify import same_code_revisions

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True,
                              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                                   "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
                              ).stdout.strip()

    def commit(path: str, text: str) -> str:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
        git("add", path)
        git("commit", "-q", "-m", path)
        return git("rev-parse", "HEAD")

    git("init", "-q")
    a = commit("qbench/model.py", "x = 1\n")
    b = commit("leaderboard/verify-ledger.jsonl", "{}\n")  # records, docs, tests: same package
    c = commit("qbench/model.py", "x = 2\n")  # the code changed
    assert package_tree(a, repo=tmp_path) == package_tree(b, repo=tmp_path) != package_tree(c, repo=tmp_path)
    assert package_tree(a, repo=tmp_path) == git("rev-parse", f"{a}:qbench")
    for bad in (c + "+dirty", "unknown", "0" * 40, ""):
        assert package_tree(bad, repo=tmp_path) is None
    assert same_code_revisions(b, {a, c, "0" * 40}, repo=tmp_path) == {a, b}
    assert same_code_revisions(c, {a, b}, repo=tmp_path) == {c}
    assert same_code_revisions(c + "+dirty", {c}, repo=tmp_path) == {c + "+dirty"}
