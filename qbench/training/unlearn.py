"""The one unlearning loop: fresh Adam, full-batch steps of a method's objective, metrics every step.

The method supplies ``objective`` (and, optionally, ``setup``: state made once before the first step,
with a mask of the parameters a step may update); this loop owns the optimizer, the compiled step, the
metrics and the clock, and stops a run that produces non-finite parameters or exceeds its time budget.
A method whose objective is the built-in weighted terms (``shared_terms()``, every built-in) runs on
the one step all of them share (:mod:`qbench.training.generic_objective`): one trace and compilation per
model and data shape for a run of every built-in method. A free-form objective (a plugin) gets its own
step, one per model shape and method structure; both are reused across seeds and hyperparameter values.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import tensorflow as tf

from qbench import watchdog
from qbench.models.base import BinaryModel
from qbench.setup_context import SetupContext  # noqa: F401  (the methods' API, defined without TensorFlow)
from qbench.training import compiled, generic_objective
from qbench.training.adam import adam_update
from qbench.training.trainer import predict_logits


class Objective(Protocol):
    name: str
    from_scratch: bool

    def objective(self, logits_fn, theta, data, hp, step) -> tf.Tensor: ...
    def numeric_hyperparameters(self) -> dict[str, float]: ...
    def structural_hyperparameters(self) -> dict[str, Any]: ...
    # optional: def setup(self, logits_fn, theta0, data, hp, context) -> dict[str, tensor]
    # optional: def shared_terms(self) -> generic_objective.Terms | None


#: the entry of a method's ``setup`` result that masks the update (the same as qbench.methods.base.MASK_KEY)
MASK_KEY = "update_mask"


@dataclass(frozen=True)
class UnlearnSets:
    """Model inputs of the unlearning data; ``y_forget`` are the polluted labels, ``y_forget_clean`` the true ones."""

    x_retain: np.ndarray
    y_retain: np.ndarray
    x_forget: np.ndarray
    y_forget: np.ndarray
    y_forget_clean: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@dataclass
class UnlearnResult:
    metrics: list[dict[str, float]]  # index = step (0 = before unlearning)
    params: np.ndarray
    status: str = "ok"
    error: str | None = None
    compile_s: float = 0.0
    setup_s: float = 0.0
    extras: dict = field(default_factory=dict)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # step -> parameters (``keep_every``)


class StepFailure(Exception):
    pass


def _step_factory(model: BinaryModel, method: Objective, masked: bool = False) -> Callable:
    noisy_fn = model.noisy_logits_fn(training=True) if model.noisy else None

    @tf.function(jit_compile=compiled.use_xla(model), reduce_retracing=False)
    def step_fn(theta, m, v, t, data, hp, step, lr, adam, *mask_and_key):
        mask = mask_and_key[:1] if masked else ()
        logits_fn = model.logits_fn if noisy_fn is None else compiled.keyed(noisy_fn, mask_and_key[-1])
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = method.objective(logits_fn, theta, data, hp, step)
        grad = tape.gradient(loss, theta)
        if masked:
            # a zero gradient keeps Adam's moments at zero, so a frozen entry moves by exactly 0
            grad = tf.where(mask[0] > 0, grad, tf.zeros_like(grad))
        theta, m, v, t = adam_update(theta, grad, m, v, t, lr, adam)
        return theta, m, v, t, loss

    return step_fn


def step_fn_for(model: BinaryModel, method: Objective, masked: bool = False) -> Callable:
    """The compiled step of a free-form ``objective``, keyed by the method's class and structural
    hyperparameters (a mask changes the graph too)."""
    structure = json.dumps(method.structural_hyperparameters(), sort_keys=True, default=str)
    cls = type(method)
    name = f"unlearn:{cls.__module__}.{cls.__qualname__}:{structure}" + (":masked" if masked else "")
    return compiled.cached(model, name, lambda m: _step_factory(m, method, masked))


def shared_terms(method: Objective) -> generic_objective.Terms | None:
    """The built-in terms of ``method``'s objective, or None where it is free-form."""
    terms = getattr(method, "shared_terms", None)
    return terms() if terms is not None else None


