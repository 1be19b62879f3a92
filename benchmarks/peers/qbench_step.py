"""qbench's QNN engine (the dense one, or the light-cone one where it applies) or the straightforward
TensorCircuit-NG build of the same circuit (``tc.Circuit`` gate by gate, ``K.vmap`` over the batch,
``expectation_ps``: qbench's ``reference_logits``), each as one XLA-compiled TF value+grad step: compile time
and step time; prints one JSON line.

    usage: qbench_step.py SHAPE REPS [qbench|cone|tcng]
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf
from common import SCALE, inputs, time_step

from qbench.models.qnn_circuit import make_logits_fn, reference_logits
from qbench.models.qnn_lightcone import make_logits_fn_cone, use_light_cone
from qbench.threads import tf_threads

ENGINES = {"qbench": "qbench dense engine (TC-NG conventions, TF + XLA, qnn_circuit.py)",
           "cone": "qbench light-cone engine (TF + XLA, qnn_lightcone.py)",
           "tcng": "TensorCircuit-NG tc.Circuit + K.vmap, TF + XLA (straightforward)"}


def main(shape: str, reps: int, engine: str = "qbench") -> None:
    n, d, x, y, theta = inputs(shape)
    cplx = np.iscomplexobj(x)
    if engine == "qbench":
        logits_fn = make_logits_fn(n, d, scale=SCALE, complex_input=cplx)
    elif engine == "cone":
        if not use_light_cone(n, d):
            print(json.dumps({"engine": ENGINES[engine], "shape": shape, "skipped": "the light cone is every qubit"}))
            return
        logits_fn = make_logits_fn_cone(n, d, scale=SCALE, complex_input=cplx)
    else:
        def logits_fn(th, xt):
            return reference_logits(th, xt, n, d, scale=SCALE)
    xt = tf.constant(x.astype(np.complex64 if cplx else np.float32))
    yt = tf.constant(y.astype(np.float32))

    @tf.function(jit_compile=True)
    def step(th):
        with tf.GradientTape() as tape:
            tape.watch(th)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yt, logits=logits_fn(th, xt)))
        return loss, tape.gradient(loss, th)

    th = tf.constant(theta.astype(np.float32))

    def run():
        loss, grad = step(th)
        return float(loss), grad.numpy()

    compile_s, step_s, (loss, grad) = time_step(run, reps)
    print(json.dumps({"engine": ENGINES[engine], "shape": shape, "compile_s": compile_s, "step_s": step_s,
                      "loss": loss, "grad_norm": float(np.linalg.norm(grad)),
                      "tf_threads": tf_threads()}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(sys.argv[3:4]))
