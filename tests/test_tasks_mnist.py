"""mnist-1v9 task from the shared IDX files: draw, preprocessing, verification, errors."""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from qbench.errors import DataError, QbenchError
from qbench.tasks import get_task, mnist

# the four IDX files: ../shared/data/mnist beside the checkout, or QBENCH_DATA_DIR (tests/conftest.py); never
# skipped when absent: the `mnist_dir` fixture (and this module's tests) fail, naming the directory
MNIST_DIR = Path(os.environ["QBENCH_DATA_DIR"])


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.delenv("QBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("QBENCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def task():
    return get_task("mnist-1v9", data_dir=str(MNIST_DIR))


def test_shapes_labels_norms(task):
    assert task.n_qubits == 10 and not task.is_complex
    assert task.x_train.shape == (500, 1024) and task.x_val.shape == (1000, 1024)
    assert task.x_train.dtype == np.float32 and task.y_train.dtype == np.int64
    assert np.bincount(task.y_train).tolist() == [250, 250]
    assert np.bincount(task.y_val).tolist() == [500, 500]
    for x in (task.x_train, task.x_val):
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
        assert not x[:, 784:].any()
        assert (x >= 0).all()
    assert 0 < task.y_train[:250].sum() < 250  # shuffled, not class-ordered
    assert task.info["verified"] == "shapes+sha256" and task.info["sha256_matches_original"]
    assert task.info["source"] == str(MNIST_DIR.resolve())


def test_labels_match_digits(task):
    arrays, _ = mnist.load_mnist_arrays(MNIST_DIR)
    digits = arrays["train_labels"][task.info["train_indices"]]
    np.testing.assert_array_equal(digits, np.where(task.y_train == 1, 9, 1))
    digits = arrays["test_labels"][task.info["val_indices"]]
    np.testing.assert_array_equal(digits, np.where(task.y_val == 1, 9, 1))
    # first training vector is the normalized, padded image it claims to be
    img = arrays["train_images"][task.info["train_indices"][0]].reshape(-1).astype(float)
    np.testing.assert_allclose(task.x_train[0, :784], img / np.linalg.norm(img), atol=1e-6)


def test_seed_determinism(task):
    same = get_task("mnist-1v9", data_dir=MNIST_DIR)
    np.testing.assert_array_equal(same.x_train, task.x_train)
    np.testing.assert_array_equal(same.y_train, task.y_train)
    np.testing.assert_array_equal(same.x_val, task.x_val)
    other = get_task("mnist-1v9", data_dir=MNIST_DIR, data_seed=1)
    assert set(other.info["train_indices"]) != set(task.info["train_indices"])
    assert set(other.info["val_indices"]) != set(task.info["val_indices"])


def test_sources_disjoint(task):
    assert task.info["train_split"] == "train" and task.info["val_split"] == "test"
    assert len(set(task.info["train_indices"])) == 500 and len(set(task.info["val_indices"])) == 1000
    # no validation image is pixel-identical to a training image
    train_rows = {row.tobytes() for row in task.x_train}
    assert not any(row.tobytes() in train_rows for row in task.x_val)


def test_small_sizes_and_env_dir(monkeypatch):
    monkeypatch.setenv("QBENCH_DATA_DIR", str(MNIST_DIR))
    t = get_task("mnist-1v9", n_train_per_class=5, n_val_per_class=7)
    assert t.x_train.shape == (10, 1024) and t.x_val.shape == (14, 1024)
    assert np.bincount(t.y_val).tolist() == [7, 7]
    with pytest.raises(QbenchError, match="n_train_per_class"):
        get_task("mnist-1v9", n_train_per_class=0)


def test_parse_idx():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(mnist.parse_idx(mnist._idx_bytes(a)), a)
    with pytest.raises(DataError, match="magic"):
        mnist.parse_idx(b"\x01\x02\x08\x01")
    with pytest.raises(DataError, match="size mismatch"):
        mnist.parse_idx(mnist._idx_bytes(a)[:-1])


def _copy_with_corruption(tmp_path: Path, compress: bool) -> Path:
    for f in MNIST_DIR.glob("*.gz"):
        if compress:
            shutil.copy(f, tmp_path / f.name)
        else:
            (tmp_path / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))
    raw = bytearray(gzip.decompress((MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[5000] ^= 0xFF  # one pixel of one image
    if compress:
        (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    else:
        (tmp_path / "t10k-images-idx3-ubyte").write_bytes(bytes(raw))
    return tmp_path


@pytest.mark.parametrize("compress", [True, False])
def test_hash_mismatch_caught(tmp_path, compress):
    d = _copy_with_corruption(tmp_path, compress)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.*0fa7898d") as err:
        get_task("mnist-1v9", data_dir=d)
    assert "SHA-256" in str(err.value) and "verify='shapes'" in str(err.value)
    relaxed = get_task("mnist-1v9", data_dir=d, verify="shapes", n_train_per_class=3, n_val_per_class=3)
    assert relaxed.info["verified"] == "shapes" and not relaxed.info["sha256_matches_original"]
    assert relaxed.info["sha256"]["test_images"] != mnist.SHA256["test_images"]


def test_wrong_shape_caught(tmp_path):
    for f in MNIST_DIR.glob("*.gz"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(mnist._idx_bytes(np.zeros(5, np.uint8))))
    with pytest.raises(DataError, match=r"shape \(5,\)"):
        get_task("mnist-1v9", data_dir=tmp_path, verify="shapes")


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="QBENCH_DATA_DIR") as err:
        get_task("mnist-1v9", data_dir=tmp_path / "nope")
    assert "nope" in str(err.value) and "train-images-idx3-ubyte.gz" in str(err.value)


def test_missing_files(tmp_path):
    shutil.copy(MNIST_DIR / "train-labels-idx1-ubyte.gz", tmp_path)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz") as err:
        get_task("mnist-1v9", data_dir=tmp_path)
    assert str(tmp_path) in str(err.value) and "train-labels" not in str(err.value).split(";")[0]


def test_keras_failure_wrapped(monkeypatch):
    def offline():
        raise OSError("network unreachable")

    # a stand-in module: importing the real keras (TensorFlow) would cost seconds
    fake = types.ModuleType("keras")
    fake.datasets = types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=offline))
    monkeypatch.setitem(sys.modules, "keras", fake)
    mnist._load_keras.cache_clear()
    with pytest.raises(DataError, match="--data-dir") as err:
        get_task("mnist-1v9")
    assert "QBENCH_DATA_DIR" in str(err.value) and "network unreachable" in str(err.value)
    mnist._load_keras.cache_clear()


def test_bad_verify_mode():
    with pytest.raises(QbenchError, match="strict"):
        get_task("mnist-1v9", data_dir=MNIST_DIR, verify="none")


def test_keras_source_verified(monkeypatch):
    arrays, _ = mnist.load_mnist_arrays(MNIST_DIR)

    def load_data():
        return (arrays["train_images"], arrays["train_labels"]), (arrays["test_images"], arrays["test_labels"])

    fake = types.ModuleType("keras")
    fake.datasets = types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=load_data))
    monkeypatch.setitem(sys.modules, "keras", fake)
    mnist._load_keras.cache_clear()
    try:
        t = get_task("mnist-1v9", n_train_per_class=4, n_val_per_class=4)
    finally:
        mnist._load_keras.cache_clear()
    assert t.info["source"] == "keras" and t.info["verified"] == "shapes+sha256"
    assert t.info["sha256"] == mnist.SHA256
