"""How many threads TensorFlow's intra-op pool uses in this process, set once and recorded.

XLA and Eigen split a reduction among the pool's threads, so the same seed gives last-digit
differences under a different thread count; where the loss is flat (label flipping at alpha 0.5)
those grow into a different model. Every record therefore carries the count it was made with
(:func:`tf_threads`), and ``qbench verify`` re-runs it with the same count.

This module imports no TensorFlow at import time.
"""

from __future__ import annotations

import os
import sys

_SET: int | None = None  # what configure_threads made effective; None: not set by qbench


def configure_threads(threads: int) -> bool:
    """Cap TensorFlow's intra-op threads (one inter-op thread) and BLAS's at ``threads``.

    Environment variables act if TensorFlow is not imported yet; otherwise ``tf.config.threading``
    acts if TensorFlow's runtime has not started. Returns False (and changes nothing) when it is too
    late, so that :func:`tf_threads` never reports a count that is not in effect.
    """
    global _SET
    n = int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # the runtime has started: too late, it keeps its pools
            return _SET == n
    for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass
    _SET = n
    return True


def default_tf_threads() -> int:
    """TensorFlow's own default intra-op pool size: one thread per schedulable core."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def tf_threads() -> int:
    """The intra-op thread count TensorFlow runs with in this process."""
    if _SET is not None:
        return _SET
    env = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return default_tf_threads()
