"""qbench's compiled steps kept traced on disk (qbench.training.trace_store): a step stored and loaded again
gives the traced step's numbers bit for bit, and a warm process neither traces nor compiles, whatever it ran
before."""

import os
import subprocess
import sys

import numpy as np
import pytest

from qbench.models import get_model
from qbench.models.qnn import QNN
from qbench.training import compiled, trace_store
from qbench.xla_cache import FLAG, xla_cache_dir
from tests.test_step_bits import _model, train_steps


@pytest.fixture
def store_on(tmp_path, monkeypatch):
    """The store in ``tmp_path/traced`` (the session's XLA cache keeps the executables)."""
    monkeypatch.setenv("QBENCH_XLA_CACHE", "1")
    monkeypatch.setenv("TF_XLA_FLAGS", f"{FLAG}={tmp_path}")
    compiled.clear_cache()
    yield tmp_path / "traced"
    compiled.clear_cache()


def test_a_step_stored_then_loaded_gives_the_traced_steps_numbers(store_on, monkeypatch):
    case = "noisy-n4-d2"
    with monkeypatch.context() as off:
        off.setenv("QBENCH_XLA_CACHE", "0")
        compiled.clear_cache()
        plain = train_steps(case)
        assert not isinstance(compiled.step_fn(_model(case)), trace_store.StoredFunction)
    for made, traces in (("traced and stored", 1), ("loaded", 0), ("traced again", 1)):
        compiled.clear_cache()  # as in a new process
        got = train_steps(case)
        step = compiled.step_fn(_model(case))
        assert isinstance(step, trace_store.StoredFunction) and step.experimental_get_tracing_count() == traces, made
        np.testing.assert_array_equal(got, plain)
        (stored,) = store_on.glob("*.npz")
        if made == "loaded":
            stored.write_bytes(b"not a stored step")  # unreadable: traced again and written anew
    assert stored.stat().st_size > 1000


def test_only_qbench_models_under_xla_are_stored(store_on):
    class Outside(QNN):  # a plugin's code is not in the store's key
        kind = "outside-qnn"

    stored = [isinstance(compiled.step_fn(m), trace_store.StoredFunction)
              for m in (get_model("qnn", depth=1).build(4), Outside(depth=1).build(4), get_model("mlp").build(4))]
    assert stored == [True, False, False]


_CHILD = """
import sys
import numpy as np, tensorflow as tf
from qbench.xla_cache import enable_xla_cache
enable_xla_cache(sys.argv[1])
for i in range(int(sys.argv[2])):  # functions traced first move TensorFlow's function counter
    tf.function(lambda a, i=i: a + i)(tf.constant(1.0))
from qbench.models import get_model
from qbench.training import compiled, trace_store
if sys.argv[3] == "edited":  # as after an edit of qbench's source: another key, the same graph
    trace_store._SOURCE.append("edited")
model = get_model("qnn", depth=2).build(16)
step = compiled.step_fn(model)
theta = tf.constant(model.init_params(0))
z = tf.zeros_like(theta)
out = step(theta, z, z, tf.constant(0.0), tf.constant(np.full((8, 16), 0.25, np.float32)), tf.zeros(8),
           np.arange(8, dtype=np.int32), np.ones(8, np.float32), tf.constant(0.01), tf.constant([0.9, 0.999, 1e-7]))
print(step.experimental_get_tracing_count(), out[0].numpy().tobytes().hex())
"""


def test_a_warm_process_neither_traces_nor_compiles_whatever_ran_before(tmp_path):
    """TensorFlow names a traced function by a process-wide counter, and XLA's persistent cache key holds the
    name: a stored step runs under a name its graph decides, so the executable is found after any history,
    and after an edit of qbench that leaves the graph as it was."""
    env = {**os.environ, "QBENCH_XLA_CACHE": "1"}
    env.pop("TF_XLA_FLAGS", None)

    def run(traced_before: int, source: str = "as is") -> list[str]:
        return subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), str(traced_before), source], env=env,
                              check=True, capture_output=True, text=True, timeout=600).stdout.split()

    def executables() -> dict:
        return {p.name: p.stat().st_mtime_ns for p in xla_cache_dir(tmp_path).glob("*.pb")}

    def stored() -> int:
        return len(list((xla_cache_dir(tmp_path) / "traced").glob("*.npz")))

    cold = run(0)
    written = executables()
    assert cold[0] == "1" and len(written) == 1 and stored() == 1
    assert run(3) == ["0", cold[1]]  # loaded, not traced: the same numbers
    assert executables() == written  # loaded, not compiled again under another key
    assert run(0, "edited") == ["1", cold[1]] and stored() == 2  # traced again and stored under the new key...
    assert executables() == written  # ...but not compiled
