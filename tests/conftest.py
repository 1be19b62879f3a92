import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
# tests never write the user's XLA compilation cache; tests/test_xla_cache.py turns it on in a temp dir
os.environ.setdefault("QBENCH_XLA_CACHE", "0")
# ...but the test session shares one of its own: every test process (pytest-xdist workers, the CLI runs
# tests start) compiles the same small circuits, and a loaded executable is the compiled one (tested in
# test_xla_cache.py), so it only saves compile time. The controller makes it; workers inherit it.
from qbench.xla_cache import FLAG as _XLA_FLAG  # noqa: E402 (imports no TensorFlow)

_OWN_XLA_CACHE = None
if "PYTEST_XDIST_WORKER" not in os.environ and _XLA_FLAG not in os.environ.get("TF_XLA_FLAGS", ""):
    import tempfile

    _OWN_XLA_CACHE = tempfile.mkdtemp(prefix="qbench-tests-xla-")
    os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") + f" {_XLA_FLAG}={_OWN_XLA_CACHE}").strip()


def pytest_unconfigure(config) -> None:
    if _OWN_XLA_CACHE is not None:
        import shutil

        shutil.rmtree(_OWN_XLA_CACHE, ignore_errors=True)

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
# tests never download: MNIST comes from ../shared/data/mnist unless QBENCH_DATA_DIR says otherwise
os.environ.setdefault("QBENCH_DATA_DIR", str(MNIST_DIR))


@pytest.fixture(scope="session")
def mnist_dir() -> str:
    d = os.environ.get("QBENCH_DATA_DIR") or str(MNIST_DIR)
    if not Path(d, "train-images-idx3-ubyte.gz").exists() and not Path(d, "train-images-idx3-ubyte").exists():
        pytest.fail(f"MNIST IDX files not found in {d}: set QBENCH_DATA_DIR (CI uses ../shared/data/mnist)")
    return d


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    """One XXZ cache for the whole test session, never the user's own cache."""
    return str(tmp_path_factory.mktemp("qbench-cache"))


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (pyproject's addopts): one test process per core, at most four (each starts
    TensorFlow and compiles circuits: more only costs memory on a big machine)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
