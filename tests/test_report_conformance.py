"""Protocol conformance of records: every config field against the registered scenario's, quick tiers and
overrides refused or shown apart unranked, only the method's own fields free."""

import copy

import pytest

from qbench.report import leaderboard as L
from qbench.suites import list_suites
from tests.report_records import _quick_configs, protocol_config, run_cli, sweep_record, unlearning_unit, write_records


def protocol_and_quick(tmp_path):
    protocol = [r for s in (0, 1, 2) for m, v in (("retrain", 0.80), ("finetune", 0.85))
                for r in unlearning_unit(m, s, [0.5, 0.7, v + 0.01 * s], task="xxz-12", conform=True)]
    # a tenth of the epochs leaves the poisoned model barely poisoned: the quick tier starts high
    quick = [r for s in (0, 1) for m in ("retrain", "finetune")
             for r in unlearning_unit(m, s, [0.96, 0.97, 0.99], task="xxz-12", config=_quick_configs()[(m, s)])]
    write_records(tmp_path / "protocol", protocol)
    write_records(tmp_path / "quick", quick)
    return protocol, quick



def test_quick_tier_records_are_refused_and_shown_apart_unranked_only_on_request(capsys, tmp_path):
    protocol, quick = protocol_and_quick(tmp_path)
    assert all(r["config"]["quick"] and r["config"]["steps"] == 10 for r in quick)
    alone = tmp_path / "alone.md"
    assert run_cli(capsys, "leaderboard", "--results", tmp_path / "protocol", "--output", alone)[0] == 0
    out = tmp_path / "README.md"
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path, "--output", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and not out.exists()
    assert f"{tmp_path / 'quick' / 'records'}{'/'}unlearning-xxz-12-qnn-" in err
    assert ".jsonl:1: not a protocol record: config.quick: true (protocol: false); " in err
    assert "config.poisoned.train.epochs: 20 (protocol: 200); config.steps: 10 (protocol: 50)" in err
    assert f"(and {len(quick) - 1} more non-protocol record(s) in 4 file(s))" in err and "--allow-nonprotocol" in err
    # CI's check is strict
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path, "--output", out, "--check",
                           "--allow-nonprotocol")
    assert code == 2 and "strict" in err and not out.exists()

    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", tmp_path, "--output", out, "--allow-nonprotocol")
    assert code == 0 and "updated" in stdout
    ranked, apart = out.read_text().split(f"### {L.NONPROTOCOL_TITLE}")
    # the ranked tables are exactly those of the protocol records alone
    assert ranked.split(L.START)[1] == alone.read_text().split(L.START)[1].split(L.END)[0] + "\n"
    assert "0.990" not in ranked and "| rank" in ranked
    heading = "#### Unlearning (PROTOCOL 4.2) · xxz-12 · qnn (protocol 3; quick tier, not ranked)"
    assert heading in apart and "| rank" not in apart and "Not ranked" in apart
    rows = [l for l in apart.splitlines() if l.startswith("| `")]
    assert [r.split("|")[1].strip() for r in rows] == ["`retrain`", "`finetune`"]  # protocol order, not by score
    assert all("0.990 ± 0.000" in r for r in rows)
    assert f"- {len(quick)} record(s) in 4 file(s), e.g. `{tmp_path / 'quick' / 'records'}" in apart
    assert f"from {len(quick)} records of 4 units" in apart



def test_overridden_settings_are_labelled_not_protocol(capsys, tmp_path):
    recs = [sweep_record("resilience", "mlp", "label_flip", a, s, 0.9, task="xxz-12", conform=True)
            for a in (0.0, 0.3) for s in (0, 1)]
    for r in recs:  # as `--epochs 40` writes them
        r["config"]["train"]["epochs"] = 40
    write_records(tmp_path / "r", recs)
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path / "r", "--output", tmp_path / "o.md")
    assert code == 2 and "not a protocol record: config.train.epochs: 40 (protocol: 400)" in err
    code, _, _ = run_cli(capsys, "leaderboard", "--results", tmp_path / "r", "--output", tmp_path / "o.md",
                         "--allow-nonprotocol")
    text = (tmp_path / "o.md").read_text()
    assert code == 0 and "#### Resilience (PROTOCOL 4.1) · xxz-12 (protocol 3; NOT the protocol settings, not ranked)" in text



