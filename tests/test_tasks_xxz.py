"""xxz-<L> task: Hamiltonian, ground states against dense diagonalization, labels, disk cache."""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache, reduce

import numpy as np
import pytest

from qbench.errors import QbenchError
from qbench.tasks import get_task, list_tasks, xxz

PAULI_X = np.array([[0, 1], [1, 0]], dtype=complex)
PAULI_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
PAULI_Z = np.diag([1.0, -1.0]).astype(complex)


@pytest.fixture(autouse=True)
def _cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("QBENCH_CACHE_DIR", str(tmp_path / "cache"))


def two_site(op: np.ndarray, i: int, j: int, n: int) -> np.ndarray:
    """op_i op_j on n qubits, qubit 0 the leftmost Kronecker factor (most significant bit)."""
    return reduce(np.kron, [op if k in (i, j) else np.eye(2) for k in range(n)])


def dense_xxz(n: int, delta: float) -> np.ndarray:
    h = np.zeros((2**n, 2**n), dtype=complex)
    for i in range(n):
        j = (i + 1) % n
        h += two_site(PAULI_X, i, j, n) + two_site(PAULI_Y, i, j, n) + delta * two_site(PAULI_Z, i, j, n)
    return h


@pytest.mark.parametrize("n", [4, 6])
def test_sparse_hamiltonian_matches_kronecker(n):
    for delta in (-0.5, 1.0, 2.3):
        np.testing.assert_allclose(xxz.xxz_hamiltonian(n, delta).toarray(), dense_xxz(n, delta), atol=1e-12)


@lru_cache(maxsize=None)
def dense_ground(n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    h = dense_xxz(n, delta)
    assert np.abs(h.imag).max() == 0  # Y Y is real, so eigh can run in real arithmetic
    try:  # multi-threaded OpenBLAS on a busy 2-core machine makes this 256x256 eigh take seconds
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        limit = nullcontext()
    with limit:
        return np.linalg.eigh(h.real)


@pytest.mark.parametrize("n", [6, 8])
@pytest.mark.parametrize("solver", ["sector", "full"])
def test_ground_states_match_dense_eigh(n, solver):
    deltas = np.array([-0.97, -0.5, 0.0, 0.96, 1.0, 1.02, 2.0, 3.0])
    states, energies, gaps = xxz.solve_ground_states(n, deltas, solver)
    assert states.dtype == np.complex64 and states.shape == (len(deltas), 2**n)
    for k, delta in enumerate(deltas):
        w, v = dense_ground(n, float(delta))
        assert w[1] - w[0] > 1e-3  # non-degenerate, so the state is well defined
        assert energies[k] == pytest.approx(w[0], abs=1e-9)
        assert gaps[k] > 0
        assert abs(np.vdot(v[:, 0], states[k].astype(complex))) == pytest.approx(1, abs=1e-6)


def test_phase_convention():
    states, _, _ = xxz.solve_ground_states(8, np.array([-0.9, 0.3, 1.5]))
    for s in states.astype(complex):
        assert np.linalg.norm(s) == pytest.approx(1, abs=1e-6)
        mag = np.abs(s)
        i = np.flatnonzero(mag >= mag.max() * (1 - 1e-5))[0]
        assert s[i].real > 0 and abs(s[i].imag) < 1e-7
    # fix_phase on an arbitrary phase: first of tied maxima becomes real positive
    v = np.array([0.0, -1j, 1j, 0.5]) * np.exp(0.7j)
    out = xxz.fix_phase(v)
    assert out[1] == pytest.approx(np.abs(v[1]) / np.linalg.norm(v))


def test_energy_heisenberg_l12():
    _, energies, _ = xxz.solve_ground_states(12, np.array([1.0]))
    assert energies[0] == pytest.approx(-21.5495637, abs=1e-6)


def test_delta_grids_and_labels():
    d_train, y_train = xxz.train_deltas()
    assert len(d_train) == 197 and (y_train == 0).sum() == 97 and (y_train == 1).sum() == 100
    assert d_train[0] == -0.96 and d_train[96] == 0.96 and d_train[97] == 1.02 and d_train[-1] == 3.0
    np.testing.assert_array_equal(y_train, (d_train > 1).astype(int))
    d_val, y_val = xxz.val_deltas()
    assert len(d_val) == 199 and d_val[0] == -0.97 and d_val[-1] == 2.99
    np.testing.assert_allclose(np.diff(d_val), 0.02, atol=1e-12)
    np.testing.assert_array_equal(y_val, (d_val > 1).astype(int))
    assert not set(d_train) & set(d_val)


def test_task_xxz6(tmp_path):
    task = get_task("xxz-6", cache_dir=tmp_path)
    assert task.name == "xxz-6" and task.n_qubits == 6 and task.is_complex
    assert task.x_train.shape == (197, 64) and task.x_val.shape == (199, 64)
    assert task.x_train.dtype == np.complex64 and task.y_train.dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(task.x_train, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(task.x_val, axis=1), 1, atol=1e-6)
    assert len(task.info["deltas_train"]) == 197 and len(task.info["energies_val"]) == 199
    np.testing.assert_array_equal(task.y_val, (np.array(task.info["deltas_val"]) > 1).astype(int))
    assert task.encode(task.x_train, "real").shape == (197, 128)


def test_cache_written_then_read(tmp_path, monkeypatch):
    first = get_task("xxz-8", cache_dir=tmp_path)
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 2 and not list(tmp_path.glob("*.tmp"))
    with np.load(files[0], allow_pickle=False) as f:
        assert {"states", "deltas", "energies"} <= set(f.files)

    def boom(*args, **kwargs):
        raise AssertionError("solver called although the cache is warm")

    monkeypatch.setattr(xxz, "solve_ground_states", boom)
    second = get_task("xxz-8", cache_dir=tmp_path)
    assert second.info["from_cache"] and not first.info["from_cache"]
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.x_val, second.x_val)


