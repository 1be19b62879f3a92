"""Metrics: curvature of the training loss (PROTOCOL 4.3), the analytic minimal models (4.5), and
metrics of unlearning curves.

The Hessian and analytic modules import TensorFlow; their names are loaded on first use, so that a
light module (``qbench.metrics.curves``, used by the leaderboard) never starts it."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "AnalyticReport": "analytic", "check_analytic": "analytic",
    "clear_cache": "hessian", "collapsed_output": "hessian", "default_block_size": "hessian",
    "dense_hessian": "hessian", "hessian_diagonal": "hessian", "hessian_eigs": "hessian",
    "hessian_trace_exact": "hessian", "hessian_trace_hutchinson": "hessian", "hvp_fn": "hessian",
    "steps_to_reach": "curves",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'qbench.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"qbench.metrics.{_LAZY[name]}"), name)


__all__ = sorted(_LAZY)
