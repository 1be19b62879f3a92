"""XLA's persistent compilation cache, so that a compiled step is compiled once per machine, not
once per process.

TensorFlow's ``--tf_xla_persistent_cache_directory`` (in ``TF_XLA_FLAGS``) stores every XLA
executable it builds and loads it again, by the fingerprint of its HLO, in a later process: the
first call of the XXZ QNN training step went from 18.7 s to 8.9 s (the rest was tracing). A loaded
executable is the one that was compiled, so the numbers are the same (tested). Entries are a few
MB each. The directory is ``<cache dir>/xla/<TensorFlow version>-<CPU fingerprint>``, so neither
an upgrade nor a cluster of different CPUs ever loads a foreign executable.

Traced steps are kept beside the executables (``<directory>/traced``, see
:mod:`qbench.training.trace_store`), so that a warm process neither traces nor compiles.

Set ``QBENCH_XLA_CACHE=0`` to turn both off; a ``TF_XLA_FLAGS`` that already names a directory is
left alone. It acts only before the process's first XLA compilation. Imports no TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import platform
from importlib import metadata
from pathlib import Path

FLAG = "--tf_xla_persistent_cache_directory"
OFF_ENV = "QBENCH_XLA_CACHE"


def cpu_fingerprint() -> str:
    """Hash of the CPU model and feature flags: XLA compiles for the host's instruction set."""
    text = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))]
        text += "".join(sorted(set(lines)))
    except OSError:  # pragma: no cover - not Linux
        text += platform.processor()
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def xla_cache_dir(cache_root: str | os.PathLike) -> Path:
    try:
        tf = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:  # pragma: no cover - TensorFlow is a dependency
        tf = "unknown"
    return Path(cache_root) / "xla" / f"tf-{tf}-{platform.machine()}-{cpu_fingerprint()}"


def active_xla_cache() -> Path | None:
    """The directory ``TF_XLA_FLAGS`` names for the persistent cache, if any."""
    for tok in os.environ.get("TF_XLA_FLAGS", "").split():
        if tok.startswith(FLAG + "="):
            return Path(tok.split("=", 1)[1])
    return None


def _switched_off() -> bool:
    return os.environ.get(OFF_ENV, "1").strip().lower() in ("0", "false", "no", "off")


def traced_dir() -> Path | None:
    """Where traced steps are stored: in the XLA cache directory in use, unless ``QBENCH_XLA_CACHE`` is off."""
    d = None if _switched_off() else active_xla_cache()
    return None if d is None else d / "traced"


def enable_xla_cache(cache_root: str | os.PathLike | None = None) -> Path | None:
    """Point XLA's persistent cache at ``xla_cache_dir`` of ``cache_root`` (``--cache-dir``, else
    $QBENCH_CACHE_DIR, else the user cache dir); returns the directory in use, None when off."""
    if _switched_off():
        return None
    current = active_xla_cache()
    if current is not None:
        return current
    from qbench.tasks.xxz import default_cache_dir

    d = xla_cache_dir(default_cache_dir(cache_root))
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable cache only costs compile time
        return None
    os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") + f" {FLAG}={d}").strip()
    return d
