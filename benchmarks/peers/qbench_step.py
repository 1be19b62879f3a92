"""qbench's QNN engine: compile time and step time (loss + gradient, whole batch); prints one JSON line."""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf
from common import SCALE, inputs, time_step

from qbench.models.qnn_circuit import make_logits_fn


def main(shape: str, reps: int) -> None:
    n, d, x, y, theta = inputs(shape)
    cplx = np.iscomplexobj(x)
    logits_fn = make_logits_fn(n, d, scale=SCALE, complex_input=cplx)
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
    print(json.dumps({"engine": "qbench (TC-NG, TF + XLA)", "shape": shape, "compile_s": compile_s,
                      "step_s": step_s, "loss": loss, "grad_norm": float(np.linalg.norm(grad))}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
