"""Figures from records only (matplotlib, Agg backend, PNG at 150 dpi), one file per figure with a
name that depends only on what is plotted:

- ``resilience_<task>.png``: train (solid) and validation (dashed) accuracy vs alpha, mean with a
  one-std band; rows = corruption, columns = model (the paper's Fig 2).
- ``unlearning_<task>_val_acc.png``, ``unlearning_<task>_forget_acc.png``: accuracy vs unlearning
  step, a line per method with a one-std band, one panel per model (Fig 3a/b, S2/S3); the oracle (protocol 2)
  as a dashed line at its mean.
- ``unlearning_<task>_gap_to_oracle.png`` (protocol 2): gap_to_oracle vs step (step 0 and every 10 steps),
  a line per method with a one-std band, one panel per model.
- ``landscape_<task>_lrr.png``: LRR per alpha, a bar per model with one-std error bars (Fig 3d).
- ``capacity_<task>.png``: validation accuracy vs alpha, a line per model size, a panel per model (Fig S1).
- ``corrective_<task>_val_acc.png`` (PROTOCOL 4.8): validation accuracy after the last unlearning step vs the
  known fraction f of the flipped samples, a line per method with a one-std band, MLP and QNN side by side;
  the oracle of each f as a dashed line.
- ``noise_<task>_val_acc.png`` (PROTOCOL 4.10): validation accuracy vs alpha, a panel per noise level, the noisy
  QNN beside the MLP and the noiseless QNN (the resilience suite's records); ``noise_<task>_unlearning.png``:
  val_acc and forget_acc vs unlearning step, a column per level, a line per method, the oracle dashed.
- ``controls_resilience.png`` (PROTOCOL 2.4, once a control has records): validation accuracy vs alpha under
  label flipping, a line per model (the QNN, the MLP and the three controls) with a one-std band, a panel
  per task.
- ``forgetting_<task>_ulira_acc.png`` (PROTOCOL 4.9): ulira_acc per method with its 95% interval, QNN beside MLP,
  the ``poisoned`` and ``null`` references at the end and a dashed line at 0.5 (indistinguishable from retraining).
- ``sensitivity_<task>_<model>_<method>.png``: final val_acc over a method's hyperparameter grid
  (PROTOCOL 4.7): an annotated heat map of the mean over seeds for two swept parameters, a curve
  with a one-std band (and forget_acc dashed) for one.

Records of another protocol version than the newest of a figure's records get their own file,
suffixed ``_protocol-<v>``; a ``landscape-study`` family likewise gets ``landscape-study_<task>_lrr.png``.
Each suite's figures are drawn in its report module (:mod:`qbench.report.suites`), beside its tables; a
report over several suites' records (the controls) registers its own (``cross_figures``).
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from qbench.records import schema as F
from qbench.records.checks import split_failed
from qbench.report import suites as _suites  # noqa: F401  (registers every suite's figures)
from qbench.report.registry import CROSS_FIGURES, FIGURES


def make_figures(records: Sequence[dict], out_dir: str, log: Callable[[str], None] = print) -> list[str]:
    """Every figure the records allow; a suite without successful records is skipped with a message."""
    ok, failed = split_failed(records)
    written: list[str] = []
    for suite, fn in FIGURES.items():
        if not any(r[F.SUITE] == suite for r in ok):
            some = any(r[F.SUITE] == suite for r in failed)
            log(f"{suite}: no {'successful ' if some else ''}records, figure skipped")
            continue
        os.makedirs(out_dir, exist_ok=True)
        paths = fn(ok, out_dir)
        for p in paths:
            log(f"{suite}: wrote {p}")
        written += paths
    for name, fn in CROSS_FIGURES.items():  # reports over several suites: nothing written where nothing is theirs
        paths = fn(ok, out_dir)
        for p in paths:
            log(f"{name}: wrote {p}")
        written += paths
    if failed:
        log(f"{len(failed)} failed unit(s) left out of the figures")
    return written
