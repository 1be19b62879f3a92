"""Task ``xxz-<L>`` (PROTOCOL 1.2): ground states of the periodic spin-1/2 XXZ chain.

H = sum_i (X_i X_{i+1} + Y_i Y_{i+1} + Delta Z_i Z_{i+1}), site L wrapping to site 0. Basis: amplitude
index i is the bit string of qubit 0 (most significant) ... qubit L-1 (least significant).

The ground states for Delta > -1 lie in the Sz = 0 sector (half the spins up), so by default the
solver works in that sector (C(L, L/2) states, 924 at L = 12 instead of 4096) and embeds the result
back into the full space; ``solver="full"`` solves in the full space instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

from qbench.errors import QbenchError
from qbench.files import WriteError, atomic_write
from qbench.recipe import TrainConfig
from qbench.tasks.base import TaskData, TaskFamily, register_family, register_task

# Bump when the states a given key produces change (solver, phase rule, dtype); old cache files are
# then ignored and recomputed.
SOLVER_VERSION = 1
SOLVERS = ("sector", "full")
_V0_SEED = 20250101  # start vector of the Lanczos solver: fixed so the output never depends on chance
# Amplitudes whose magnitude is within this relative distance of the largest count as tied for the
# phase rule; symmetric chains have exact ties (e.g. the two Neel states) that floating point blurs.
_PHASE_TIE_RTOL = 1e-6

TASK_NAME_RE = re.compile(r"^xxz-(\d+)$")
#: global-phase rules (PROTOCOL 1.2, protocol 2): ``random`` (default, the study's data) or ``fixed``
PHASES = ("random", "fixed")
#: the task's protocol options and their allowed values, the protocol's default first
OPTIONS = {"phase": PHASES}
#: what a config without options meant (protocol 1, before the phase rule existed)
LEGACY_OPTIONS = {"phase": "fixed"}
# Spawn key of the phase draw under the data seed; a constant so every machine draws the same phases.
_PHASE_STREAM = 1201
# Largest chain: every one of the 396 states (197 training, 199 validation) is held densely, 2**L
# complex128 amplitudes each, and again as the MLP's [Re, Im] float32 input: 0.6 GB at L = 16, then
# four times more per two sites (2.5 GB at 18, 10 GB at 20, before any model or Hessian), and the
# MLP's first layer alone has 64 * 2**(L+1) weights. L = 12 is the protocol's.
MAX_QUBITS = 16

register_family(TaskFamily(
    name="xxz", tasks=("xxz-12",),
    train={"mlp": TrainConfig(epochs=400, batch_size=32, lr=0.01), "qnn": TrainConfig(epochs=200, batch_size=32, lr=0.03)},
    model_size={"mlp": {"hidden": (64, 16)}, "qnn": {"depth": 4}},
    input_shapes={"xxz-12": (2**12, True)},
    unlearning_lr=0.01,
    description="ground states of the periodic XXZ chain, gapless (Delta <= 1) vs gapped",
))


def _single_thread_blas():
    """Limit BLAS to one thread while solving: these matrices are small, and on a loaded machine
    multi-threaded OpenBLAS spins and runs 3-4x slower. No-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def train_deltas() -> tuple[np.ndarray, np.ndarray]:
    """Training Deltas and labels: {-0.96, ..., 0.96} -> 0 (97), {1.02, ..., 3.00} -> 1 (100)."""
    gapless = np.round(np.arange(-48, 49) * 0.02, 2)
    gapped = np.round(np.arange(51, 151) * 0.02, 2)
    deltas = np.concatenate([gapless, gapped])
    labels = np.concatenate([np.zeros(len(gapless)), np.ones(len(gapped))]).astype(np.int64)
    return deltas, labels


def val_deltas() -> tuple[np.ndarray, np.ndarray]:
    """Validation Deltas {-0.97, -0.95, ..., 2.99} (199) and labels 1 iff Delta > 1."""
    deltas = np.round((np.arange(-97, 300, 2)) * 0.01, 2)
    return deltas, (deltas > 1).astype(np.int64)


