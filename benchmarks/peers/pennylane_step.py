"""PennyLane on the same circuit: ``default.qubit`` (JAX, backprop, jax.jit) or ``lightning.qubit``
(adjoint differentiation, complex64). Prints one JSON line like qbench_step.py."""

from __future__ import annotations

import json
import sys

import numpy as np
import pennylane as qml
from common import SCALE, inputs, split, time_step


def circuit_body(x, rot, zz, n, d):
    qml.AmplitudeEmbedding(x, wires=range(n), normalize=False)
    for layer in range(d):
        for q in range(n):
            qml.RX(rot[layer, q, 0], wires=q)
            qml.RY(rot[layer, q, 1], wires=q)
            qml.RX(rot[layer, q, 2], wires=q)
        for j in range(n):
            qml.IsingZZ(zz[layer, j], wires=[j, (j + 1) % n])  # exp(-i t/2 ZZ), as TensorCircuit's rzz
    return qml.expval(qml.PauliZ(n - 1))


def run_jax(shape: str, reps: int) -> dict:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", False)
    n, d, x, y, theta = inputs(shape)
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def circuit(xb, rot, zz):
        return circuit_body(xb, rot, zz, n, d)

    xj = jnp.asarray(x.astype(np.complex64 if np.iscomplexobj(x) else np.float32))
    yj = jnp.asarray(y.astype(np.float32))

    def loss_fn(th):
        k = d * n * 3
        z = circuit(xj, th[:k].reshape(d, n, 3), th[k:].reshape(d, n))
        logits = SCALE * z
        return jnp.mean(jnp.maximum(logits, 0) - logits * yj + jnp.log1p(jnp.exp(-jnp.abs(logits))))

    step = jax.jit(jax.value_and_grad(loss_fn))
    th = jnp.asarray(theta.astype(np.float32))

    def run():
        loss, grad = step(th)
        return float(loss.block_until_ready()), np.asarray(grad)

    compile_s, step_s, (loss, grad) = time_step(run, reps)
    return {"engine": "PennyLane default.qubit (JAX, backprop, jit)", "compile_s": compile_s,
            "step_s": step_s, "loss": loss, "grad_norm": float(np.linalg.norm(grad))}


def run_lightning(shape: str, reps: int) -> dict:
    from pennylane import numpy as pnp

    n, d, x, y, theta = inputs(shape)
    dev = qml.device("lightning.qubit", wires=n, c_dtype=np.complex64)

    @qml.qnode(dev, interface="autograd", diff_method="adjoint")
    def circuit(xb, rot, zz):
        return circuit_body(xb, rot, zz, n, d)

    rot0, zz0 = split(theta, n, d)

    def loss_fn(rot, zz):
        z = circuit(x, rot, zz)
        logits = SCALE * z
        return pnp.mean(pnp.maximum(logits, 0) - logits * y + pnp.log1p(pnp.exp(-pnp.abs(logits))))

    grad_fn = qml.grad(loss_fn, argnums=[0, 1])
    rot, zz = pnp.array(rot0, requires_grad=True), pnp.array(zz0, requires_grad=True)

    def step():
        return float(loss_fn(rot, zz)), grad_fn(rot, zz)

    compile_s, step_s, (loss, grads) = time_step(step, reps)
    g = np.concatenate([np.ravel(grads[0]), np.ravel(grads[1])])
    return {"engine": "PennyLane lightning.qubit (adjoint, complex64)", "compile_s": compile_s,
            "step_s": step_s, "loss": loss, "grad_norm": float(np.linalg.norm(g))}


if __name__ == "__main__":
    engine, shape, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = (run_jax if engine == "default-jax" else run_lightning)(shape, reps)
    print(json.dumps({**out, "shape": shape}))
