"""The leaderboard's tables and statistics on hand-computed numbers: intervals, rank groups, steps to
retrain's accuracy, the five-point rule, failed units, protocol versions, the landscape table."""

import math

import pytest

from qbench.report import leaderboard as L
from qbench.report.stats import Stat, fmt_ci, rank_groups
from qbench.report.suites.resilience import max_alpha_within
from tests.report_records import landscape_records, sweep_record, unlearning_unit


def test_accuracy_intervals_stay_inside_0_1():
    recs = []
    for seed, v in ((0, 0.99), (1, 0.95), (2, 1.0)):  # t interval of the mean: [0.914, 1.046]
        recs += unlearning_unit("retrain", seed, [0.5, v])
    assert Stat.of([0.99, 0.95, 1.0]).ci95()[1] > 1.0
    row = next(l for l in L.render_block(recs).splitlines() if "`retrain`" in l)
    assert "[0.914, 1.000]" in row
    assert "clipped to [0, 1]" in L.render_block(recs)



def test_t_interval_and_rank_groups_on_hand_computed_numbers():
    a = Stat.of([0.90, 0.92, 0.94])  # mean 0.92, sd 0.02, t(0.975, 2) = 4.302653
    b = Stat.of([0.80, 0.81, 0.82])  # mean 0.81, sd 0.01
    c = Stat.of([0.86, 0.88, 0.90])  # mean 0.88, sd 0.02
    d = Stat.of([0.50])  # one seed: unbounded interval
    half_a = 4.302653 * 0.02 / math.sqrt(3)  # 0.049683
    assert a.ci95() == pytest.approx((0.92 - half_a, 0.92 + half_a), abs=1e-6)
    assert fmt_ci(a) == "[0.870, 0.970]"
    assert b.ci95() == pytest.approx((0.81 - 4.302653 * 0.01 / math.sqrt(3), 0.81 + 4.302653 * 0.01 / math.sqrt(3)), abs=1e-6)
    assert fmt_ci(d) == "–"
    # C [0.830, 0.930] overlaps A [0.870, 0.970]: rank 1; B [0.785, 0.835] does not, although it
    # overlaps C: the group is decided against the leader, so B leads rank 2. D cannot be separated.
    ranked = rank_groups([("b", b), ("a", a), ("d", d), ("c", c), ("e", Stat.of([]))])
    assert [(r, n) for r, n, _ in ranked] == [(1, "a"), (1, "c"), (1, "d"), (2, "b"), (0, "e")]



def test_unlearning_table_ranks_and_steps_to_retrain(capsys, tmp_path):
    recs = []
    for seed, shift in ((0, 0.0), (1, 0.01), (2, 0.02)):
        recs += unlearning_unit("retrain", seed, [0.1, 0.5, 0.80 + shift])
        recs += unlearning_unit("finetune", seed, [0.6, 0.81 + shift, 0.90 + shift], wall=0.25)
        recs += unlearning_unit("scrub", seed, [0.6, 0.60, 0.60 + shift / 2])
    block = L.render_block(recs)
    lines = {l.split("|")[2].strip(): [c.strip() for c in l.split("|")[1:-1]] for l in block.splitlines()
             if l.startswith("| ") and "`" in l}
    assert lines["`finetune`"][0] == "1" and lines["`retrain`"][0] == "2" and lines["`scrub`"][0] == "3"
    # finetune reaches the same seed's retrain val_acc (0.80, 0.81, 0.82) at step 1 in every seed
    assert lines["`finetune`"][-3] == "1.0 ± 0.0 (3/3)"
    assert lines["`scrub`"][-3] == "never (0/3)"
    assert lines["`retrain`"][-3] == "2.0 ± 0.0 (3/3)"
    assert lines["`finetune`"][-2] == "0.2500 ± 0.0000"  # wall_s at the last step (0.5) / 2 steps
    assert lines["`finetune`"][3] == "0.910 ± 0.010"  # val_acc at the final step
    assert lines["`finetune`"][4] == "[0.885, 0.935]"  # 0.91 -+ 4.302653 * 0.01 / sqrt(3)
    assert lines["`finetune`"][-1] == "3"



