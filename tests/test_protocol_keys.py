"""A refactor never renames a committed unit: every record file under leaderboard/results is a unit
that the registered suites plan at protocol defaults, under the same key (which hashes its config)."""

from pathlib import Path

import pytest

from qbench.scenarios import RunOptions
from qbench.suites import get_suite, list_suites

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "leaderboard" / "results"


def planned_keys() -> set[str]:
    """Every suite's units at protocol defaults, and those of the control models (PROTOCOL 2.4), which a
    run plans only where it names them."""
    from qbench.errors import QbenchError
    from qbench.protocol import control_models

    keys = set()
    for name in list_suites():
        suite = get_suite(name)
        for options in (RunOptions(), RunOptions(models=tuple(control_models()))):
            try:
                scenarios = suite.scenarios(options)
            except QbenchError:  # a suite without control scenarios refuses the models
                continue
            keys |= {u.key for u in suite.plan(scenarios, options)}
    return keys


def committed_keys() -> list[tuple[str, str]]:
    return sorted((d.name, f.name[: -len(".jsonl")]) for d in RESULTS.iterdir() if (d / "records").is_dir()
                  for f in (d / "records").glob("*.jsonl"))


def test_every_committed_record_is_a_unit_planned_at_protocol_defaults():
    committed = committed_keys()
    assert len(committed) > 1000  # the committed tree: every suite's records
    planned = planned_keys()
    missing = [f"{d}/{k}" for d, k in committed if k not in planned]
    assert not missing, f"{len(missing)} committed unit(s) no longer planned, e.g. {missing[:3]}"
    # the xxz-12 MLP resilience sweep, re-run under protocol 2 (random global phase), is held like the rest:
    # 2 corruptions x 11 alphas x 5 seeds
    assert sum(k.startswith(("resilience-xxz-12-mlp-label", "resilience-xxz-12-mlp-feature")) for _, k in committed) == 110


def test_the_key_check_can_fail():
    """A changed protocol default (here the unlearning rate) moves every key it touches."""
    suite = get_suite("unlearning")
    from qbench.suites.unlearning import UnlearningSettings

    options = RunOptions(settings=UnlearningSettings(lr=0.5))
    moved = {u.key for u in suite.plan(suite.scenarios(options), options)}
    assert not moved & planned_keys()


@pytest.mark.parametrize("suite", list_suites())
def test_every_suite_scales_training_the_same_way(suite):
    """One effective_train: --quick trains a tenth of the protocol's epochs, --epochs N trains N, in every suite."""
    from qbench.scenarios import effective_train

    def epochs(options):
        s = get_suite(suite)
        configs = [u.config for u in s.plan(s.scenarios(options), options)]
        specs = [(c["scenario"], c.get("poisoned") or (c["train"][0] if isinstance(c.get("train"), list) else c))
                 for c in configs]
        return {(name, sp["model"], sp["train"]["epochs"]) for name, sp in specs}

    protocol = {(t, m): e for t, m, e in epochs(RunOptions())}
    quick = epochs(RunOptions(quick=True))
    assert quick and all(e == max(1, round(protocol[(t, m)] / 10)) for t, m, e in quick)
    assert {e for _, _, e in epochs(RunOptions(epochs=3, seeds=(0,)))} == {3}
    from qbench.protocol import TrainConfig

    assert effective_train(TrainConfig(epochs=400, batch_size=32, lr=0.01), RunOptions(quick=True, epochs=7)).epochs == 7


def test_steps_to_reach_is_the_first_step_at_the_target():
    import math

    import pandas as pd

    from qbench.metrics.curves import steps_to_reach

    curve = {0: 0.5, 1: 0.7, 2: 0.9, 3: 0.95}
    assert steps_to_reach(curve, 0.9) == 2.0 and steps_to_reach(curve, 0.9 + 1e-13) == 2.0
    assert math.isnan(steps_to_reach(curve, 0.99)) and math.isnan(steps_to_reach(curve, float("nan")))
    assert math.isnan(steps_to_reach(curve, None)) and steps_to_reach({0: None, 2: float("nan"), 3: 1.0}, 0.5) == 3.0
    assert steps_to_reach(pd.Series([0.1, 0.8, 0.2], index=[0, 5, 10]).to_dict(), 0.8) == 5.0


def test_landscape_quick_tier_is_seed_0_and_25_hessian_samples_the_protocol_100():
    suite = get_suite("landscape")

    def samples(**kw):
        opts = RunOptions(tasks=("xxz-4",), **kw)
        units = suite.plan(suite.scenarios(opts), opts)
        return {u.config["hessian"]["samples"] for u in units}, {u.config["seed"] for u in units}

    assert samples() == ({100}, {0, 1, 2, 3, 4})
    assert samples(quick=True) == ({25}, {0})
    from qbench.suites.landscape import LandscapeSettings

    assert samples(quick=True, seeds=(0, 1), settings=LandscapeSettings(hessian_samples=50)) == ({50}, {0, 1})
