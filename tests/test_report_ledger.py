"""The leaderboard beside the ledger of `qbench verify --all`: the re-run coverage table, and `--check`
holding each record file to the sha256 its last ledger entry verified."""

import hashlib
import json

from qbench.records.ledger import LedgerView
from qbench.report import leaderboard as L
from qbench.report.coverage import TITLE, coverage_lines
from tests.report_records import run_cli, sweep_record, write_records

RESULTS = "leaderboard/results"
LEDGER = "leaderboard/verify-ledger.jsonl"


def committed_tree(root):
    """A repository's leaderboard in miniature: 8 protocol resilience units of xxz-12 (mlp and qnn, alpha 0
    and 0.3, seeds 0 and 1), one file each, and a ledger that re-ran 3 MLP units (all agree) and 1 QNN
    unit (disagrees, re-run on the CPU that made it)."""
    recs = [sweep_record("resilience", model, "label_flip", alpha, seed, 0.9 - alpha / 2, task="xxz-12", conform=True)
            for model in ("mlp", "qnn") for alpha in (0.0, 0.3) for seed in (0, 1)]
    write_records(root / RESULTS / "resilience", recs)
    files = {r["unit_key"]: root / RESULTS / "resilience" / "records" / f"{r['unit_key']}.jsonl" for r in recs}
    mlp = sorted(k for k in files if "-mlp-" in k)[:3]
    qnn = sorted(k for k in files if "-qnn-" in k)[:1]
    entries = [{"unit": k, "content_sha256": hashlib.sha256(files[k].read_bytes()).hexdigest(),
                "revision": "0" * 40, "checked_at": "2026-01-01T00:00:00Z", "agree": k in mlp,
                "cpu_fingerprint": "aaaa", "made_on_cpu": "aaaa"} for k in mlp + qnn]
    (root / LEDGER).write_text("".join(json.dumps(e) + "\n" for e in entries))
    return files, mlp, qnn


def table_rows(text):
    block = text.split(f"### {TITLE}")[1]
    return [[c.strip() for c in line.split("|")[1:-1]] for line in block.splitlines()
            if line.startswith("| ") and not line.startswith("| suite")]


def test_coverage_table_per_suite_and_model_from_the_ledger(tmp_path):
    committed_tree(tmp_path)
    lines = coverage_lines(LedgerView(tmp_path / LEDGER, tmp_path / RESULTS))
    assert table_rows("\n".join(lines)) == [["resilience", "mlp", "4", "3", "3", "0"],
                                            ["resilience", "qnn", "4", "1", "0", "1"],
                                            ["all", "all", "8", "4", "3", "1"]]
    assert "(1 re-run on the CPU model that made them)" in lines[-1]


def test_check_fails_on_a_hand_edited_verified_record_until_its_ledger_entry_goes(capsys, tmp_path, monkeypatch):
    files, mlp, _ = committed_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "leaderboard")[:2] == (0, "leaderboard/README.md: updated\n")
    assert run_cli(capsys, "leaderboard", "--check")[0] == 0
    readme = tmp_path / "leaderboard" / "README.md"
    assert ["resilience", "mlp", "4", "3", "3", "0"] in table_rows(readme.read_text())

    # a verified record edited by hand (val_acc + 0.05) and the leaderboard regenerated: the coverage alone
    # would only count one fewer re-run unit, and --check would pass
    edited = files[mlp[0]]
    rec = json.loads(edited.read_text())
    rec["metrics"]["val_acc"] += 0.05
    edited.write_text(json.dumps(rec, sort_keys=True) + "\n")
    assert run_cli(capsys, "leaderboard")[:2] == (0, "leaderboard/README.md: updated\n")
    before = readme.read_bytes()
    code, _, err = run_cli(capsys, "leaderboard", "--check")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{RESULTS}/resilience/records/{mlp[0]}.jsonl: changed since `qbench verify` checked it " in err
    assert f"{LEDGER} line 1: sha256 " in err and f"remove its unit's entries from {tmp_path / LEDGER}" in err
    assert readme.read_bytes() == before

    # the ledger entry removed with it: the check passes again, the coverage one unit lower
    ledger = tmp_path / LEDGER
    ledger.write_text("".join(line for line in ledger.read_text().splitlines(keepends=True) if mlp[0] not in line))
    assert run_cli(capsys, "leaderboard", "--check")[0] == 0
    assert ["resilience", "mlp", "4", "2", "2", "0"] in table_rows(readme.read_text())


def test_a_re_made_unit_counts_by_its_last_ledger_entry(tmp_path):
    files, mlp, _ = committed_tree(tmp_path)
    ledger = tmp_path / LEDGER
    first = json.loads(ledger.read_text().splitlines()[0])
    # an entry for an older content of the unit, then the current one: the last one counts
    ledger.write_text(json.dumps({**first, "content_sha256": "f" * 64}) + "\n" + ledger.read_text())
    view = LedgerView(ledger, tmp_path / RESULTS)
    assert view.changed() == [] and view.counts(view.ok_units)["units_agreed"] == 3
    # the other way round: the unit changed since its last check
    ledger.write_text(ledger.read_text() + json.dumps({**first, "content_sha256": "f" * 64}) + "\n")
    (problem,) = LedgerView(ledger, tmp_path / RESULTS).changed()
    assert problem.startswith(f"{files[mlp[0]]}: changed since") and "line 6: sha256 ffffffffffff, now " in problem


def test_the_coverage_closes_the_block_only_beside_a_ledger(tmp_path):
    committed_tree(tmp_path)
    block = L.render_block([], coverage=LedgerView(tmp_path / LEDGER, tmp_path / RESULTS))
    assert block.index("_Generated by") < block.index(f"### {TITLE}") < block.index(L.END)
    assert TITLE not in L.render_block([])