def test_five_point_rule_on_a_hand_made_table():
    means = {0.0: 0.95, 0.1: 0.93, 0.2: 0.90, 0.3: 0.89, 0.4: 0.93}
    assert max_alpha_within(means) == 0.2  # 0.3 drops 0.06; the recovery at 0.4 does not count
    assert max_alpha_within({0.0: 0.95, 0.1: 0.90, 0.2: 0.70}) == 0.1  # exactly 5 points is within
    assert max_alpha_within({0.0: 0.95, 0.1: 0.80}) == 0.0
    assert max_alpha_within({0.1: 0.9}) is None  # no clean value
    recs = [sweep_record("resilience", "mlp", "label_flip", a, s, v + 0.001 * s)
            for s in (0, 1) for a, v in means.items()]
    row = next(l for l in L.render_block(recs).splitlines() if l.startswith("| mlp"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[-2] == "0.2" and cells[-1] == "2"
    assert cells[3] == "0.950 ± 0.001"



def test_failed_units_are_counted_not_averaged():
    recs = []
    for seed in (0, 1):
        recs += unlearning_unit("retrain", seed, [0.5, 0.8])
    recs += unlearning_unit("scrub", 0, [0.5, 0.9])
    recs += unlearning_unit("scrub", 1, [0.5], steps=1, status_fail="step 1: non-finite parameters")
    block = L.render_block(recs)
    scrub = next(l for l in block.splitlines() if "`scrub`" in l)
    assert "0.900 ± – " in scrub and scrub.rstrip(" |").endswith("1")  # only seed 0 averaged
    assert "1 failed unit(s), not averaged:" in block
    assert "- scrub seed 1: step 1: non-finite parameters" in block
    recs.append(sweep_record("resilience", "qnn", "label_flip", 0.3, 0, None, status="failed"))
    recs.append(sweep_record("resilience", "qnn", "label_flip", 0.0, 0, 0.9))
    block = L.render_block(recs)
    assert "- qnn/64x16/label_flip alpha 0.3 seed 0: boom" in block



def test_protocol_versions_are_never_mixed():
    # protocol 2 changed every unlearning scenario (oracle, MIA, gap): protocol-1 records are superseded and
    # get a table of their own, never mixed with protocol-2 ones
    recs = []
    for seed in (0, 1):
        recs += unlearning_unit("retrain", seed, [0.5, 0.8], model="mlp")
        recs += unlearning_unit("retrain", seed, [0.5, 0.6], model="mlp", protocol="2")
        recs += unlearning_unit("retrain", seed, [0.5, 0.9], model="qnn")
    block = L.render_block(recs)
    assert "#### xxz-4 · mlp (protocol 1 (superseded))" in block and "#### xxz-4 · mlp (protocol 3)" in block
    assert "#### xxz-4 · qnn (protocol 1 (superseded))" in block
    assert "0.800 ± 0.000" in block and "0.600 ± 0.000" in block and "0.700" not in block
    assert "protocol version(s) 1 (superseded), 3" in block



def test_landscape_table_from_synthetic_records():
    recs = []
    for seed, t0 in ((0, 1.0), (1, 2.0)):
        recs += landscape_records("qnn", seed, [t0, t0 * 1.1, t0 * 1.2, t0 * 1.3])
        recs += landscape_records("mlp", seed, [t0, t0 * 2, t0 * 3, t0 * 4], collapsed=(0.4,) if seed else ())
    block = L.render_block(recs)
    rows = [[c.strip() for c in l.split("|")[1:-1]] for l in block.splitlines() if l.startswith("| mlp") or l.startswith("| qnn")]
    assert [r[:3] for r in rows][:4] == [["mlp", "16x4", "0"], ["mlp", "16x4", "0.2"], ["mlp", "16x4", "0.3"], ["mlp", "16x4", "0.4"]]
    qnn03 = next(r for r in rows if r[0] == "qnn" and r[2] == "0.3")
    assert qnn03[4] == "1.200 ± 0.000"  # per-seed LRR
    # the study's LRR against the mean clean trace (1.5): 1.2 / 1.5 and 2.4 / 1.5
    assert qnn03[5] == f"{(0.8 + 1.6) / 2:.3f} ± {math.sqrt(2 * 0.4 ** 2):.3f}"
    assert qnn03[3] == "1.8000 ± 0.8485"
    mlp04 = next(r for r in rows if r[0] == "mlp" and r[2] == "0.4")
    assert mlp04[4] == "4.000 ± – (n=1)" and mlp04[8] == "1"  # the collapsed model is counted, left out
    assert mlp04[7] == "-0.1000 ± 0.0000"  # the bottom eigenvalue: min of eig_bottom

