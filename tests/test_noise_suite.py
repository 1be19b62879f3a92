"""The noise suite (PROTOCOL 4.10): its protocol plan (units counted), stable unit keys, a tiny run end to end
(xxz-4, 2 epochs, 6 steps) whose records carry their noise level and make a table, and the generated sentence
on synthetic records: significant, not significant, never ending within the grid, and missing records."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from qbench.cli import main
from qbench.errors import QbenchError
from qbench.protocol import scenario_version
from qbench.records.build import new_record, unit_key
from qbench.scenarios import RunOptions
from qbench.suites import get_suite
from qbench.suites.noise import LEVELS, NoiseSettings


def _plan(**kw):
    suite = get_suite("noise")
    options = RunOptions(**kw)
    return suite.plan(suite.scenarios(options), options)


def test_the_protocol_plan_has_every_unit_of_the_grid_once():
    units = _plan()
    # per task and level: 6 alphas x 5 seeds trained models; 5 seeds x (4 methods + the oracle) unlearning units
    assert len(units) == 2 * 5 * (6 * 5 + 5 * 5) == 550
    count = Counter((u.config["task"], u.config["noise_level"], u.config["part"]) for u in units)
    assert set(count.values()) == {30, 25} and len(count) == 2 * 5 * 2
    assert Counter(u.config["method"] for u in units if u.config["part"] == "unlearning") == {
        m: 50 for m in ("oracle", "retrain", "finetune", "gradient_ascent", "scrub")}
    for u in units:
        spec = u.config if u.config["part"] == "resilience" else u.config["poisoned"]
        lv = next(lv for lv in LEVELS if lv.name == u.config["noise_level"])
        options = spec["model_options"]
        assert spec["model"] == "qnn" and options == {"depth": options["depth"], **lv.options()}
        assert spec["corruption"] == "label_flip" and u.config["protocol_version"] == "3"
    combined = next(u for u in units if u.config["noise_level"] == "combined")
    assert combined.config["model_options"] == {"depth": 6, "shots": 1000, "depolarizing": 0.01, "readout": 0.01}
    alphas = {u.config["alpha"] for u in units if u.config["part"] == "resilience"}
    assert alphas == {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}
    assert {u.config["alpha"] for u in units if u.config["part"] == "unlearning"} == {0.3}


def test_unit_keys_are_distinct_and_stable():
    suite = get_suite("noise")
    units = _plan()
    keys = [u.key for u in units]
    assert len(set(keys)) == len(keys) and keys == [u.key for u in _plan()]
    for u in units[:: 37]:  # a worker and `qbench verify` rebuild the unit from the stored config
        assert suite.unit_from_config(json.loads(json.dumps(u.config))).key == u.key
    (first,) = [u for u in units if u.config["part"] == "resilience" and u.config["noise_level"] == "shots-100"
                and u.config["task"] == "xxz-12" and u.config["alpha"] == 0.3 and u.config["seed"] == 2]
    assert first.key == unit_key("noise-xxz-12-shots-100-a0.3-s2", first.config)
    assert first.key.startswith("noise-xxz-12-shots-100-a0.3-s2-")
    oracle = [u.key for u in units if u.config.get("method") == "oracle"]
    assert len(oracle) == 50 and all(k.startswith("noise.oracle-") for k in oracle)
    # each level is its own compiled shape
    assert len({u.group for u in units}) == 2 * 5


def test_quick_tier_and_refusals():
    units = _plan(quick=True)
    assert {(u.config["task"], u.config["noise_level"]) for u in units} == {
        ("xxz-12", "shots-100"), ("xxz-12", "depolarizing-0.01")}
    assert {u.config["seed"] for u in units} == {0} and all(u.config["quick"] for u in units)
    assert len(units) == 2 * (3 + 3)  # per level: alphas 0, 0.3, 0.5; the oracle, finetune and scrub
    only = _plan(settings=NoiseSettings(levels="combined", part="resilience"), seeds=(0,), tasks=("xxz-4",))
    assert {(u.config["noise_level"], u.config["part"], u.config["task"]) for u in only} == {
        ("combined", "resilience", "xxz-4")}
    with pytest.raises(QbenchError, match="QNN only"):
        _plan(models=("mlp",))
    with pytest.raises(QbenchError, match="unknown noise level 'shots-7'"):
        NoiseSettings(levels="shots-7")
    with pytest.raises(QbenchError, match="noise.part"):
        NoiseSettings(part="both-ways")


# -- a tiny run, end to end ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def noise_run(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("noise") / "noise"
    code = main(["run", "--suite", "noise", "--task", "xxz-4", "--epochs", "2", "--steps", "6", "--seeds", "0",
                 "--alphas", "0,0.3", "--method", "finetune", "--set", "noise.levels=combined", "--out", str(out),
                 "--cache-dir", cache_dir, "--no-progress"])
    assert code == 0
    return out


def _records(d) -> list[dict]:
    return [json.loads(line) for f in sorted((d / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_a_tiny_run_records_its_noise_level_and_makes_a_table(noise_run, capsys, tmp_path):
    capsys.readouterr()
    recs = _records(noise_run)
    assert {(r["config"]["part"], r["method"], r["alpha"], r["step"]) for r in recs} == {
        ("resilience", None, 0.0, None), ("resilience", None, 0.3, None), ("unlearning", "oracle", 0.3, 6),
        ("unlearning", "finetune", 0.3, 0), ("unlearning", "finetune", 0.3, 5), ("unlearning", "finetune", 0.3, 6)}
    for r in recs:
        assert r["status"] == "ok" and r["suite"] == "noise" and r["config"]["noise_level"] == "combined"
        spec = r["config"] if r["config"]["part"] == "resilience" else r["config"]["poisoned"]
        assert spec["model_options"] == {"depth": 4, "shots": 1000, "depolarizing": 0.01, "readout": 0.01}
        for v in r["metrics"].values():
            assert v is None or not (isinstance(v, float) and math.isnan(v))
    # the model poisoned at alpha 0.3 is trained once: the resilience unit's, the one finetune starts from,
    # measured with the same evaluation draws (keyed by the inputs)
    res = next(r for r in recs if r["config"]["part"] == "resilience" and r["alpha"] == 0.3)
    start = next(r for r in recs if r["method"] == "finetune" and r["step"] == 0)
    assert start["metrics"]["val_acc"] == res["metrics"]["val_acc"]
    assert start["poisoned_model"] == res["poisoned_model"]
    out = tmp_path / "board.md"
    assert main(["leaderboard", "--results", str(noise_run), "--allow-nonprotocol", "--output", str(out)]) == 0
    text = out.read_text()
    assert "#### Device noise (PROTOCOL 4.10) · xxz-4 · qnn" in text
    assert "| QNN, 1000 shots, p = 0.01, readout 0.01 |" in text and "`finetune`" in text and "`oracle`" in text
    assert "no MLP label-flip records at α = 0.3" in text and "nan" not in text.lower()


def test_the_committed_leaderboard_has_no_noise_section_without_records(tmp_path):
    from qbench.report.leaderboard import render_block

    assert "Device noise" not in render_block([])


# -- the sentence, on synthetic records ----------------------------------------------------------------------

TASK = "xxz-12"


def _record(suite: str, model: str, alpha: float, seed: int, val: float, level: str | None = None) -> dict:
    config = {"suite": suite, "scenario": f"{suite}/{TASK}/{model}/{level}", "quick": False, "seed": seed,
              "alpha": alpha, "protocol_version": scenario_version(suite, TASK, model)}
    if level:
        config.update(noise_level=level, part="resilience")
    return new_record(suite=suite, scenario=config["scenario"], unit_key=unit_key(f"{suite}-{model}-{level}-{alpha}-{seed}",
                      config), config=config, task=TASK, model=model, model_size="s", corruption="label_flip",
                      alpha=alpha, seed=seed, metrics={"train_acc": val, "val_acc": val})


def _records_at(levels: dict[str, list[float]], mlp: list[float] | None, noiseless: list[float] | None):
    noise = [_record("noise", "qnn", a, s, v, name) for name, vals in levels.items() for s, v in enumerate(vals)
             for a in (0.0, 0.3)]
    refs = [_record("resilience", "mlp", a, s, v) for s, v in enumerate(mlp or []) for a in (0.0, 0.3)]
    refs += [_record("resilience", "qnn", a, s, v) for s, v in enumerate(noiseless or []) for a in (0.0, 0.3)]
    return noise, refs


def _sentence(noise, refs) -> str:
    from qbench.report.suites.noise import noise_sections

    (section,) = noise_sections(noise, [], references=refs)
    assert "nan" not in section.body.lower()
    (line,) = [l for l in section.body.splitlines() if l.startswith(f"**{TASK}:**")]
    return line


MLP = [0.60, 0.62, 0.58, 0.61, 0.59]
HIGH = [0.90, 0.91, 0.89, 0.92, 0.90]


def test_the_margin_is_a_paired_student_t_interval():
    from qbench.report.suites.noise import margin

    qnn = [_record("noise", "qnn", 0.3, s, v, "shots-100") for s, v in enumerate([0.7, 0.8, 0.9])]
    mlp = [_record("resilience", "mlp", 0.3, s, 0.6) for s in range(3)]
    m = margin(qnn, mlp, "val_acc")
    # differences 0.1, 0.2, 0.3: mean 0.2, sd 0.1, t(0.975, 2) = 4.302653
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert m.stat.mean == pytest.approx(0.2) and m.interval == pytest.approx((0.2 - half, 0.2 + half), abs=1e-6)
    assert not m.significant and "+0.200, 95% CI [-0.048, +0.448], n=3" == m.text(3)
    assert margin(qnn[:1], mlp, "val_acc") is None  # one shared seed: nothing can be claimed


def test_sentence_names_where_the_margin_stops_being_significant():
    noisy = [0.55, 0.70, 0.62, 0.50, 0.66]  # differences -0.11 .. +0.08 from the MLP: not significant
    levels = {"shots-1000": HIGH, "shots-100": HIGH, "depolarizing-0.001": HIGH, "depolarizing-0.01": noisy,
              "combined": noisy}
    text = _sentence(*_records_at(levels, MLP, HIGH))
    assert text.startswith("**xxz-12:** the QNN's margin over the MLP in val_acc at α = 0.3 stops being significant "
                           "under depolarizing noise at p = 0.01 (+0.006, 95% CI [-0.097, +0.109], n=5; significant at "
                           "p = 0.001: +0.304, 95% CI [+0.293, +0.315], n=5) and at the combined level (1000 shots, "
                           "p = 0.01, readout 0.01) (+0.006, 95% CI [-0.097, +0.109], n=5); it stays significant under "
                           "shot noise down to 100 shots (+0.304, 95% CI [+0.293, +0.315], n=5)")
    assert text.endswith("; without noise it is +0.304, 95% CI [+0.293, +0.315], n=5.")


def test_sentence_says_when_it_never_stops_within_the_grid():
    levels = {lv.name: HIGH for lv in LEVELS}
    text = _sentence(*_records_at(levels, MLP, HIGH))
    assert "never stops being significant within the grid: it stays significant under shot noise down to 100 shots" in text
    assert "under depolarizing noise up to p = 0.01" in text and "at the combined level" in text


def test_sentence_says_what_cannot_be_told_when_records_are_missing():
    levels = {"shots-1000": HIGH, "depolarizing-0.001": HIGH, "depolarizing-0.01": HIGH, "combined": HIGH}
    text = _sentence(*_records_at(levels, MLP, None))
    assert "stays significant under depolarizing noise up to p = 0.01" in text
    assert ("; it cannot be told under shot noise at 100 shots (fewer than two seeds with records there and for "
            "the MLP)") in text
    assert text.endswith("there are no noiseless QNN records to compare with.")
    no_mlp = _sentence(*_records_at(levels, None, HIGH))
    assert "it cannot be told where the QNN's margin" in no_mlp and "no MLP label-flip records" in no_mlp
    flat = _sentence(*_records_at(levels, MLP, MLP))
    assert "is not significant even without noise (+0.000, 95% CI [+0.000, +0.000], n=5), so no noise level" in flat


def test_figures_draw_each_level_beside_the_references(tmp_path):
    from pathlib import Path

    from qbench.report.suites.noise import noise_figures

    noise, refs = _records_at({lv.name: HIGH for lv in LEVELS}, MLP, HIGH)
    written = noise_figures(noise + refs, str(tmp_path))
    assert [Path(p).name for p in written] == ["noise_xxz-12_val_acc.png"]  # no unlearning records: no curves
    assert Path(written[0]).stat().st_size > 10_000


def test_protocol_noise_records_find_the_committed_references(tmp_path, capsys):
    """Noise records at the protocol's configs pass the strict leaderboard beside the committed resilience records,
    which it reads as the references: the MLP's and the noiseless QNN's rows and margins."""
    import shutil
    from pathlib import Path

    from tests.report_records import protocol_config, write_records

    committed = Path(__file__).resolve().parents[1] / "leaderboard" / "results" / "resilience"
    assert committed.is_dir(), f"the committed resilience records are part of the repository: {committed}"
    shutil.copytree(committed, tmp_path / "results" / "resilience")
    recs = []
    for name, val in (("shots-100", 0.95), ("depolarizing-0.01", 0.70)):
        scenario = f"noise/xxz-12/qnn-{name}/resilience"
        for alpha in (0.0, 0.3):
            for seed in range(5):
                config = protocol_config("noise", scenario, alpha, seed)
                recs.append(new_record(suite="noise", scenario=scenario, unit_key=unit_key("noise-t", config),
                                       config=config, task="xxz-12", model="qnn", model_size="n12-d4",
                                       corruption="label_flip", alpha=alpha, seed=seed,
                                       metrics={"train_acc": val, "val_acc": val + 0.001 * seed, "wall_s": 1.0}))
    write_records(tmp_path / "results" / "noise", recs)
    out = tmp_path / "board.md"
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--output", str(out)]) == 0
    text = out.read_text().split("### Device noise (PROTOCOL 4.10)")[1]
    assert "| MLP (reference)" in text and "| QNN, noiseless (reference)" in text
    (sentence,) = [line for line in text.splitlines() if line.startswith("**xxz-12:**")]
    assert "stops being significant under depolarizing noise at p = 0.01 or earlier (-0.0" in sentence
    assert "; no records at p = 0.001)" in sentence and "; without noise it is +" in sentence
    assert "no MLP" not in sentence and "nan" not in text.lower()