def _popcount(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.int64)
    count = np.zeros_like(a)
    while np.any(a):
        count += a & 1
        a = a >> 1
    return count


def _bond_masks(n_qubits: int) -> np.ndarray:
    """Integer masks of the two bits of each periodic bond (q, q+1 mod L), qubit q at bit L-1-q."""
    q = np.arange(n_qubits)
    return (1 << (n_qubits - 1 - q)) | (1 << (n_qubits - 1 - (q + 1) % n_qubits))


def xxz_terms(n_qubits: int, sector: bool = False) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """(basis, H_xy, h_zz) so that H(Delta) = H_xy + Delta * diag(h_zz) on ``basis``.

    ``basis`` lists the integer basis states kept: all 2**L, or (``sector=True``) those with L/2 bits
    set, ascending. H_xy = sum_i (X_i X_{i+1} + Y_i Y_{i+1}) maps an anti-aligned pair to its flip with
    amplitude 2 and kills aligned pairs; h_zz holds sum_i Z_i Z_{i+1} (+1 aligned, -1 anti-aligned).
    """
    if n_qubits < 2:
        raise QbenchError(f"the XXZ chain needs at least 2 sites, got {n_qubits}")
    states = np.arange(2**n_qubits, dtype=np.int64)
    if sector:
        if n_qubits % 2:
            raise QbenchError(f"the Sz = 0 sector needs an even chain length, got {n_qubits}")
        states = states[_popcount(states) == n_qubits // 2]
    dim = len(states)
    h_zz = np.zeros(dim)
    rows, cols = [], []
    for mask in _bond_masks(n_qubits):
        bits = states & mask
        anti = (bits != 0) & (bits != mask)
        h_zz += np.where(anti, -1.0, 1.0)
        src = np.flatnonzero(anti)
        flipped = states[src] ^ mask
        rows.append(np.searchsorted(states, flipped) if sector else flipped)
        cols.append(src)
    r, c = np.concatenate(rows), np.concatenate(cols)
    h_xy = sp.csr_matrix((np.full(len(r), 2.0), (r, c)), shape=(dim, dim))
    h_xy.sum_duplicates()
    return states, h_xy, h_zz


def xxz_hamiltonian(n_qubits: int, delta: float) -> sp.csr_matrix:
    """The full-space XXZ Hamiltonian as a sparse (2**L, 2**L) matrix."""
    _, h_xy, h_zz = xxz_terms(n_qubits)
    return (h_xy + sp.diags(delta * h_zz)).tocsr()


def fix_phase(state: np.ndarray) -> np.ndarray:
    """Normalize ``state`` and make its largest-magnitude amplitude real positive (ties: first index)."""
    state = np.asarray(state, dtype=np.complex128)
    state = state / np.linalg.norm(state)
    mag = np.abs(state)
    i = int(np.flatnonzero(mag >= mag.max() * (1 - _PHASE_TIE_RTOL))[0])
    return state * (np.conj(state[i]) / mag[i])


def global_phases(n_samples: int, data_seed: int, which: str, n_qubits: int) -> np.ndarray:
    """e^{i phi}, phi uniform in [0, 2 pi), one per state of split ``which`` ('train' or 'val'), from the data seed."""
    part = {"train": 0, "val": 1}[which]
    g = np.random.default_rng(np.random.SeedSequence(int(data_seed), spawn_key=(_PHASE_STREAM, int(n_qubits), part)))
    return np.exp(1j * g.uniform(0.0, 2.0 * np.pi, n_samples))


@dataclass(frozen=True)
class GroundStates:
    """Ground states (rows, complex64, unit norm, phase fixed) of the XXZ chain at each Delta."""

    n_qubits: int
    deltas: np.ndarray
    states: np.ndarray
    energies: np.ndarray
    gaps: np.ndarray  # E1 - E0 within the space solved in (the Sz = 0 sector by default)
    solver: str
    seconds: float
    cache_file: str | None
    from_cache: bool


def solve_ground_states(n_qubits: int, deltas: np.ndarray, solver: str = "sector") -> tuple[np.ndarray, ...]:
    """(states, energies, gaps) at each Delta, computed without the cache."""
    if solver not in SOLVERS:
        raise QbenchError(f"unknown XXZ solver {solver!r}; known: {', '.join(SOLVERS)}")
    deltas = np.asarray(deltas, dtype=np.float64)
    sector = solver == "sector"
    if sector and np.any(deltas <= -1):
        # At Delta <= -1 the ground state leaves the Sz = 0 sector (ferromagnetic side).
        raise QbenchError("the Sz = 0 sector solver needs every Delta > -1; use solver='full'")
    basis, h_xy, h_zz = xxz_terms(n_qubits, sector=sector)
    dim = len(basis)
    v0 = np.random.default_rng(_V0_SEED).standard_normal(dim)
    states = np.zeros((len(deltas), 2**n_qubits), dtype=np.complex64)
    energies = np.empty(len(deltas))
    gaps = np.empty(len(deltas))
    with _single_thread_blas():
        for j, delta in enumerate(deltas):
            h = (h_xy + sp.diags(delta * h_zz)).tocsr()
            if dim <= 64:  # ARPACK needs k < dim; tiny chains are cheaper dense anyway
                w, v = np.linalg.eigh(h.toarray())
            else:
                w, v = eigsh(h, k=2, which="SA", v0=v0, tol=0)
                order = np.argsort(w)
                w, v = w[order], v[:, order]
            energies[j] = w[0]
            gaps[j] = w[1] - w[0]
            full = np.zeros(2**n_qubits, dtype=np.complex128)
            full[basis] = v[:, 0]
            states[j] = fix_phase(full).astype(np.complex64)
    return states, energies, gaps


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else $QBENCH_CACHE_DIR, else the platform's user cache directory for qbench."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("QBENCH_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("qbench"))


def _cache_key(n_qubits: int, deltas: np.ndarray, solver: str) -> str:
    # Deltas enter the key as integers (micro-units) so float formatting never changes the key.
    spec = {
        "n_qubits": int(n_qubits),
        "deltas_x1e6": [int(round(d * 1e6)) for d in deltas],
        "solver": solver,
        "solver_version": SOLVER_VERSION,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _load_cached(path: Path, n_qubits: int, deltas: np.ndarray, solver: str) -> dict | None:
    """The cached arrays if ``path`` holds a valid entry for exactly these parameters, else None."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError):
        return None
    n = len(deltas)
    try:
        ok = (
            int(data["solver_version"]) == SOLVER_VERSION
            and int(data["n_qubits"]) == n_qubits
            and str(data["solver"]) == solver
            and data["deltas"].shape == (n,)
            and np.array_equal(data["deltas"], deltas)
            and data["states"].shape == (n, 2**n_qubits)
            and data["states"].dtype == np.complex64
            and data["energies"].shape == (n,)
            and data["gaps"].shape == (n,)
            and bool(np.all(np.isfinite(data["energies"])))
            and np.allclose(np.linalg.norm(data["states"], axis=1), 1, atol=1e-5)
        )
    except (KeyError, ValueError, TypeError):
        return None
    return data if ok else None


def _save_atomic(path: Path, **arrays: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.savez(fh, **arrays), prefix=path.name + ".")


def ground_states(
    n_qubits: int,
    deltas: np.ndarray,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    solver: str = "sector",
) -> GroundStates:
    """Ground states at each Delta, read from the on-disk cache or computed and written there."""
    deltas = np.asarray(deltas, dtype=np.float64)
    path = None
    if use_cache:
        path = default_cache_dir(cache_dir) / f"xxz-L{n_qubits}-{solver}-v{SOLVER_VERSION}-{_cache_key(n_qubits, deltas, solver)}.npz"
        t0 = time.perf_counter()
        data = _load_cached(path, n_qubits, deltas, solver) if path.exists() else None
        if data is not None:
            return GroundStates(
                n_qubits, deltas, data["states"], data["energies"], data["gaps"], solver,
                time.perf_counter() - t0, str(path), True,
            )  # fmt: skip
    t0 = time.perf_counter()
    states, energies, gaps = solve_ground_states(n_qubits, deltas, solver)
    seconds = time.perf_counter() - t0
    if path is not None:
        try:
            _save_atomic(
                path, states=states, deltas=deltas, energies=energies, gaps=gaps,
                n_qubits=np.int64(n_qubits), solver=np.str_(solver), solver_version=np.int64(SOLVER_VERSION),
            )  # fmt: skip
        except WriteError as e:  # an unwritable cache costs time, not correctness
            warnings.warn(f"could not write the XXZ cache file {path}: {e}", stacklevel=2)
            path = None
    return GroundStates(n_qubits, deltas, states, energies, gaps, solver, seconds, str(path) if path else None, False)


def load_xxz(
    n_qubits: int = 12,
    data_seed: int = 0,
    *,
    cache_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    solver: str = "sector",
    phase: str = "random",
) -> TaskData:
    """The ``xxz-<L>`` task; ``data_dir`` is accepted and unused.

    The cache holds canonical states (largest-magnitude amplitude real positive). ``phase='random'``
    (protocol 2) gives every state a global phase e^{i phi} drawn from ``data_seed``, as an eigensolver
    leaves it; ``phase='fixed'`` keeps the canonical form (protocol 1, now an ablation). The phases
    travel beside the canonical states (``TaskData.phase_*``) and only the MLP's input applies them.
    """
    if phase not in PHASES:
        raise QbenchError(f"unknown xxz phase rule {phase!r}; known: {', '.join(PHASES)}")
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 4 or n_qubits % 2 \
            or n_qubits > MAX_QUBITS:
        raise QbenchError(f"xxz-<L> needs an even chain length 4 <= L <= {MAX_QUBITS}, got {n_qubits!r}")
    n_qubits = int(n_qubits)
    d_train, y_train = train_deltas()
    d_val, y_val = val_deltas()
    gs_train = ground_states(n_qubits, d_train, cache_dir=cache_dir, use_cache=use_cache, solver=solver)
    gs_val = ground_states(n_qubits, d_val, cache_dir=cache_dir, use_cache=use_cache, solver=solver)
    info = {
        "source": "exact diagonalization",
        "hamiltonian": "sum_i X_i X_{i+1} + Y_i Y_{i+1} + Delta Z_i Z_{i+1}, periodic",
        "n_qubits": n_qubits,
        "solver": solver,
        "solver_version": SOLVER_VERSION,
        "canonical_phase": "largest-magnitude amplitude real positive (first index on ties)",
        "phase": phase,
        "deltas_train": d_train.tolist(),
        "deltas_val": d_val.tolist(),
        "energies_train": gs_train.energies.tolist(),
        "energies_val": gs_val.energies.tolist(),
        "min_gap": float(min(gs_train.gaps.min(), gs_val.gaps.min())),
        "from_cache": gs_train.from_cache and gs_val.from_cache,
        "cache_files": [gs_train.cache_file, gs_val.cache_file],
        "seconds": gs_train.seconds + gs_val.seconds,
        "data_seed": int(data_seed),
    }
    return TaskData(
        name=f"xxz-{n_qubits}",
        n_qubits=n_qubits,
        x_train=gs_train.states,
        y_train=y_train,
        x_val=gs_val.states,
        y_val=y_val,
        info=info,
        phase_train=global_phases(len(d_train), data_seed, "train", n_qubits) if phase == "random" else None,
        phase_val=global_phases(len(d_val), data_seed, "val", n_qubits) if phase == "random" else None,
    )


@register_task("xxz-12")
def xxz_12(data_seed: int = 0, **options) -> TaskData:
    """The protocol's ``xxz-12``."""
    return load_xxz(12, data_seed, **options)
