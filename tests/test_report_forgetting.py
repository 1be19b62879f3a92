"""The forgetting suite's leaderboard section (PROTOCOL 4.9): rows, ranking by |ulira_acc - 0.5| in rank groups,
the references unranked, the QNN-vs-MLP sentence, no NaN anywhere; the unlearning tables' note on where
mia_efficacy has no power; and a real toy run (xxz-4, MLP, K = 8) that the leaderboard command turns into a table."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.report.stats import rank_groups
from qbench.report.suites.forgetting import distance, forgetting_figures, forgetting_sections
from qbench.report.suites.unlearning import power_note, unlearning_table
from tests.report_records import forgetting_records, unlearning_unit

N = 20  # forget samples: enough that the per-sample fits separate a shift of 5 from none


def _split(recs):
    return [r for r in recs if r["status"] == "ok"], [r for r in recs if r["status"] != "ok"]


def _table_rows(section) -> list[list[str]]:
    lines = [x for x in section.body.splitlines() if x.startswith("|")][2:]
    return [[c.strip() for c in x.strip("|").split("|")] for x in lines]


def _sections(qnn: dict, mlp: dict | None = None, **kw):
    recs = forgetting_records("qnn", qnn, n=N, **kw) + (forgetting_records("mlp", mlp, n=N) if mlp else [])
    return forgetting_sections(*_split(recs))


def test_distance_and_rank_groups_on_hand_computed_intervals():
    rows = {"a": (0.6, 0.55, 0.7), "b": (0.52, 0.45, 0.6), "c": (0.1, 0.05, 0.15), "d": (None, None, None)}
    d = {m: distance({"ulira_acc": v, "ulira_low": lo, "ulira_high": hi}) for m, (v, lo, hi) in rows.items()}
    assert (d["a"].mean, d["a"].low, d["a"].high, d["a"].n) == pytest.approx((-0.1, -0.2, -0.05, 1))
    assert (d["b"].low, d["b"].high) == pytest.approx((-0.1, 0.0))  # 0.5 inside: the distance's interval starts at 0
    assert (d["c"].low, d["c"].high) == pytest.approx((-0.45, -0.35)) and d["d"].n == 0
    ranks = [(rank, m) for rank, m, _ in rank_groups(list(d.items()))]
    # b (0.02 [0, 0.1]) leads; a's [0.05, 0.2] overlaps it; c's [0.35, 0.45] does not; d has no value
    assert ranks == [(1, "b"), (1, "a"), (2, "c"), (0, "d")]


def test_table_ranks_methods_by_distance_to_one_half_and_lists_the_references_unranked():
    sections = _sections({"poisoned": 5.0, "finetune": 0.0, "scrub": 5.0, "gradient_ascent": 0.1})
    assert len(sections) == 1 and re.fullmatch(r"xxz-4 · qnn \(protocol \d\)", sections[0].heading)
    rows = _table_rows(sections[0])
    # finetune (shift 0) and gradient_ascent (shift 0.1) cannot be told apart: one rank group, in either order
    assert {(r[0], r[1]) for r in rows[:2]} == {("1", "`finetune`"), ("1", "`gradient_ascent`")}
    assert [(r[0], r[1]) for r in rows[2:]] == [("2", "`scrub`"), ("–", "`poisoned` (reference)"),
                                                ("–", "`null` (reference)")]
    cells = {r[1]: r for r in rows}
    assert float(cells["`scrub`"][2]) > 0.95 and float(cells["`scrub`"][4]) > 0.45  # told apart almost always
    assert cells["`null` (reference)"][-1] == "4 vs 4" and cells["`finetune`"][-1] == "8 vs 8"
    # val_acc is 0.80, 0.81, 0.82 by seed % 3: mean over the 8 models (3 + 3 + 2 of each)
    assert cells["`finetune`"][7] == f"{(3 * 0.80 + 3 * 0.81 + 2 * 0.82) / 8:.3f}"
    notes = " ".join(sections[0].notes)
    assert "0.5: the method's models cannot be told from retrained ones" in notes
    assert "about 0.17" in notes and "log(K − 1 − Kδ) = 1.95" in notes and "`null` row's ulira_acc is" in notes


def test_unranked_tables_keep_the_method_order_and_give_no_rank_column():
    recs = forgetting_records("qnn", {"poisoned": 5.0, "scrub": 5.0, "finetune": 0.0}, n=N)
    section = forgetting_sections(*_split(recs), ranked=False)[0]
    assert [r[0] for r in _table_rows(section)] == ["`finetune`", "`scrub`", "`poisoned` (reference)",
                                                     "`null` (reference)"]
    assert "Not ranked" in section.notes[0]


def _sentence(qnn_shift: float, mlp_shift: float) -> str:
    sections = _sections({"poisoned": 5.0, "finetune": qnn_shift, "scrub": 5.0},
                         {"poisoned": 5.0, "finetune": mlp_shift, "scrub": 5.0})
    assert [s.heading.split(" (")[0] for s in sections] == ["xxz-4 · mlp", "xxz-4 · qnn", "xxz-4 · QNN vs MLP"]
    return sections[-1].body


def test_the_sentence_says_which_model_ends_closer_to_retraining_or_that_it_cannot_tell():
    qnn_closer = _sentence(0.0, 5.0)
    assert qnn_closer.startswith("Does the QNN's unlearning end closer to retraining than the MLP's on xxz-4?")
    assert "QNN `finetune`, ulira_acc 0.5" in qnn_closer and "MLP `finetune`, ulira_acc 0.9" in qnn_closer
    assert "the QNN's ends closer to retraining than the MLP's" in qnn_closer
    assert "Method by method: QNN closer for `finetune`; MLP closer for none; cannot tell for `scrub`." in qnn_closer
    mlp_closer = _sentence(5.0, 0.0)
    assert "the MLP's ends closer to retraining than the QNN's" in mlp_closer
    assert "QNN closer for none; MLP closer for `finetune`; cannot tell for `scrub`" in mlp_closer
    same = _sentence(0.0, 0.0)
    assert "cannot tell, the intervals of |ulira_acc − 0.5| overlap" in same
    assert "cannot tell for `finetune`, `scrub`" in same


def test_a_metric_that_cannot_be_computed_is_a_dash_with_its_reason_never_nan():
    # scrub: 5 of 8 models failed, 3 left (U-LiRA needs 4 per population); the MLP has no method at all
    failed = [("scrub", s) for s in range(5)]
    recs = (forgetting_records("qnn", {"poisoned": 5.0, "scrub": 5.0, "finetune": 0.0}, n=N, failed=failed)
            + forgetting_records("mlp", {"poisoned": 5.0}, n=N))
    sections = forgetting_sections(*_split(recs))
    text = "\n".join(s.render() for s in sections)
    assert not re.search(r"\bnan\b|\binf\b", text, re.IGNORECASE)
    qnn = next(s for s in sections if s.heading.startswith("xxz-4 · qnn"))
    scrub = next(r for r in _table_rows(qnn) if r[1] == "`scrub`")
    assert scrub[0] == "–" and scrub[2:7] == ["–"] * 5 and scrub[-1] == "3 vs 8"
    assert "- `scrub`: ulira_acc: too few models: 3 and 8 (need 4 in each population)" in qnn.notes
    assert "5 failed unit(s), not averaged:" in qnn.notes
    assert sections[-1].body.endswith("Cannot tell: no method of the MLP has a ulira_acc.")


def test_the_figure_is_drawn_from_the_rows(tmp_path):
    recs = (forgetting_records("qnn", {"poisoned": 5.0, "finetune": 0.0}, n=N)
            + forgetting_records("mlp", {"poisoned": 5.0, "finetune": 1.0}, n=N))
    paths = forgetting_figures(recs, str(tmp_path))
    assert [Path(p).name for p in paths] == ["forgetting_xxz-4_ulira_acc.png"]
    first = Path(paths[0]).read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(forgetting_figures(recs, str(tmp_path))[0]).read_bytes() == first  # same records, same bytes


def test_power_note_counts_the_units_where_mia_efficacy_has_no_power():
    finals = [{"mia_efficacy": v} for v in (0.05, 0.1, 0.5, 0.9, 0.95)] + [{"mia_efficacy": None}]
    note = power_note(finals)
    assert "Here 4 of the 5 units' final mia_efficacy are at most 0.1 or at least 0.9." in note
    assert "mia_attack_acc" not in note and "Forgetting section" in note
    note = power_note(finals + [{"mia_efficacy": 0.4, "mia_attack_acc": 0.5}, {"mia_efficacy": 0.6, "mia_attack_acc": 0.6}])
    assert "Here 4 of the 7" in note and "averages 0.550 over the 2 unit(s) that record it" in note


def test_the_unlearning_table_gives_the_power_note_only_with_mia_efficacy():
    recs = []
    for seed in (0, 1):
        recs += unlearning_unit("finetune", seed, [0.5, 0.6, 0.7])
    _, notes = unlearning_table(recs, "t")
    assert not any("population attack" in n for n in notes)
    for r in recs:
        r["metrics"]["mia_efficacy"] = 0.95 if r["seed"] == 0 else 0.5
    _, notes = unlearning_table(recs, "t")
    assert any("Here 1 of the 2 units' final mia_efficacy" in n for n in notes)


def test_a_real_toy_run_gives_a_forgetting_table(tmp_path, cache_dir, capsys):
    out = tmp_path / "forgetting"
    code = main(["run", "--suite", "forgetting", "--task", "xxz-4", "--model", "mlp", "--models", "8", "--epochs", "2",
                 "--steps", "2", "--method", "finetune", "--out", str(out), "--cache-dir", cache_dir, "--no-progress"])
    assert code == 0
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(out), "--allow-nonprotocol"]) == 0
    text = (out / "leaderboard.md").read_text()
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    head = text.index("#### Forgetting (PROTOCOL 4.9) · xxz-4 · mlp (protocol ")
    assert text[head:].split("\n")[0].endswith("; NOT the protocol settings, not ranked)")
    table = [x for x in text[head:].split("\n\n")[1].splitlines()[2:]]
    assert [x.split("|")[1].strip() for x in table] == ["`finetune`", "`poisoned` (reference)", "`null` (reference)"]
    for line in table:
        acc = float(line.split("|")[2])
        assert 0.0 <= acc <= 1.0 and not math.isnan(acc)
    recs = [json.loads(x) for f in (out / "records").glob("*.jsonl") for x in f.read_text().splitlines()]
    assert len(recs) == 24
