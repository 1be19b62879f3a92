"""QNN training step and forward pass at the protocol's shapes, and their compilation."""

import time

import numpy as np

from .common import QNN_SHAPES, TrainStep, labels, reference_workload, unit_vectors


def _model(shape):
    from qbench.models import get_model

    n, depth, batch, complex_ = QNN_SHAPES[shape]
    return get_model("qnn", depth=depth).build(2**n, complex_input=complex_), n, batch, complex_


class QNNStep:
    params = ["mnist", "xxz"]
    param_names = ["shape"]
    timeout = 600
    number = 5
    repeat = (3, 10, 60.0)

    def setup(self, shape):
        model, n, batch, complex_ = _model(shape)
        self.step = TrainStep(model, unit_vectors(batch, 2**n, complex_), labels(batch))
        self.step()  # trace and compile outside the timing

    def time_train_step(self, shape):
        self.step()

    def peakmem_train_step(self, shape):
        self.step()

    def track_step_over_reference(self, shape):
        """Step time divided by a fixed matmul workload timed in the same process."""
        times = []
        for _ in range(10):
            t = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - t)
        return float(np.median(times)) / reference_workload()

    track_step_over_reference.unit = "ratio"


class QNNForward:
    params = ["mnist", "xxz"]
    param_names = ["shape"]
    timeout = 600

    def setup(self, shape):
        import tensorflow as tf

        from qbench.training import compiled

        model, n, _, complex_ = _model(shape)
        self.fn = compiled.logits_fn(model)
        self.theta = tf.constant(model.init_params(0))
        self.x = tf.constant(unit_vectors(256, 2**n, complex_))
        self.fn(self.theta, self.x).numpy()

    def time_forward_256(self, shape):
        self.fn(self.theta, self.x).numpy()


def _first_step(shape: str, cache_dir_expr: str | None = None) -> tuple[str, str]:
    """(stmt, setup) of a fresh process's first call of the compiled training step: tracing + XLA, or,
    with XLA's persistent cache in the directory the Python expression ``cache_dir_expr`` names,
    tracing + a compile (cold) or loading the stored trace and the cached executable (warm).
    ``setup`` (untimed) imports and builds."""
    n, depth, batch, complex_ = QNN_SHAPES[shape]
    cache = "" if cache_dir_expr is None else (
        f"import tempfile\nfrom qbench.xla_cache import enable_xla_cache\nenable_xla_cache({cache_dir_expr})\n")
    setup = cache + f"""
import numpy as np, tensorflow as tf
from qbench.models import get_model
from qbench.training import compiled
model = get_model("qnn", depth={depth}).build({2**n}, complex_input={complex_})
x = (np.ones(({batch}, {2**n})) / np.sqrt({2**n})).astype(np.{'complex64' if complex_ else 'float32'})
theta = tf.constant(model.init_params(0))
z = tf.zeros_like(theta)
"""
    stmt = f"""
compiled.step_fn(model)(theta, z, z, tf.constant(0.0), tf.constant(x), tf.zeros({batch}),
    np.arange({batch}, dtype=np.int32), np.ones({batch}, np.float32), tf.constant(0.01),
    tf.constant([0.9, 0.999, 1e-7]))[0].numpy()
"""
    return stmt, setup


#: the device-noise options (PROTOCOL 2.1) at the noise suite's levels
NOISE_OPTIONS = {"shots": {"shots": 1000}, "depolarizing": {"depolarizing": 1e-2}, "readout": {"readout": 1e-2},
                 "combined": {"shots": 1000, "depolarizing": 1e-2, "readout": 1e-2}}


class QNNNoise:
    """Training step and 256-sample evaluation with each device-noise option (compare with QNNStep and
    QNNForward: the noiseless ones)."""

    params = (["mnist", "xxz"], list(NOISE_OPTIONS))
    param_names = ["shape", "noise"]
    timeout = 900
    number = 3
    repeat = (3, 7, 60.0)

    def setup(self, shape, noise):
        import tensorflow as tf

        from qbench.models import get_model
        from qbench.training import compiled

        n, depth, batch, complex_ = QNN_SHAPES[shape]
        model = get_model("qnn", depth=depth, **NOISE_OPTIONS[noise]).build(2**n, complex_input=complex_)
        self.step = TrainStep(model, unit_vectors(batch, 2**n, complex_), labels(batch))
        self.step()
        self.fn = compiled.logits_fn(model)
        self.args = (tf.constant(model.init_params(0)), tf.constant(unit_vectors(256, 2**n, complex_)),
                     tf.constant(model.noise_key("eval", 0)))
        self.fn(*self.args).numpy()

    def time_train_step(self, shape, noise):
        self.step()

    def time_evaluate_256(self, shape, noise):
        self.fn(*self.args).numpy()




class QNNCompile:
    """First call of the compiled training step in a fresh process (tracing + XLA)."""

    params = ["mnist", "xxz"]
    param_names = ["shape"]
    timeout = 900
    number = 1
    repeat = 1

    def timeraw_compile_train_step(self, shape):
        stmt, setup = _first_step(shape)
        return setup + stmt

    def timeraw_import_only(self, shape):
        """The floor of the compile benchmark: a fresh process importing qbench and TensorFlow."""
        return "import tensorflow as tf\nfrom qbench.models import get_model\nfrom qbench.training import compiled\n"


class QNNFirstStepCold:
    """What a new user waits for at the first QNN training step (imports aside): a fresh process
    with XLA's persistent cache on but empty."""

    params = ["mnist", "xxz"]
    param_names = ["shape"]
    timeout = 900
    number = 1
    repeat = 1

    def setup(self, shape):
        import tempfile

        self.root = tempfile.mkdtemp(prefix="qbench-asv-cold-")

    def teardown(self, shape):
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)

    def timeraw_first_step_cold(self, shape):
        return _first_step(shape, f"tempfile.mkdtemp(dir={self.root!r})")  # a new, empty one per sample


class QNNFirstStepWarm:
    """The same with the cache warm (filled by ``setup``'s run of the same step): the traced step is
    loaded from the cache too (``qbench.training.trace_store``), so what is left is TensorFlow's graph
    passes, lowering to HLO, loading the executable and the first run (the issue's target: <= 3 s)."""

    params = ["mnist", "xxz"]
    param_names = ["shape"]
    timeout = 900
    number = 1
    repeat = 2

    def setup(self, shape):
        import subprocess
        import sys
        import tempfile

        self.cache = tempfile.mkdtemp(prefix=f"qbench-asv-xla-{shape}-")
        stmt, setup = _first_step(shape, repr(self.cache))
        subprocess.run([sys.executable, "-c", setup + stmt], check=True)

    def teardown(self, shape):
        import shutil

        shutil.rmtree(self.cache, ignore_errors=True)

    def timeraw_first_step_warm(self, shape):
        return _first_step(shape, repr(self.cache))
