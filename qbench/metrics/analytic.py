"""PROTOCOL section 4.5: the analytic minimal models, checked against automatic differentiation.

One data point (x, y), scalar x, one parameter theta, p = sigmoid(z), loss = BCE(p, y):

* single neuron: z = theta x, d2L/dtheta2 = x^2 p (1 - p);
* single qubit (a real TensorCircuit-NG circuit: RY(pi x) then RY(theta) on |0>, z = <Z>):
  z = cos(pi x + theta), d2L/dtheta2 = p (1 - p) sin^2(pi x + theta) - (p - y) cos(pi x + theta).

Both are differentiated twice by TensorFlow (nested ``GradientTape``) in float64 (the circuit in
complex128); :func:`check_analytic` compares them with the closed forms over a grid. Importing this
module changes nothing; the TensorCircuit backend and dtype are set only inside the check and
restored afterwards (also on error).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf

__all__ = [
    "AnalyticReport",
    "check_analytic",
    "default_grid",
    "neuron_hessian_formula",
    "qubit_hessian_formula",
    "neuron_hessian_autodiff",
    "qubit_hessian_autodiff",
    "TOLERANCE",
]

#: largest allowed absolute deviation between autodiff and the closed form
TOLERANCE = 1e-5


@dataclass(frozen=True)
class AnalyticReport:
    """Largest absolute deviation of autodiff from the closed form, per model, over the grid."""

    max_dev: dict[str, float]
    n_points: int
    tolerance: float = TOLERANCE
    sign_flip: bool = False
    worst_point: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def max_deviation(self) -> float:
        return max(self.max_dev.values())

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_deviation) and self.max_deviation <= self.tolerance)


def default_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, theta) values: x in linspace(-1, 1, 9), y in {0, 1}, theta in linspace(-pi, pi, 9)."""
    return np.linspace(-1.0, 1.0, 9), np.array([0.0, 1.0]), np.linspace(-np.pi, np.pi, 9)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def neuron_hessian_formula(x, y, theta):
    """x^2 p (1 - p) with p = sigmoid(theta x); broadcasts (y does not enter)."""
    x, theta = np.asarray(x, float), np.asarray(theta, float)
    p = _sigmoid(theta * x)
    return x**2 * p * (1 - p) + 0.0 * np.asarray(y, float)


def qubit_hessian_formula(x, y, theta, sign_flip: bool = False):
    """p (1 - p) sin^2(pi x + theta) - (p - y) cos(pi x + theta), p = sigmoid(cos(pi x + theta)).

    ``sign_flip=True`` flips the sign of the (p - y) cos term (a wrong formula, to show the check fails).
    """
    x, y, theta = (np.asarray(a, float) for a in (x, y, theta))
    a = np.pi * x + theta
    p = _sigmoid(np.cos(a))
    s = 1.0 if sign_flip else -1.0
    return p * (1 - p) * np.sin(a) ** 2 + s * (p - y) * np.cos(a)


@contextlib.contextmanager
def _tc_float64() -> Iterator[object]:
    """TensorCircuit on TensorFlow in complex128, restoring the previous backend and dtype."""
    import tensorcircuit as tc

    old_backend, old_dtype = tc.backend.name, tc.dtypestr
    try:
        tc.set_backend("tensorflow")
        tc.set_dtype("complex128")
        yield tc
    finally:
        tc.set_backend(old_backend)
        tc.set_dtype(old_dtype)


def _second_derivative(loss_fn, theta: np.ndarray) -> np.ndarray:
    """d2/dtheta_g2 of sum_g loss_g(theta_g): each loss depends on its own theta, so the Hessian is
    diagonal and two nested tapes give all second derivatives at once."""
    t = tf.Variable(np.asarray(theta, np.float64))
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            total = tf.reduce_sum(loss_fn(t))
        g = inner.gradient(total, t)
        gsum = tf.reduce_sum(g)
    return outer.gradient(gsum, t).numpy()


def _bce(z, y):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(y, tf.float64), logits=z)


def neuron_hessian_autodiff(x, y, theta) -> np.ndarray:
    """Autodiff d2L/dtheta2 of the single neuron, float64; x, y, theta 1-D arrays of equal length."""
    x, y, theta = (np.asarray(a, np.float64).reshape(-1) for a in (x, y, theta))
    return _second_derivative(lambda t: _bce(t * tf.constant(x), y), theta)


def qubit_hessian_autodiff(x, y, theta) -> np.ndarray:
    """Autodiff d2L/dtheta2 of the single-qubit circuit (TensorCircuit-NG, complex128); 1-D arrays."""
    x, y, theta = (np.asarray(a, np.float64).reshape(-1) for a in (x, y, theta))
    with _tc_float64() as tc:

        def loss(t):
            zs = []
            for g in range(len(x)):
                c = tc.Circuit(1)
                c.ry(0, theta=tf.constant(np.pi * x[g], tf.float64))
                c.ry(0, theta=t[g])
                zs.append(tf.math.real(c.expectation_ps(z=[0])))
            return _bce(tf.stack(zs), y)

        return _second_derivative(loss, theta)


def check_analytic(grid: Sequence[np.ndarray] | None = None, sign_flip: bool = False,
                   tolerance: float = TOLERANCE) -> AnalyticReport:
    """Compare autodiff with the closed forms over the grid of (x, y, theta) (all combinations).

    ``grid`` is ``(xs, ys, thetas)``; default :func:`default_grid` (162 points). ``sign_flip`` uses
    the wrong-sign qubit formula, so the report must then fail.
    """
    xs, ys, ts = default_grid() if grid is None else (np.asarray(g, float).reshape(-1) for g in grid)
    X, Y, T = (a.ravel() for a in np.meshgrid(xs, ys, ts, indexing="ij"))
    results = {
        "neuron": (neuron_hessian_autodiff(X, Y, T), neuron_hessian_formula(X, Y, T)),
        "qubit": (qubit_hessian_autodiff(X, Y, T), qubit_hessian_formula(X, Y, T, sign_flip=sign_flip)),
    }
    max_dev, worst = {}, {}
    for name, (auto, closed) in results.items():
        dev = np.abs(auto - closed)
        dev = np.where(np.isfinite(dev), dev, np.inf)
        i = int(np.argmax(dev))
        max_dev[name] = float(dev[i])
        worst[name] = (float(X[i]), float(Y[i]), float(T[i]))
    return AnalyticReport(max_dev=max_dev, n_points=int(X.size), tolerance=float(tolerance),
                          sign_flip=bool(sign_flip), worst_point=worst)
