"""The corrective suite's report side (PROTOCOL 4.8): its leaderboard tables, figure and record check."""

import math
import statistics

import pytest

from qbench.cli import main
from qbench.errors import QbenchError
from qbench.records.build import new_record, unit_key
from qbench.records.checks import check_publication
from qbench.report import figures as FIG
from qbench.report import leaderboard as L
from qbench.report.registry import RECORD_CHECKS
from qbench.report.suites import corrective as C
from tests.report_records import write_records

STEPS = 3


def corrective_unit(method, seed, fraction, val, *, residual=None, task="xxz-12", model="mlp", steps=STEPS,
                    only_steps=None, status_fail=None):
    """A method unit's records (steps 0 and ``steps``; val_acc ``val`` at the last), or the oracle's (one record)."""
    config = {"suite": "corrective", "scenario": f"corrective/{task}/{model}", "task": task, "model": model,
              "corruption": "label_flip", "alpha": 0.3, "method": method, "method_hyperparameters": {},
              "known_fraction": fraction, "steps": steps, "seed": seed, "protocol_version": "2", "quick": False,
              "poisoned": {"seed": seed, "epochs": 2}}
    key = unit_key(f"corrective-{task}-{model}-f{fraction:g}-s{seed}-{method}", config)
    oracle = method == "oracle"
    recs = []
    for step in only_steps if only_steps is not None else ([steps] if oracle else [0, steps]):
        metrics = {"val_acc": val if step == steps else 0.6, "forget_acc": 0.2, "forget_clean_acc": 0.8,
                   "retain_acc": 0.9, "residual_poison_acc": residual if fraction < 1 else None,
                   "mia_efficacy": 0.5}
        metrics.update({"train_wall_s": 2.0} if oracle else {"gap_to_oracle": 0.1, "wall_s": 0.1 * step, "loss": 0.3})
        rec = new_record(suite="corrective", scenario=config["scenario"], unit_key=key, config=config, task=task,
                         model=model, model_size="16x4", corruption="label_flip", alpha=0.3, seed=seed,
                         method=method, step=step, metrics=metrics, known_fraction=fraction)
        if fraction == 1:
            rec["metric_notes"] = {"residual_poison_acc": "every flipped sample is identified"}
        recs.append(rec)
    if status_fail:
        recs = recs[:1] + [new_record(
            suite="corrective", scenario=config["scenario"], unit_key=key, config=config, task=task, model=model,
            model_size="16x4", corruption="label_flip", alpha=0.3, seed=seed, method=method, step=1, metrics={},
            status="failed", error=status_fail, known_fraction=fraction)]
    return recs


# final val_acc per (method, fraction) over seeds 0, 1, 2
FINETUNE = {0.1: [0.80, 0.82, 0.84], 0.5: [0.88, 0.90, 0.92], 1.0: [0.90, 0.91, 0.92]}
RETRAIN = {0.1: [0.95, 0.96, 0.97], 0.5: [0.70, 0.70, 0.70], 1.0: [0.95, 0.95, 0.95]}
ORACLE = {0.1: [0.97] * 3, 0.5: [0.97] * 3, 1.0: [0.97] * 3}
RESIDUAL = {0.1: [0.5, 0.6, 0.7], 0.5: [0.3, 0.3, 0.3], 1.0: [None] * 3}


def table_records(model="mlp"):
    recs = []
    for method, vals in (("finetune", FINETUNE), ("retrain", RETRAIN), ("oracle", ORACLE)):
        for f, per_seed in vals.items():
            for seed, v in enumerate(per_seed):
                recs += corrective_unit(method, seed, f, v, residual=RESIDUAL[f][seed], model=model)
    return recs


def rows_of(body):
    """{method cell: cells} of each markdown table in ``body``, in order."""
    tables = []
    for chunk in body.split("\n\n"):
        lines = [l for l in chunk.splitlines() if l.startswith("| ") and "`" in l]
        cells = [[c.strip() for c in l.split("|")[1:-1]] for l in lines]
        tables.append({next(c for c in row if "`" in c): row for row in cells})
    return tables


