"""Field names of a record, in one place, and validation on read."""

from __future__ import annotations

import math
from typing import Any

from qbench.errors import QbenchError
from qbench.metrics import registry as _registry

SCHEMA_VERSION = 1

# key fields: what a record is about
SUITE = "suite"
SCENARIO = "scenario"
TASK = "task"
MODEL = "model"
MODEL_SIZE = "model_size"
CORRUPTION = "corruption"
ALPHA = "alpha"
METHOD = "method"
STEP = "step"
SEED = "seed"
# bookkeeping
UNIT_KEY = "unit_key"
CONFIG = "config"
CONFIG_HASH = "config_hash"
METRICS = "metrics"
PROVENANCE = "provenance"
STATUS = "status"
ERROR = "error"

KEY_FIELDS = (SUITE, SCENARIO, TASK, MODEL, MODEL_SIZE, CORRUPTION, ALPHA, METHOD, STEP, SEED)
REQUIRED = ("schema_version", "protocol_version") + KEY_FIELDS + (UNIT_KEY, CONFIG, CONFIG_HASH, METRICS, PROVENANCE, STATUS)
STATUSES = ("ok", "failed")
#: the ``method`` of the unlearning suite's reference model (PROTOCOL 4.2): one record per unit, never ranked
ORACLE = "oracle"
#: the ``forgetting`` suite's (PROTOCOL 4.9) poisoned models' ``method`` (no unlearning: a reference, never ranked), and
#: its records' per-sample fields: logits on every forget sample, their labels as trained, their training-set indices
POISONED = "poisoned"
FORGET_LOGITS = "forget_logits"
FORGET_LABELS = "forget_labels"
FORGET_INDICES = "forget_indices"
#: the ``corrective`` suite's fraction of the flipped samples identified (PROTOCOL 4.8): a top-level field, also in
#: the config; it tells apart records whose key fields are otherwise equal
KNOWN_FRACTION = "known_fraction"

# PROTOCOL section 5 names (the metric registry's), plus bookkeeping metrics
METRIC_NAMES = tuple(_registry.METRICS) + ("n_steps",)
#: a record's field of {metric: why it is null} for the metrics that could not be computed
METRIC_NOTES = "metric_notes"


def validate_record(rec: Any, where: str = "record") -> dict:
    """Raise QbenchError naming ``where`` unless ``rec`` is a well-formed record."""
    if not isinstance(rec, dict):
        raise QbenchError(f"{where}: a record must be a JSON object, got {type(rec).__name__}")
    missing = [f for f in REQUIRED if f not in rec]
    if missing:
        raise QbenchError(f"{where}: missing field(s) {', '.join(missing)}")
    if rec["schema_version"] != SCHEMA_VERSION:
        raise QbenchError(f"{where}: schema_version {rec['schema_version']!r}, this qbench reads {SCHEMA_VERSION}")
    if rec[STATUS] not in STATUSES:
        raise QbenchError(f"{where}: status must be one of {STATUSES}, got {rec[STATUS]!r}")
    if not isinstance(rec[SEED], int) or isinstance(rec[SEED], bool):
        raise QbenchError(f"{where}: seed must be an integer, got {rec[SEED]!r}")
    if rec[ALPHA] is not None and not (isinstance(rec[ALPHA], (int, float)) and 0.0 <= rec[ALPHA] <= 1.0):
        raise QbenchError(f"{where}: alpha must be a number in [0, 1] or null, got {rec[ALPHA]!r}")
    metrics = rec[METRICS]
    if not isinstance(metrics, dict):
        raise QbenchError(f"{where}: metrics must be an object")
    for name, value in metrics.items():
        if value is not None and not isinstance(value, (int, float, list)):
            raise QbenchError(f"{where}: metric {name!r} must be a number, list or null, got {value!r}")
        noted = value is None and name in (rec.get(METRIC_NOTES) or {})
        problem = metric_problem(name, value) if rec[STATUS] == "ok" and not noted else None
        if problem:
            raise QbenchError(f"{where}: metric {name!r} {problem}")
    if not isinstance(rec[CONFIG], dict) or not isinstance(rec[PROVENANCE], dict):
        raise QbenchError(f"{where}: config and provenance must be objects")
    return rec


def is_fraction(name: str) -> bool:
    """Accuracies and fractions, which lie in [0, 1]: a registered metric of that range (``val_acc``,
    ``mia_efficacy``, ``gap_to_oracle``), or a name with the word ``acc``, ``efficacy`` or ``fraction``
    (``val_acc_steps``, ``known_fraction``)."""
    metric = _registry.METRICS.get(name)
    if metric is not None:
        return metric.bounds == (0.0, 1.0)
    return bool(FRACTION_WORDS & set(name.split("_")))


def is_count(name: str) -> bool:
    """Counts (``n_steps``, ``n_corrupted``), which are non-negative integers."""
    return name.startswith("n_")


FRACTION_WORDS = frozenset({"acc", "efficacy", "fraction"})


def _numbers(value: Any) -> list[Any]:
    return [x for v in value for x in _numbers(v)] if isinstance(value, list) else [value]


def metric_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` as metric ``name`` of a successful unit (None if nothing): NaN
    or infinity anywhere; an accuracy or fraction outside [0, 1] or missing (unless the record notes
    why, see :func:`validate_record`); another registered metric outside its range; a count that is
    not a non-negative integer. A unit whose method produced NaN is a failed unit, never a record with a
    hole that a mean would silently skip."""
    items = _numbers(value)
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            return f"is {v} (not finite) in a status-ok record"
    if is_fraction(name):
        for v in items:
            if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
                return f"must be a number in [0, 1], got {v!r}"
            if not 0.0 <= v <= 1.0:
                return f"is {v!r}, outside [0, 1]"
    metric = _registry.METRICS.get(name)
    if metric is not None and not is_fraction(name):
        for v in items:
            if v is not None and isinstance(v, (int, float)) and metric.problem(v):
                return metric.problem(v)
    if is_count(name):
        for v in items:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                return f"is a count and must be a non-negative integer, got {v!r}"
    return None
