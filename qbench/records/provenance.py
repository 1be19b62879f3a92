"""What produced a record: package versions, git revision, machine."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

# every package whose version can change a number: the contraction path of a circuit comes from
# tensornetwork-ng and opt_einsum, not only from tensorcircuit-ng itself
PACKAGES = ("qbench", "tensorflow", "tensorcircuit-ng", "tensornetwork-ng", "opt_einsum", "keras", "numpy", "scipy",
            "ml_dtypes")


@functools.cache
def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def git_revision() -> str:
    """HEAD of the qbench source checkout, '+dirty' if it has uncommitted changes; 'unknown' outside git."""
    src = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "qbench"],
            cwd=src, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_tree(revision: str, *, repo: str | os.PathLike | None = None) -> str | None:
    """The git tree of the ``qbench/`` package at ``revision`` (None for a dirty or unknown revision).

    Two revisions with the same tree run the same code: a re-run checked at one holds for the other
    (commits that touch only records, docs or tests do not make ``verify --all`` start over)."""
    if not revision or revision == "unknown" or revision.endswith("+dirty"):
        return None
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}:qbench"],
                             cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or "unknown"


@functools.cache
def machine() -> dict[str, object]:
    """Where a record was made. The CPU matters for the numbers: XLA compiles for the host's
    instruction set, so a QNN re-run on another CPU model need not agree bit for bit."""
    from qbench.xla_cache import cpu_fingerprint

    return {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "cpu_model": cpu_model(), "cpu_fingerprint": cpu_fingerprint()}


def provenance() -> dict[str, object]:
    """Versions, revision, machine, and the TensorFlow intra-op thread count (results depend on it)."""
    from qbench.threads import tf_threads

    return {"versions": versions(), "git_revision": git_revision(), "machine": machine(), "tf_threads": tf_threads()}


def config_hash(config: dict) -> str:
    """Stable short hash of a JSON-able config (sorted keys)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
