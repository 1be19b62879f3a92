"""qbench: how quantum and classical neural networks survive poisoned data, and how unlearning repairs them."""

__version__ = "0.1.0"
import os as _os

from qbench.protocol import PROTOCOL_VERSION  # noqa: E402,F401  (the document; records carry protocol.scenario_version)

# TensorFlow's C++ start-up chatter (CPU feature notes, XLA service lines) hides qbench's own output;
# the `qbench` program goes further (qbench.quiet) unless --verbose.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from qbench.api import RunResult, load_results, run  # noqa: E402  (cheap: each imports its machinery when called)

__all__ = ["PROTOCOL_VERSION", "RunResult", "__version__", "load_results", "run"]