def test_recovers_from_needs_every_larger_fraction_within_reach():
    assert C.recovers_from({0.1: 0.82, 0.5: 0.90, 1.0: 0.91}) == 0.5
    assert C.recovers_from({0.1: 0.96, 0.5: 0.70, 1.0: 0.95}) == 1.0  # the lucky 0.1 beyond a shortfall does not count
    assert C.recovers_from({0.1: 0.89, 0.5: 0.95, 1.0: 0.91}) == 0.1  # exactly 0.02 below is within; above is fine
    assert C.recovers_from({0.1: 0.9, 0.5: math.nan, 1.0: 0.9}) == 1.0  # a fraction without a mean ends the run
    assert C.recovers_from({0.1: 0.9, 0.5: 0.9}) is None  # no f = 1 value


def test_corrective_tables_on_hand_computed_numbers():
    (section,) = C.corrective_sections(table_records(), [])
    assert section.heading == "xxz-12 · mlp (protocol 3)"
    val, res = rows_of(section.body)
    header = section.body.splitlines()[0]
    assert [c.strip() for c in header.split("|")[1:-1]] == [
        "rank", "method", "val_acc @f=0.1", "val_acc @f=0.5", "val_acc @f=1", "mean over f", "95% CI mean over f",
        "recovers at f ≥", "n"]
    assert list(val) == ["`finetune`", "`retrain`", "`oracle` (reference)"]  # the oracle last, unranked
    ft, rt, orc = val["`finetune`"], val["`retrain`"], val["`oracle` (reference)"]
    assert ft[2:5] == ["0.820 ± 0.020", "0.900 ± 0.020", "0.910 ± 0.010"]
    seed_means = [statistics.fmean(FINETUNE[f][s] for f in FINETUNE) for s in range(3)]
    assert ft[5] == f"{statistics.fmean(seed_means):.3f} ± {statistics.stdev(seed_means):.3f}"  # 0.877 ± 0.017
    # finetune (0.877) and retrain (0.870): their intervals overlap, so both share rank 1
    assert ft[0] == "1" and rt[0] == "1" and orc[0] == "–"
    assert ft[7] == "0.5" and rt[7] == "1" and orc[7] == "0.1"
    assert rt[3] == "0.700 ± 0.000" and ft[-1] == rt[-1] == orc[-1] == "3"
    # residual poison: lower is better; nothing is left unidentified at f = 1
    assert res["`finetune`"][1:] == ["0.600 ± 0.100", "0.300 ± 0.000", "–", "3"]
    assert res["`oracle` (reference)"][3] == "–"
    assert "recovers at f ≥: the smallest f from which on" in section.notes[0]


def test_tables_per_model_and_unranked_rows_in_method_order():
    sections = C.corrective_sections(table_records("qnn") + table_records("mlp"), [], ranked=False)
    assert [s.heading for s in sections] == [
        "xxz-12 · mlp (protocol 3; NOT the protocol settings, not ranked)",
        "xxz-12 · qnn (protocol 3; NOT the protocol settings, not ranked)"]
    val, _ = rows_of(sections[0].body)
    assert list(val) == ["`retrain`", "`finetune`", "`oracle` (reference)"]
    assert not sections[0].body.startswith("| rank")


def test_a_failed_unit_is_noted_and_its_cell_counts_fewer_seeds():
    recs = [r for r in table_records() if not (r["method"] == "retrain" and r["known_fraction"] == 0.5
                                               and r["seed"] == 2)]
    recs += corrective_unit("retrain", 2, 0.5, 0.7, status_fail="step 1: non-finite parameters")
    from qbench.records.checks import split_failed

    ok, failed = split_failed(recs)
    (section,) = C.corrective_sections(ok, failed)
    val, _ = rows_of(section.body)
    assert val["`retrain`"][3] == "0.700 ± 0.000 (n=2)"
    assert val["`retrain`"][5].endswith("(n=2)")  # seed 2 has no mean over every fraction
    assert "- retrain f=0.5 seed 2: step 1: non-finite parameters" in section.notes


