"""PROTOCOL 4.5: autodiff of the minimal models matches the closed forms (and a wrong formula fails)."""

import math

import numpy as np
import pytest

from qbench.metrics.analytic import (
    TOLERANCE,
    check_analytic,
    neuron_hessian_autodiff,
    neuron_hessian_formula,
    qubit_hessian_autodiff,
    qubit_hessian_formula,
)


@pytest.fixture(scope="module")
def report():
    return check_analytic()


def test_check_passes_on_default_grid(report):
    assert report.n_points == 9 * 2 * 9
    assert set(report.max_dev) == {"neuron", "qubit"}
    assert report.max_deviation <= TOLERANCE
    assert report.passed


def test_sign_flip_fails():
    bad = check_analytic(sign_flip=True)
    assert not bad.passed
    assert bad.max_dev["qubit"] > 1e-2  # far above the 1e-5 tolerance
    assert bad.max_dev["neuron"] <= TOLERANCE


def test_hand_computed_points():
    # x = 0.5, theta = 0, y = 1: z_neuron = 0, p = 1/2 -> x^2 p(1-p) = 0.25 * 0.25 = 0.0625
    assert neuron_hessian_formula(0.5, 1, 0.0) == pytest.approx(0.0625, abs=1e-15)
    assert neuron_hessian_autodiff([0.5], [1], [0.0])[0] == pytest.approx(0.0625, abs=1e-12)
    # qubit: pi x + theta = pi/2 -> z = cos = 0, sin^2 = 1, p = 1/2 -> 0.25 - (p - y) * 0 = 0.25
    assert qubit_hessian_formula(0.5, 1, 0.0) == pytest.approx(0.25, abs=1e-15)
    assert qubit_hessian_autodiff([0.5], [1], [0.0])[0] == pytest.approx(0.25, abs=1e-12)
    # qubit at x = 0, theta = 0, y = 1: z = 1, sin = 0, p = sigmoid(1) = 0.7310585786300049
    # -> -(p - 1) * 1 = 0.2689414213699951
    assert qubit_hessian_autodiff([0.0], [1], [0.0])[0] == pytest.approx(0.2689414213699951, abs=1e-12)


def test_tensorcircuit_state_restored():
    import tensorcircuit as tc

    before = (tc.backend.name, tc.dtypestr)
    qubit_hessian_autodiff([0.25], [0], [0.3])
    assert (tc.backend.name, tc.dtypestr) == before


def test_import_has_no_side_effects():
    import importlib
    import sys

    import tensorcircuit as tc

    before = (tc.backend.name, tc.dtypestr)
    sys.modules.pop("qbench.metrics.analytic", None)
    importlib.import_module("qbench.metrics.analytic")
    assert (tc.backend.name, tc.dtypestr) == before
    assert math.isfinite(float(np.sum(neuron_hessian_formula(np.linspace(-1, 1, 3), 0, 1.0))))
