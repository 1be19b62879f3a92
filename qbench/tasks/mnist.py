"""Task ``mnist-1v9`` (PROTOCOL 1.1): MNIST digits 1 (class 0) and 9 (class 1), amplitude vectors.

The data come from the four original IDX files in a directory (``data_dir``, else $QBENCH_DATA_DIR),
gzip-compressed or not, else from Keras' own download. Shapes are always checked; by default the
SHA-256 of each decompressed file must also match the original distribution.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from qbench.errors import DataError, QbenchError
from qbench.recipe import TrainConfig
from qbench.tasks.base import TaskData, TaskFamily, register_family, register_task

DIGITS = (1, 9)  # class 0, class 1
N_QUBITS = 10
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SHAPES = {
    "train_images": (60000, 28, 28),
    "train_labels": (60000,),
    "test_images": (10000, 28, 28),
    "test_labels": (10000,),
}
# SHA-256 of the decompressed files of the original distribution.
SHA256 = {
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
VERIFY_MODES = ("strict", "shapes")
_HOWTO = (
    "provide the four MNIST IDX files (" + ", ".join(f"{f}.gz" for f in FILES.values())
    + "; uncompressed also accepted) in a directory and pass --data-dir DIR or set QBENCH_DATA_DIR=DIR"
)  # fmt: skip


def parse_idx(raw: bytes, what: str = "IDX data") -> np.ndarray:
    """The uint8 array stored in IDX bytes ``raw`` (magic 0x0000 08 <ndim>, big-endian dims)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{what}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise DataError(f"{what}: IDX element type 0x{raw[2]:02x}, expected 0x08 (unsigned byte)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{what}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if len(raw) != header + int(np.prod(dims)):
        raise DataError(
            f"{what}: IDX size mismatch: header says {dims} = {int(np.prod(dims))} bytes, file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _idx_bytes(a: np.ndarray) -> bytes:
    """IDX serialization of a uint8 array: what the original file holds, to hash Keras' copy."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    header = bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
    return header + a.tobytes()


def _find_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise DataError(f"MNIST data directory {directory} does not exist; {_HOWTO}")
    found, missing = {}, []
    for key, name in FILES.items():
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(f"{name}.gz")
    if missing:
        raise DataError(f"MNIST files missing in {directory}: {', '.join(missing)}; {_HOWTO}")
    return found


def _read(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:  # zlib.error: a damaged deflate stream
        raise DataError(f"cannot read MNIST file {path}: {e}") from e


@functools.lru_cache(maxsize=4)
def _load_dir_cached(directory: str, stamp: tuple) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    files = _find_files(Path(directory))
    arrays, sums = {}, {}
    for key, path in files.items():
        raw = _read(path)
        sums[key] = hashlib.sha256(raw).hexdigest()
        arrays[key] = parse_idx(raw, str(path))
    return arrays, sums, {k: str(p) for k, p in files.items()}


def _stamp(directory: Path) -> tuple:
    # Part of the in-process cache key, so a file replaced on disk is read again.
    out = []
    for name in FILES.values():
        for p in (directory / f"{name}.gz", directory / name):
            try:
                st = p.stat()
                out.append((p.name, st.st_size, st.st_mtime_ns))
            except OSError:
                pass
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _load_keras() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    try:
        import keras

        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    except Exception as e:  # noqa: BLE001  (any download/cache failure means the same to the user)
        raise DataError(f"could not load MNIST through Keras ({type(e).__name__}: {e}); {_HOWTO}") from e
    arrays = {"train_images": xtr, "train_labels": ytr, "test_images": xte, "test_labels": yte}
    arrays = {k: np.ascontiguousarray(v, dtype=np.uint8) for k, v in arrays.items()}
    sums = {k: hashlib.sha256(_idx_bytes(v)).hexdigest() for k, v in arrays.items()}
    return arrays, sums


def load_mnist_arrays(
    data_dir: str | os.PathLike | None = None, verify: str = "strict"
) -> tuple[dict[str, np.ndarray], dict]:
    """The four MNIST arrays (read-only, shared) and a provenance dict (source, sums, what was verified).

    Source: ``data_dir``, else $QBENCH_DATA_DIR, else ``keras.datasets.mnist.load_data()``.
    ``verify="strict"`` also requires the original SHA-256 sums; ``"shapes"`` only checks shapes.
    """
    if verify not in VERIFY_MODES:
        raise QbenchError(f"unknown MNIST verify mode {verify!r}; known: {', '.join(VERIFY_MODES)}")
    if data_dir is None:
        data_dir = os.environ.get("QBENCH_DATA_DIR") or None
    if data_dir is not None:
        directory = Path(data_dir).expanduser().resolve()
        arrays, sums, paths = _load_dir_cached(str(directory), _stamp(directory))
        source, where = str(directory), paths
    else:
        arrays, sums = _load_keras()
        source, where = "keras", {k: "keras.datasets.mnist" for k in FILES}
    for key, shape in SHAPES.items():
        if arrays[key].shape != shape:
            raise DataError(f"MNIST {FILES[key]} from {where[key]} has shape {arrays[key].shape}, expected {shape}")
    for key in ("train_labels", "test_labels"):
        if arrays[key].max() > 9:
            raise DataError(f"MNIST {FILES[key]} from {where[key]} holds labels above 9")
    mismatched = [k for k in FILES if sums[k] != SHA256[k]]
    if verify == "strict" and mismatched:
        k = mismatched[0]
        raise DataError(
            f"MNIST {FILES[k]} from {where[k]}: SHA-256 of the decompressed data is {sums[k]}, expected {SHA256[k]} "
            "(the original file); replace the file, or pass verify='shapes' to accept a different copy"
        )
    for a in arrays.values():
        a.flags.writeable = False
    provenance = {
        "source": source,
        "files": where,
        "sha256": dict(sums),
        "verified": "shapes+sha256" if verify == "strict" else "shapes",
        "sha256_matches_original": not mismatched,
    }
    return arrays, provenance


def _draw(labels: np.ndarray, per_class: int, rng: np.random.Generator, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``per_class`` images of each digit drawn without replacement, then shuffled, and labels."""
    idx, y = [], []
    for cls, digit in enumerate(DIGITS):
        pool = np.flatnonzero(labels == digit)
        if per_class > len(pool):
            raise QbenchError(f"MNIST {split} split has {len(pool)} images of digit {digit}, asked for {per_class}")
        idx.append(rng.choice(pool, per_class, replace=False))
        y.append(np.full(per_class, cls, dtype=np.int64))
    idx_all, y_all = np.concatenate(idx), np.concatenate(y)
    perm = rng.permutation(len(idx_all))
    return idx_all[perm], y_all[perm]


def preprocess(images: np.ndarray) -> np.ndarray:
    """Flatten to 784, zero-pad to 1024, L2-normalize each row; float32."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    x = np.zeros((len(images), 2**N_QUBITS))
    x[:, : flat.shape[1]] = flat
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise DataError("an MNIST image is all zeros and cannot be normalized")
    return (x / norms).astype(np.float32)


register_family(TaskFamily(
    name="mnist", tasks=("mnist-1v9",),
    train={"mlp": TrainConfig(epochs=100, batch_size=128, lr=0.01), "qnn": TrainConfig(epochs=100, batch_size=256, lr=0.005)},
    model_size={"mlp": {"hidden": (16, 4)}, "qnn": {"depth": 6}},
    input_shapes={"mnist-1v9": (2**N_QUBITS, False)},
    unlearning_lr=0.001,
    description="MNIST digits 1 vs 9 as unit-norm 1024-amplitude (10-qubit) vectors",
))


@register_task("mnist-1v9")
def load_mnist_1v9(
    data_seed: int = 0,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    verify: str = "strict",
    n_train_per_class: int = 250,
    n_val_per_class: int = 500,
) -> TaskData:
    """The ``mnist-1v9`` task: training images from the MNIST training split, validation from its test split.

    ``cache_dir`` is accepted for a uniform task signature and unused.
    """
    for name, value in (("n_train_per_class", n_train_per_class), ("n_val_per_class", n_val_per_class)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise QbenchError(f"{name} must be a positive integer, got {value!r}")
    arrays, provenance = load_mnist_arrays(data_dir, verify)
    rng = np.random.default_rng(data_seed)
    i_train, y_train = _draw(arrays["train_labels"], int(n_train_per_class), rng, "training")
    i_val, y_val = _draw(arrays["test_labels"], int(n_val_per_class), rng, "test")
    info = {
        **provenance,
        "digits": {"0": DIGITS[0], "1": DIGITS[1]},
        "data_seed": int(data_seed),
        "train_split": "train",
        "val_split": "test",
        "train_indices": i_train.tolist(),
        "val_indices": i_val.tolist(),
        "preprocessing": "flatten 784, zero-pad to 1024, L2-normalize, float32",
    }
    return TaskData(
        name="mnist-1v9",
        n_qubits=N_QUBITS,
        x_train=preprocess(arrays["train_images"][i_train]),
        y_train=y_train,
        x_val=preprocess(arrays["test_images"][i_val]),
        y_val=y_val,
        info=info,
    )
