"""Metrics: curvature of the training loss (PROTOCOL 4.3) and the analytic minimal models (4.5)."""

from qbench.metrics.analytic import AnalyticReport, check_analytic
from qbench.metrics.hessian import (
    clear_cache,
    collapsed_output,
    default_block_size,
    dense_hessian,
    hessian_diagonal,
    hessian_eigs,
    hessian_trace_exact,
    hessian_trace_hutchinson,
    hvp_fn,
)

__all__ = [
    "AnalyticReport",
    "check_analytic",
    "clear_cache",
    "collapsed_output",
    "default_block_size",
    "dense_hessian",
    "hessian_diagonal",
    "hessian_eigs",
    "hessian_trace_exact",
    "hessian_trace_hutchinson",
    "hvp_fn",
]