def run_setup(model: BinaryModel, method: Objective, theta0: tf.Tensor, data: dict, hp: dict,
              context: SetupContext) -> tuple[dict[str, tf.Tensor], tf.Tensor | None]:
    """A method's ``setup`` state (tensors to add to ``data``) and its update mask (None: no mask)."""
    setup = getattr(method, "setup", None)
    state = dict(setup(model.logits_fn, theta0, data, hp, context) or {}) if setup is not None else {}
    mask = state.pop(MASK_KEY, None)
    clash = sorted(set(state) & set(data))
    if clash:
        raise ValueError(f"setup returned {', '.join(clash)}, which the loop's data already holds; rename them")
    state = {k: tf.convert_to_tensor(v) for k, v in state.items()}
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float32)
        if mask.shape != (model.n_params,) or not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"setup's {MASK_KEY!r} must be 0/1 with one entry per parameter "
                             f"({model.n_params}), got shape {mask.shape}")
        mask = tf.constant(mask)
    return state, mask


#: ``evaluate(theta, names)``: metrics at parameters ``theta`` (``names`` None: all the evaluator computes);
#: the loop takes it from its caller (:func:`qbench.metrics.evaluate.evaluator`): training comes before metrics
Evaluator = Callable[[np.ndarray, "tuple[str, ...] | None"], "dict[str, float | None]"]


