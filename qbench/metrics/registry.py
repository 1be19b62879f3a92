"""Named metrics with their metadata (PROTOCOL 5): what each needs, which direction is better, its
range, how the leaderboard titles and formats it, and which suites' tables report it.

Built-in metrics register here; a metric from outside the package is a :class:`Metric` installed as an
entry point of ``qbench.metrics`` (named as the metric is) or named as ``module:attribute`` (one
:class:`qbench.registry.Registry`). Reports read the metadata of the built-in metrics only: they never
import a plugin, and show a plugin's metric by its name, with three decimals (:func:`shown_metric`).

Importing this module is light (no TensorFlow, no scikit-learn): a metric's function is named as
``"module:function"`` and imported when the metric is computed, so ``qbench list``, the record
schema and the leaderboard read the metadata without starting either.

A metric's ``needs`` names its inputs: ``logits:<set>`` (the model's logits on a set), ``labels:<set>``
(that set's labels as the metric reads them), ``seed``, or another metric's name (a derived metric,
e.g. ``lrr`` needs ``hessian_trace``). :func:`compute` calls the function with the inputs in that
order; a caller that knows how to produce inputs (``qbench.metrics.evaluate``) hands a mapping
that makes them on first use.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from qbench.errors import QbenchError
from qbench.plugins import is_path
from qbench.registry import Registry


@dataclass(frozen=True)
class Missing:
    """A metric that could not be computed: recorded as null, with ``reason`` beside it."""

    reason: str


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    #: True: higher is better; False: lower is better; None: neither (a measurement, e.g. a trace)
    higher_is_better: bool | None = None
    #: (low, high) bounds of a valid value (None: unbounded on that side)
    bounds: tuple[float | None, float | None] = (None, None)
    #: the inputs the function takes, in order (see the module docstring); () for a recorded measurement
    needs: tuple[str, ...] = ()
    #: ``"module:function"`` computing it from ``needs``; None: measured where it happens (wall time, loss)
    function: str | None = None
    #: the leaderboard's column title and decimal places
    title: str = ""
    digits: int = 3
    #: the suites whose leaderboard tables report it (a column, or the number a table pivots), in this order
    suites: tuple[str, ...] = ()

    @property
    def column(self) -> str:
        return self.title or self.name

    @property
    def direction(self) -> str:
        """'higher is better', 'lower is better', or '' (a measurement)."""
        return {True: "higher is better", False: "lower is better"}.get(self.higher_is_better, "")

    def rank_value(self, value: float) -> float:
        """``value`` turned so that larger ranks first: negated where lower is better."""
        return -value if self.higher_is_better is False else value

    def problem(self, value: Any) -> str | None:
        """What is wrong with a number ``value`` for this metric (None: nothing), per :attr:`bounds`."""
        low, high = self.bounds
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number{_range_text(self.bounds)}, got {value!r}"
        if (low is not None and value < low) or (high is not None and value > high):
            return f"is {value!r}, outside {_range_text(self.bounds).strip(' in')}"
        return None

    def fmt(self, value: float | None) -> str:
        return "–" if value is None or not math.isfinite(value) else f"{value:.{self.digits}f}"


def _range_text(bounds: tuple[float | None, float | None]) -> str:
    low, high = bounds
    if low is None and high is None:
        return ""
    return f" in [{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"


def _check_metric(obj: object, name: str, where: str) -> Metric:
    if not isinstance(obj, Metric):
        raise QbenchError(f"{where} is not a qbench.metrics.registry.Metric")
    if not is_path(name) and obj.name != name:
        raise QbenchError(f"{where}: its name {obj.name!r} is not its entry point's ({name!r}); records name a metric "
                          "by its name")
    if obj.name in METRICS:
        raise QbenchError(f"{where}: its name {obj.name!r} clashes with the built-in metric {obj.name!r}; rename it")
    return obj


#: metrics: the built-in ones, installed plugins (``qbench.metrics``) and 'module:attribute' names
METRIC_REGISTRY: Registry[Metric] = Registry("metrics", "metric", check=_check_metric, own_name=lambda m: m.name)
#: the built-in metrics by name, in registration order
METRICS: dict[str, Metric] = METRIC_REGISTRY.builtins()


def register_metric(metric: Metric) -> Metric:
    """Add built-in ``metric`` to the registry; a name registered twice is an error."""
    unknown = [n for n in metric.needs if ":" not in n and n != "seed" and n not in METRICS]
    if unknown:
        raise ValueError(f"metric {metric.name!r} needs unregistered metric(s) {', '.join(unknown)}")
    return METRIC_REGISTRY.add(metric.name, metric)


def get_metric(name: str) -> Metric:
    """A metric by name: built-in, installed plugin (loaded) or 'module:attribute'."""
    return METRIC_REGISTRY.get(name)


def check_metrics(names: tuple[str, ...] | list[str], where: str) -> None:
    """Raise QbenchError naming ``where`` unless every name in ``names`` is a metric (a plugin's is loaded)."""
    unknown = [n for n in names if METRIC_REGISTRY.find(n) is None]
    if unknown:
        raise QbenchError(f"{where}: unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRIC_REGISTRY.names())}")


def shown_metric(name: str) -> Metric:
    """What a report knows of metric ``name`` without importing anything: the built-in metric's metadata, or
    a bare metric of that name (its name as title, three decimals, no direction)."""
    return METRICS.get(name) or Metric(name, "")


def reported_by(suite: str) -> tuple[Metric, ...]:
    """The built-in metrics the leaderboard tables of ``suite`` report, in registration order."""
    return tuple(m for m in METRICS.values() if suite in m.suites)


def metric_function(name: str) -> Callable[..., Any]:
    metric = get_metric(name)
    if metric.function is None:
        raise QbenchError(f"metric {name!r} is measured where it happens, not computed")
    module, attr = metric.function.split(":")
    return getattr(importlib.import_module(module), attr)


def compute(name: str, inputs: Mapping[str, Any]) -> float | Missing:
    """Metric ``name`` from ``inputs`` (a mapping with every name of its ``needs``): a number, or
    :class:`Missing` with the reason (an input metric that is missing, or the function's own verdict)."""
    metric = get_metric(name)
    args = [inputs[n] for n in metric.needs]
    for n, a in zip(metric.needs, args):
        if isinstance(a, Missing):
            return Missing(f"{n} is missing: {a.reason}")
    value = metric_function(name)(*args)
    if isinstance(value, Missing):
        return value
    if value is None or not math.isfinite(float(value)):
        return Missing(f"{name} is not finite ({value})")
    return float(value)


def accuracy(logits: Any, labels: Any) -> float | Missing:
    """Fraction of samples whose prediction (sigmoid(logit) > 0.5) agrees with the label."""
    from qbench.metrics.accuracy import agreement

    if len(labels) == 0:
        return Missing("the set is empty")
    return agreement(logits, labels)


_FRACTION = (0.0, 1.0)


def _acc(name: str, on: str, description: str, labels: str | None = None, title: str = "",
         suites: tuple[str, ...] = ()) -> Metric:
    return Metric(name, description, True, _FRACTION, (f"logits:{on}", f"labels:{labels or on}"),
                  "qbench.metrics.registry:accuracy", title or name, suites=suites)


for _m in (
    _acc("train_acc", "train", "accuracy on the training set as trained (corrupted labels included)"),
    _acc("val_acc", "val", "accuracy on the clean validation set",
         suites=("resilience", "capacity", "unlearning", "corrective", "sensitivity", "noise")),
    Metric("forget_acc", "accuracy on the forget set's flipped (polluted) labels; lower: more forgotten", False,
           _FRACTION, ("logits:forget", "labels:forget"), "qbench.metrics.registry:accuracy",
           suites=("unlearning", "sensitivity", "noise")),
    _acc("forget_clean_acc", "forget", "accuracy on the forget set's true labels", labels="forget_clean"),
    _acc("retain_acc", "retain", "accuracy on the retain set (the clean part of the training set)"),
    Metric("residual_poison_acc", "agreement with the flipped labels on the flipped samples not identified "
           "(corrective, PROTOCOL 4.8); lower: less poison still believed", False, _FRACTION,
           ("logits:residual", "labels:residual"), "qbench.metrics.registry:accuracy", suites=("corrective",)),
    Metric("mia_efficacy", "fraction of the forget set that an SVC membership-inference attack, trained on retain "
           "(members) vs validation (non-members), calls non-members; higher: more forgotten (qbench.metrics.mia)",
           True, _FRACTION,
           ("logits:retain", "labels:retain", "logits:val", "labels:val", "logits:forget", "labels:forget", "seed"),
           "qbench.metrics.mia:mia_efficacy", "mia_efficacy", suites=("unlearning",)),
    Metric("mia_attack_acc", "balanced accuracy of the mia_efficacy attack on its own training set (retain vs "
           "validation); near 0.5: the attack has no power against this model (qbench.metrics.mia, protocol 3)",
           None, _FRACTION, ("logits:retain", "labels:retain", "logits:val", "labels:val", "seed"),
           "qbench.metrics.mia:mia_attack_acc", "mia_attack_acc"),
    Metric("hessian_trace", "trace of the Hessian of the mean training loss at the trained parameters", None,
           digits=4, suites=("landscape",)),
    Metric("lrr", "landscape roughening ratio: hessian_trace of the noisy model / that of the clean one", None,
           (0.0, None), ("hessian_trace",), title="LRR", suites=("landscape",)),
    Metric("wall_s", "wall-clock seconds (training; unlearning: cumulative over the steps)", False, (0.0, None),
           digits=4),
    Metric("train_wall_s", "wall-clock seconds of training the model", False, (0.0, None), digits=4),
    Metric("loss", "the method's objective at the step", None),
    Metric("final_loss", "mean training loss of the last epoch", None),
    Metric("eig_top", "largest Hessian eigenvalues", None, title="top eigenvalue", digits=4, suites=("landscape",)),
    Metric("eig_bottom", "smallest Hessian eigenvalues", None, title="bottom eigenvalue", digits=4,
           suites=("landscape",)),
):
    register_metric(_m)

register_metric(Metric(
    "gap_to_oracle", "mean over forget_acc, retain_acc, val_acc and mia_efficacy of |method - oracle| for the "
    "same seed (SalUn's Avg. Gap); lower: closer to the model that never saw the forget set", False, _FRACTION,
    ("forget_acc", "retain_acc", "val_acc", "mia_efficacy"), "qbench.metrics.registry:gap_to_oracle",
    suites=("unlearning",)))

#: the metrics ``gap_to_oracle`` averages
GAP_METRICS = METRICS["gap_to_oracle"].needs


def gap_to_oracle(*pairs: tuple[float | None, float | None]) -> float | Missing:
    """Mean of |method - oracle| over (method, oracle) pairs (``GAP_METRICS`` in order); Missing if any is."""
    for name, (a, b) in zip(GAP_METRICS, pairs):
        if a is None or b is None:
            return Missing(f"{name} is missing for the {'method' if a is None else 'oracle'}")
    return sum(abs(float(a) - float(b)) for a, b in pairs) / len(pairs)
