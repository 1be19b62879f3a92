"""The controls' report (PROTOCOL 2.4): the interval of a difference, the match rule, the generated sentence
in each case, the table and figure from protocol records, and no section where no control has records."""

import math

import pytest

from qbench.metrics.registry import reported_by
from qbench.report.stats import Stat, diff_ci95
from qbench.report.suites.controls import MATCHES, SHORT, UNDECIDED, controls_sentence, relation, verdict
from tests.report_records import results, run_cli, sweep_record, unlearning_unit, write_records  # noqa: F401

(VAL,) = reported_by("resilience")
QNN = [0.95, 0.96, 0.94]  # mean 0.95, sd 0.01
MLP = [0.73, 0.75, 0.71]  # mean 0.73, sd 0.02
SAME = [0.95, 0.955, 0.945]  # matches the QNN: difference 0.000 [-0.021, 0.021]
LOW = [0.73, 0.735, 0.725]  # falls short of the QNN: -0.220 [-0.241, -0.199]; at the MLP's level (0.000 [-0.046, 0.046])
WIDE = [0.80, 0.95, 0.90]  # undecided: -0.067 [-0.252, 0.119]


def stats(**values) -> dict[str, Stat]:
    return {k.replace("_", "-"): Stat.of(v) for k, v in values.items()}


def test_welch_interval_of_a_difference_on_hand_computed_numbers():
    a, b = Stat.of([0.90, 0.91, 0.89, 0.90, 0.90]), Stat.of([0.80, 0.82, 0.78, 0.80, 0.80])
    # sd(a) = sqrt(0.0002 / 4), sd(b) = sqrt(0.0008 / 4); se^2 = 0.00001 + 0.00004 = 0.00005
    # Welch-Satterthwaite: df = 0.00005^2 / ((0.00001^2 + 0.00004^2) / 4) = 5.882353
    from scipy.stats import t

    df = 0.00005 ** 2 / ((0.00001 ** 2 + 0.00004 ** 2) / 4)
    assert df == pytest.approx(5.882353, abs=1e-6)
    half = t.ppf(0.975, df) * math.sqrt(0.00005)
    assert diff_ci95(a, b) == pytest.approx((0.1 - half, 0.1 + half), abs=1e-9)
    assert half == pytest.approx(0.01739, abs=1e-4)
    assert diff_ci95(Stat.of([0.5, 0.5]), Stat.of([0.4, 0.4])) == pytest.approx((0.1, 0.1))  # neither varies
    assert diff_ci95(Stat.of([0.5]), b) == (-math.inf, math.inf)  # one seed: nothing can be claimed


def test_match_rule_against_the_margin():
    qnn = Stat.of(QNN)
    assert relation(Stat.of(SAME), qnn) == MATCHES
    assert relation(Stat.of([0.98, 0.99, 0.97]), qnn) == MATCHES  # above the QNN matches too
    assert relation(Stat.of(LOW), qnn) == SHORT
    assert relation(Stat.of(WIDE), qnn) == UNDECIDED
    assert relation(Stat.of([0.9]), qnn) == UNDECIDED  # one seed: the seeds cannot tell
    # 0.04 below with a tight interval is within the 0.05 margin; 0.06 below is not, 0.10 below falls short
    assert relation(Stat.of([0.91, 0.91, 0.91]), Stat.of([0.95, 0.95, 0.95])) == MATCHES
    assert relation(Stat.of([0.89, 0.89, 0.89]), Stat.of([0.95, 0.95, 0.95])) == SHORT


@pytest.mark.parametrize("case, matched, product, expect, phrase", [
    ("capacity", SAME, SAME, "capacity", "So capacity explains the QNN's margin"),
    ("entanglement", LOW, LOW, "entanglement", "So entanglement explains it, capacity does not"),
    ("both", SAME, LOW, "both", "So capacity and entanglement both explain it"),
    ("neither", LOW, SAME, "neither", "So neither capacity nor entanglement explains it"),
    ("undecided", WIDE, LOW, "undecided", "the seeds cannot tell whether `mlp-matched` matches the QNN"),
    ("missing", SAME, None, "missing", "cannot be said until `qnn-product` has records at α = 0.3"),
])
def test_the_sentence_in_each_case(case, matched, product, expect, phrase):
    s = stats(qnn=QNN, mlp=MLP, mlp_matched=matched, linear=LOW)
    if product is not None:
        s["qnn-product"] = Stat.of(product)
    assert verdict(s) == expect
    text = controls_sentence("mnist-1v9", s, VAL)
    assert phrase in text
    assert "a margin of +0.220 [" in text
    assert "`linear` (1,025 parameters, 0.730 [0.718, 0.742]) falls short of the QNN (-0.220 [" in text
    if product is None:
        assert "`qnn-product` has no records at α = 0.3 yet" in text
    if case == "entanglement":  # at the MLP's level: the product QNN falls to the MLP
        assert "`qnn-product` (180 parameters" in text and "to the MLP, down to the MLP's level" in text
    if case == "capacity":
        assert "`mlp-matched` (249 parameters, 0.950 [0.938, 0.962]) matches the QNN (+0.000 [-0.02" in text
    assert "nan" not in text.lower() and "inf" not in text.lower()


def test_the_sentence_without_a_margin_or_a_reference():
    s = stats(qnn=QNN, mlp=QNN, mlp_matched=SAME, qnn_product=SAME, linear=SAME)
    assert verdict(s) == "no margin"
    text = controls_sentence("xxz-12", s, VAL)
    assert "which its interval does not separate from 0" in text and "nothing for capacity or entanglement" in text
    s = stats(mlp=MLP, mlp_matched=SAME)
    assert verdict(s) == "missing"
    assert controls_sentence("xxz-12", s, VAL).startswith("No `qnn` records at α = 0.3 on xxz-12")