def unlearn(
    model: BinaryModel,
    method: Objective,
    poisoned: np.ndarray,
    fresh: np.ndarray,
    sets: UnlearnSets,
    *,
    steps: int,
    lr: float,
    adam: tuple[float, float, float] = (0.9, 0.999, 1e-7),
    step_budget_s: float | None = None,
    evaluate: Evaluator | None = None,
    curves: tuple[str, ...] | None = None,
    method_seed: int = 0,
    keep_every: int | None = None,
    curve_every: int = 1,
) -> UnlearnResult:
    """Run ``steps`` full-batch steps of ``method`` from the poisoned (or, for retrain, fresh) parameters.

    ``wall_s`` in the metrics is the cumulative time spent in steps, excluding evaluation, the method's
    ``setup`` (reported as ``setup_s``, with ``method_seed`` its seed) and the one-off compilation of
    the step (reported as ``compile_s``). ``evaluate`` gives the metrics (none but the loss and the
    clock without it): step 0 and the last step get all of its metrics, the steps between only those in
    ``curves`` (default all; a sweep that keeps only some curves need not pay for the rest at every step),
    and only after every ``curve_every``-th step (the others get none: a noisy model's evaluation can cost
    more than its step). ``keep_every``: keep the
    parameters after every ``keep_every``-th step in ``result.snapshots`` (for metrics computed after
    the run at a few steps, such as the membership-inference attack).
    """
    teacher = np.array(poisoned, dtype=np.float32, copy=True)
    teacher.setflags(write=False)
    cast = tf.complex64 if model.complex_input_ else tf.float32
    data = {
        "x_retain": tf.constant(sets.x_retain, cast),
        "y_retain": tf.constant(sets.y_retain, tf.float32),
        "x_forget": tf.constant(sets.x_forget, cast),
        "y_forget": tf.constant(sets.y_forget, tf.float32),
        "teacher_retain": tf.constant(predict_logits(model, teacher, sets.x_retain), tf.float32),
        "teacher_forget": tf.constant(predict_logits(model, teacher, sets.x_forget), tf.float32),
        "teacher_theta": tf.constant(teacher, tf.float32),
        "total_steps": tf.constant(steps, tf.int32),
    }
    hp = {k: tf.constant(v, tf.float32) for k, v in method.numeric_hyperparameters().items()}
    start = np.array(fresh if method.from_scratch else teacher, dtype=np.float32)
    theta = tf.constant(start)
    m, v, t = tf.zeros_like(theta), tf.zeros_like(theta), tf.constant(0.0)
    lr_t, adam_t = tf.constant(lr, tf.float32), tf.constant(adam, tf.float32)

    def measured(theta: np.ndarray, names: tuple[str, ...] | None) -> dict:
        return {} if evaluate is None else evaluate(theta, names)

    metrics = [{**measured(start, None), "wall_s": 0.0, "loss": None}]  # no step, no loss
    result = UnlearnResult(metrics, start)
    t0 = time.perf_counter()
    watchdog.setup_started(step_budget_s)
    try:
        context = SetupContext(int(method_seed), int(steps), model.n_params, model.init_params)
        state, mask = run_setup(model, method, theta, data, hp, context)
    except Exception as exc:  # noqa: BLE001  (a method whose setup raises fails its run, not the suite)
        watchdog.step_ended()
        result.extras["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        return _failed(result, f"setup: {type(exc).__name__}: {exc}")
    watchdog.step_ended()
    result.setup_s = time.perf_counter() - t0
    data.update(state)
    noise_purpose = f"unlearn:{method.name}"
    try:
        terms = shared_terms(method)
        if terms is not None:
            inputs = generic_objective.step_inputs(terms, data, mask, model.n_params)
    except Exception as exc:  # noqa: BLE001  (a method whose terms are bad fails its run, not the suite)
        return _failed(result, f"terms: {type(exc).__name__}: {exc}")
    if terms is not None:
        shared = generic_objective.step_fn(model)

        def step_fn(theta, m, v, t, s, *key):
            return shared(theta, m, v, t, inputs, s, lr_t, adam_t, *key)
    else:
        own, extra = step_fn_for(model, method, masked=mask is not None), () if mask is None else (mask,)

        def step_fn(theta, m, v, t, s, *key):
            return own(theta, m, v, t, data, hp, s, lr_t, adam_t, *extra, *key)
    elapsed = 0.0
    for s in range(steps):
        t0 = time.perf_counter()
        watchdog.step_started(s, step_budget_s)
        try:
            key = (tf.constant(model.noise_key(noise_purpose, s)),) if model.noisy else ()
            theta, m, v, t, loss = step_fn(theta, m, v, t, tf.constant(s, tf.int32), *key)
            params = theta.numpy()
        except Exception as exc:  # noqa: BLE001  (a method that raises fails its run, not the suite)
            watchdog.step_ended()
            result.extras["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
            return _failed(result, f"step {s}: {type(exc).__name__}: {exc}")
        watchdog.step_ended()
        dt = time.perf_counter() - t0
        if s == 0:
            result.compile_s = dt  # the first call traces and compiles; timed separately
        else:
            elapsed += dt
        if not np.all(np.isfinite(params)):
            return _failed(result, f"step {s}: non-finite parameters")
        if step_budget_s is not None and s > 0 and dt > step_budget_s:
            return _failed(result, f"step {s}: took {dt:.2f} s, over the step budget of {step_budget_s} s")
        # step 0's time is its compile; charge it the mean of later steps once known (see below)
        names = None if s == steps - 1 else curves if (s + 1) % curve_every == 0 else ()
        metrics.append({**measured(params, names), "wall_s": elapsed, "loss": float(loss)})
        result.params = params
        if keep_every and (s + 1) % keep_every == 0:
            result.snapshots[s + 1] = params
    if steps > 1:
        per_step = elapsed / (steps - 1)
        for i, rec in enumerate(metrics[1:], 1):
            rec["wall_s"] = rec["wall_s"] + per_step  # add the estimated cost of step 0
    return result


def _failed(result: UnlearnResult, why: str) -> UnlearnResult:
    result.status, result.error = "failed", why
    return result