def _leaves(value, path="config"):
    if isinstance(value, dict) and value:
        return [x for k, v in value.items() for x in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list) and value:
        return [x for i, v in enumerate(value) for x in _leaves(v, f"{path}[{i}]")]
    return [path]



def _set(config, path, fn):
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")[1:]]
    target = config
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = fn(target[keys[-1]])



def _mutated(v):
    """Another value, off every protocol grid (a seed of 10 or more, an alpha between grid points)."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 10 if isinstance(v, int) else v + 0.05
    return f"{v}-x" if isinstance(v, str) else {"x": 1}



METHOD_FIELDS = ("method", "method_hyperparameters", "method_source", "step_budget_s")
#: per suite, a registered scenario's unit to check (scenario, alpha, known fraction; its last seed, so that a
#: changed seed lies off the protocol's) and the fields free in it
PROTOCOL_UNITS = {
    "unlearning": ("unlearning/xxz-12/qnn", 0.3, None, METHOD_FIELDS),
    "corrective": ("corrective/mnist-1v9/mlp", 0.3, 0.5, METHOD_FIELDS),
    "forgetting": ("forgetting/xxz-12/mlp", 0.3, None, METHOD_FIELDS),
    "sensitivity": ("sensitivity/mnist-1v9/mlp", 0.3, None, METHOD_FIELDS + ("method_defaults",)),
    "resilience": ("resilience/mnist-1v9/qnn/feature_randomization", 0.7, None, ()),
    "capacity": ("capacity/xxz-12/qnn-d6/label_flip", 0.1, None, ()),
    "landscape": ("landscape-study/mnist-1v9/qnn", None, None, ()),
    "noise": ("noise/xxz-12/qnn-combined/unlearning", 0.3, None, METHOD_FIELDS),
}


@pytest.mark.parametrize("suite", list_suites())
def test_every_protocol_field_is_checked_and_only_the_methods_own_are_free(suite):
    from qbench.report.conformance import Checker
    from qbench.scenarios import registered_scenarios

    scenario, alpha, fraction, free = PROTOCOL_UNITS[suite]  # a new suite names one of its units here
    seed = max(next(s for s in registered_scenarios(suite) if s.name == scenario).seeds)
    config = protocol_config(suite, scenario, alpha, seed, fraction)
    rec = {"suite": suite, "task": config["task"], "model": config["model"], "corruption": config["corruption"],
           "alpha": 0.2 if alpha is None else alpha, "seed": seed, "method": config.get("method"), "protocol_version": config.get("protocol_version", "1"),
           "config": config}
    assert Checker().deviations(rec) == ()
    leaves = _leaves(config)
    assert len(leaves) > 15
    for path in leaves:
        changed = copy.deepcopy(rec)
        _set(changed["config"], path, _mutated)
        top = path.split(".")[1]
        if top in changed and "." not in path[len("config."):]:
            changed[top] = changed["config"][top]  # the record agrees with its config: the config is still checked
        found = Checker().deviations(changed)
        if path.split(".")[1].split("[")[0] in free:
            assert found == (), path
        else:
            assert found, path
            assert any(d.startswith(path + ":") or d.startswith(path.split(".")[1] + ":") for d in found), (path, found)
    # a field the protocol does not have is named too
    extra = copy.deepcopy(rec)
    extra["config"]["warm_start"] = "yes"
    assert Checker().deviations(extra) == ('config.warm_start: "yes" (protocol: absent)',)



def test_seeds_alphas_scenarios_and_echoed_fields_are_checked():
    from qbench.report.conformance import Checker

    c = Checker()
    (rec,) = [sweep_record("resilience", "qnn", "label_flip", 0.3, 2, 0.8, task="xxz-12", conform=True)]
    assert c.deviations(rec) == ()
    seed7 = copy.deepcopy(rec)
    seed7["seed"] = seed7["config"]["seed"] = 7
    assert c.deviations(seed7) == ("config.seed: 7 (protocol seeds: 0, 1, 2, 3, 4)",)
    off_grid = copy.deepcopy(rec)
    off_grid["alpha"] = off_grid["config"]["alpha"] = 0.35
    assert c.deviations(off_grid)[0].startswith("config.alpha: 0.35 (protocol alphas: 0.0, 0.1, 0.2,")
    liar = copy.deepcopy(rec)
    liar["alpha"] = 0.0  # the record claims another alpha than its config ran
    assert c.deviations(liar) == ("alpha: 0.0 (its config: 0.3)",)
    # a protocol unit that raised is recorded from its config alone: still a protocol record
    from qbench.runner import failure_record
    from qbench.scenarios import Unit

    for suite, scenario, alpha in (("landscape", "landscape/mnist-1v9/mlp", None),
                                   ("unlearning", "unlearning/mnist-1v9/qnn", 0.3)):
        config = protocol_config(suite, scenario, alpha, 4)
        crashed = failure_record(Unit("k", suite, scenario, config), RuntimeError("out of memory"))
        assert c.deviations(crashed) == ()
        crashed["config"]["quick"] = True
        assert c.deviations(crashed) == ("config.quick: true (protocol: false)",)
    small = sweep_record("resilience", "qnn", "label_flip", 0.3, 2, 0.8)
    assert c.deviations(small) == (
        'config.scenario: "resilience/xxz-4/qnn/label_flip" is not a registered scenario of suite "resilience"',)



def test_a_plugin_method_with_its_own_hyperparameters_is_a_protocol_record():
    from qbench.report.conformance import Checker

    recs = unlearning_unit("my_plugin", 0, [0.5, 0.7], task="xxz-12", conform=True, hp={"gamma": 3.0})
    for r in recs:
        r["config"]["method_source"] = "my-plugin 0.1"
    assert {Checker().deviations(r) for r in recs} == {()}
    # a method named as module:attribute is data too (a submission's name): the protocol's, never imported
    recs = unlearning_unit("my_plugin:Method", 0, [0.5, 0.7], task="xxz-12", conform=True, hp={"gamma": 3.0})
    assert {Checker().deviations(r) for r in recs} == {()}
    # a task so named is not: it has no registered scenario
    recs = unlearning_unit("finetune", 0, [0.5, 0.7], task="my_plugin:Task", conform=True,
                           config=recs[0]["config"] | {"task": "my_plugin:Task"})
    assert all('task: "my_plugin:Task" names a module' in " ".join(Checker().deviations(r)) for r in recs)



def test_a_quick_only_run_gets_no_empty_protocol_headings(capsys, tmp_path):
    recs = []
    for s in (0, 1):
        for m, v in (("retrain", 0.9), ("finetune", 0.8)):
            config = {**_quick_configs()[(m, s)]}
            recs += unlearning_unit(m, s, [0.5, 0.7, v], task="xxz-12", config=config)
    from qbench.records.store import RecordStore

    store = RecordStore(tmp_path / "quick")
    for key in sorted({r["unit_key"] for r in recs}):
        store.write_unit(key, [r for r in recs if r["unit_key"] == key])
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", tmp_path / "quick", "--allow-nonprotocol")
    text = (tmp_path / "quick" / "leaderboard.md").read_text()
    assert code == 0 and "No protocol records" in text and "No records yet." not in text
    assert "### Resilience (PROTOCOL 4.1)" not in text and "quick tier, not ranked" in text