def test_rows_with_different_seeds_or_settings_are_refused():
    recs = [r for r in table_records() if not (r["method"] == "retrain" and r["seed"] == 2 and r["known_fraction"] == 0.1)]
    with pytest.raises(QbenchError, match="rows cover different seeds"):
        C.corrective_sections(recs, [])
    recs = table_records() + corrective_unit("finetune", 3, 0.1, 0.8, steps=STEPS + 1)
    with pytest.raises(QbenchError, match="2 different configurations"):
        C.corrective_sections(recs, [])


def test_record_check_wants_steps_0_and_n_and_the_oracle_at_n():
    recs = table_records()
    assert RECORD_CHECKS["corrective"] is C.check_corrective_steps
    assert C.check_corrective_steps(recs, set()) == []
    check_publication(recs, RECORD_CHECKS)  # the same method and seed at two fractions are not duplicates
    broken = corrective_unit("finetune", 0, 0.25, 0.8, only_steps=[0])
    broken += corrective_unit("oracle", 0, 0.25, 0.9, only_steps=[0, STEPS])
    broken += corrective_unit("retrain", 0, 0.25, 0.9, only_steps=[0, 1, STEPS])
    problems = C.check_corrective_steps(recs + broken, set())
    assert len(problems) == 3
    keys = {r["unit_key"]: r["method"] for r in broken}
    by_method = {keys[p.split()[1].rstrip(":")]: p for p in problems}
    assert by_method["finetune"].endswith(f"steps 0, expected 0,{STEPS}")
    assert by_method["oracle"].endswith(f"steps 0,{STEPS}, expected {STEPS}")
    assert by_method["retrain"].endswith(f"steps 0-1,{STEPS}, expected 0,{STEPS}")
    # a failed unit is reported as failed, not as incomplete
    left = C.check_corrective_steps(broken, {broken[0]["unit_key"]})
    assert len(left) == 2 and not any(broken[0]["unit_key"] in p for p in left)
    with pytest.raises(QbenchError, match="expected 0,3"):
        check_publication(recs + broken[:1], RECORD_CHECKS)


def test_figure_per_task_with_a_panel_per_model(tmp_path):
    import matplotlib.image as mpimg

    recs = table_records("mlp") + table_records("qnn")
    written = C.corrective_figures(recs, str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in written] == ["corrective_xxz-12_val_acc.png"]
    img = mpimg.imread(written[0])
    assert img.ndim == 3 and img.shape[1] > img.shape[0] > 200  # two panels side by side
    assert FIG.make_figures(recs, str(tmp_path / "all"), log=lambda _: None) == [
        str(tmp_path / "all" / "corrective_xxz-12_val_acc.png")]


@pytest.fixture
def corrective_suite():
    """The corrective suite as the leaderboard sees it."""
    from qbench.suites import get_suite

    return get_suite("corrective")


def test_leaderboard_command_shows_the_tables_apart_when_not_protocol(capsys, tmp_path, corrective_suite):
    write_records(tmp_path / "r", table_records())
    out = tmp_path / "board.md"
    code = main(["leaderboard", "--results", str(tmp_path / "r"), "--allow-nonprotocol", "--output", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    text = out.read_text()
    assert f"#### {corrective_suite.title} · xxz-12 · mlp (protocol 3; NOT the protocol settings, not ranked)" in text
    val = rows_of(text.split(corrective_suite.title, 1)[1])[1]
    assert val["`finetune`"][1:4] == ["0.820 ± 0.020", "0.900 ± 0.020", "0.910 ± 0.010"]
    # optional heading: a leaderboard without corrective records has no corrective heading at all
    assert corrective_suite.title not in L.render_block([])
