"""Exact diagonalization of the XXZ chain (uncached) and MNIST loading."""

import os
from pathlib import Path


class XXZGroundStates:
    params = [8, 12]
    param_names = ["L"]
    timeout = 600
    number = 1
    repeat = (1, 3, 60.0)

    def time_all_protocol_deltas(self, L):
        import numpy as np

        from qbench.tasks.xxz import solve_ground_states, train_deltas, val_deltas

        deltas = np.concatenate([train_deltas()[0], val_deltas()[0]])
        solve_ground_states(L, deltas)


class MNISTLoad:
    timeout = 120

    def setup(self):
        d = os.environ.get("QBENCH_DATA_DIR") or str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
        if not Path(d).is_dir():
            raise NotImplementedError("MNIST IDX files not available (set QBENCH_DATA_DIR)")
        self.dir = d

    def time_load_and_verify(self):
        from qbench.tasks.mnist import _load_dir_cached, load_mnist_arrays

        _load_dir_cached.cache_clear()
        load_mnist_arrays(self.dir)