def test_stale_cache_recomputed(tmp_path):
    deltas = np.array([0.1, 0.2])
    gs = xxz.ground_states(6, deltas, cache_dir=tmp_path)
    path = gs.cache_file
    with np.load(path) as f:
        data = dict(f)
    data["states"] = data["states"][:1]  # wrong shape
    np.savez(path, **data)
    again = xxz.ground_states(6, deltas, cache_dir=tmp_path)
    assert not again.from_cache
    np.testing.assert_array_equal(again.states, gs.states)
    assert xxz.ground_states(6, deltas, cache_dir=tmp_path).from_cache


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("QBENCH_CACHE_DIR", str(tmp_path / "env"))
    gs = xxz.ground_states(4, np.array([0.5]))
    assert gs.cache_file.startswith(str(tmp_path / "env"))


def test_bad_names():
    assert "xxz-12" in list_tasks() and "mnist-1v9" in list_tasks()
    with pytest.raises(QbenchError, match="mnist-1v9"):
        get_task("xxz-twelve")
    with pytest.raises(QbenchError, match="even"):
        get_task("xxz-5")
    with pytest.raises(QbenchError, match="unknown option"):
        get_task("xxz-6", colour="red")


def test_task_xxz12(tmp_path):
    task = get_task("xxz-12", cache_dir=tmp_path)
    assert task.n_qubits == 12 and task.x_train.shape == (197, 4096) and task.x_val.shape == (199, 4096)
    assert task.info["min_gap"] > 0.1  # unique ground state at every Delta (in the Sz = 0 sector)
    energies = np.array(task.info["energies_train"] + task.info["energies_val"])
    deltas = np.array(task.info["deltas_train"] + task.info["deltas_val"])
    assert np.all(np.diff(energies[np.argsort(deltas)][100:]) < 0)  # E(Delta) falls on the gapped side
    # sector solution equals the full-space one where the gap to other Sz sectors is smallest
    full, e_full, _ = xxz.solve_ground_states(12, np.array([-0.97, 2.99]), "full")
    i, j = task.info["deltas_val"].index(-0.97), task.info["deltas_val"].index(2.99)
    np.testing.assert_allclose(e_full, [task.info["energies_val"][i], task.info["energies_val"][j]], atol=1e-9)
    np.testing.assert_allclose(full, task.x_val[[i, j]], atol=1e-6)