def test_a_control_that_does_not_learn_clean_data_is_said_to_lack_the_task():
    s = stats(qnn=QNN, mlp=MLP, mlp_matched=LOW, qnn_product=[0.50, 0.52, 0.48], linear=SAME)
    clean = stats(qnn=[0.97, 0.98, 0.96], mlp=[0.99, 0.99, 0.99], mlp_matched=[0.97, 0.98, 0.96],
                  qnn_product=[0.55, 0.57, 0.56], linear=[0.99, 0.99, 0.99])
    text = controls_sentence("xxz-12", s, VAL, clean)
    assert verdict(s) == "entanglement"
    assert "it falls short of the QNN on clean data too, 0.560 [0.535, 0.585] at α = 0" in text
    assert "does not learn the task even unpoisoned" in text
    assert text.count("on clean data too") == 1  # mlp-matched learns clean data: it lacks the resilience


MODELS = ("mlp", "qnn", "qnn-product", "mlp-matched", "linear")
AT_03 = {"mlp": MLP, "qnn": QNN, "qnn-product": LOW, "mlp-matched": SAME, "linear": LOW}


def control_records(task="mnist-1v9", models=MODELS, alphas=(0.0, 0.3)):
    """Protocol records (the registered scenario's config) of resilience label flipping, three seeds."""
    return [sweep_record("resilience", m, "label_flip", a, seed, (AT_03[m][seed] if a == 0.3 else 0.98),
                         task=task, conform=True)
            for m in models for a in alphas for seed in range(3)]


def test_control_records_at_the_protocol_pass_the_strict_leaderboard(capsys, tmp_path):
    recs = control_records()
    for model in ("qnn", "mlp", "qnn-product"):
        for seed in range(3):
            recs += unlearning_unit("retrain", seed, [0.5, 0.9 + seed / 100], task="mnist-1v9", model=model, conform=True)
    write_records(tmp_path / "r", recs)
    code, out, err = run_cli(capsys, "leaderboard", "--results", tmp_path / "r", "--output", "-")
    assert code == 0, err
    assert "Not the protocol's settings" not in out  # every record counted as a protocol record
    block = out[out.index("### Controls"):]
    assert "#### mnist-1v9 · resilience to label flipping (protocol" in block
    header = next(l for l in block.splitlines() if l.startswith("| α"))
    assert [c.strip() for c in header.split("|")[2:-1]] == [f"`{m}`" for m in MODELS]
    row = next(l for l in block.splitlines() if l.startswith("| 0.3 "))
    cells = [c.strip() for c in row.split("|")[2:-1]]
    assert cells[1] == "0.950 ± 0.010 [0.925, 0.975]"  # QNN: 0.95 -+ 4.302653 * 0.01 / sqrt(3)
    assert cells[3] == "0.950 ± 0.005 [0.938, 0.962]"
    params = next(l for l in block.splitlines() if l.startswith("| parameters"))
    assert [c.strip() for c in params.split("|")[2:-1]] == ["16,473", "240", "180", "249", "1,025"]
    assert "So capacity and entanglement both explain it" in block
    # the unlearning table: the models with records, the others named as missing
    unl = block[block.index("unlearning, final val_acc"):]
    assert [c.strip() for c in next(l for l in unl.splitlines() if l.startswith("| method")).split("|")[2:-1]] == [
        "`mlp`", "`qnn`", "`qnn-product`", "n"]
    assert "| `retrain` | 0.910 ± 0.010 [0.885, 0.935]" in unl.replace("  ", " ").replace("  ", " ")
    assert "No unlearning records of `mlp-matched`, `linear` yet" in unl
    assert "nan" not in out.lower()


def test_missing_controls_are_named_and_incomplete_ones_counted(capsys, tmp_path):
    recs = control_records(models=("mlp", "qnn", "mlp-matched")) + control_records(models=("linear",), alphas=(0.0,))
    write_records(tmp_path / "r", recs)
    code, out, err = run_cli(capsys, "leaderboard", "--results", tmp_path / "r", "--output", "-")
    assert code == 0, err
    block = out[out.index("### Controls"):]
    assert "`qnn-product` has no records at α = 0.3 yet" in block
    assert "`linear` has no records at α = 0.3 yet" in block
    assert "No resilience label-flip records of `qnn-product` yet" in block
    assert "`linear` is incomplete: 3 of the 6 (α, seed) units" in block
    assert "No successful unlearning records of these models." in block
    assert "nan" not in out.lower()


def test_no_controls_section_without_control_records(capsys, results):
    code, out, err = run_cli(capsys, "leaderboard", "--results", results, "--output", "-")
    assert code == 0, err
    assert "Controls" not in out


def test_the_figure_is_written_only_with_control_records(capsys, tmp_path, results):
    import matplotlib.image as mpimg

    write_records(tmp_path / "r", control_records() + control_records(task="xxz-12"))
    code, stdout, _ = run_cli(capsys, "plot", "--results", tmp_path / "r", "--out", tmp_path / "f")
    assert code == 0 and "controls: wrote" in stdout
    img = mpimg.imread(tmp_path / "f" / "controls_resilience.png")
    assert img.ndim == 3 and img.shape[1] > 2 * img.shape[0]  # two panels side by side
    code, stdout, _ = run_cli(capsys, "plot", "--results", results, "--out", tmp_path / "g")
    assert code == 0 and "controls" not in stdout and not (tmp_path / "g" / "controls_resilience.png").exists()
