"""``qbench check method NAME``: what every unlearning method, built-in or plugin, must satisfy.

1. Its hyperparameters are a frozen dataclass whose every field has a default.
2. On a tiny synthetic task, for both models (an MLP and a 3-qubit QNN), ``setup`` runs and the
   objective at the starting parameters is a finite number with a finite gradient.
3. A change of each numeric hyperparameter (as ``--set METHOD.PARAM=VALUE`` would make) changes the
   parameters after a few steps of qbench's loop: no hyperparameter is dead.
4. ``setup`` is deterministic: the same seed gives the same tensors, bit for bit.

Each check gives one line; the first failure's reason is the error.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbench.methods import method_class
from qbench.methods.base import MASK_KEY, UnlearningMethod

#: steps of the loop for the hyperparameter check: enough for scrub_alternating's max/min phases to matter
STEPS = 6
SEED = 1234


@dataclass
class CheckLine:
    name: str
    passed: bool
    detail: str

    def render(self) -> str:
        return f"{'ok  ' if self.passed else 'FAIL'} {self.name}: {self.detail}"


@dataclass
class ConformanceReport:
    method: str
    lines: list[CheckLine] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(line.passed for line in self.lines)

    def reason(self) -> str:
        """The first failure, in one line (empty if every check passed)."""
        bad = next((line for line in self.lines if not line.passed), None)
        return "" if bad is None else f"method {self.method!r} fails {bad.name}: {bad.detail}"


def _tiny_task(input_dim: int) -> Any:
    """24 samples of unit vectors in ``input_dim`` features, label = sign of the first feature, 6 flipped."""
    from qbench.training.unlearn import UnlearnSets

    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, input_dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y_true = (x[:, 0] > 0).astype(np.int64)
    forget = np.arange(24) < 6
    y = y_true.copy()
    y[forget] = 1 - y[forget]
    return UnlearnSets(x[~forget], y[~forget], x[forget], y[forget], y_true[forget], x, y_true)


@functools.lru_cache(maxsize=None)
def _model(kind: str) -> Any:
    """The tiny model of ``kind``: an MLP (8 inputs, one hidden layer of 4) or a 3-qubit QNN of depth 2."""
    from qbench.models import get_model

    return get_model("mlp", hidden=(4,)).build(8) if kind == "mlp" else get_model("qnn", depth=2).build(8)


def _loop_data(model, sets, poisoned: np.ndarray) -> dict:
    """The data mapping the loop gives ``setup`` and ``objective`` (see qbench.training.unlearn.unlearn)."""
    import tensorflow as tf

    from qbench.training.trainer import predict_logits

    return {
        "x_retain": tf.constant(sets.x_retain), "y_retain": tf.constant(sets.y_retain, tf.float32),
        "x_forget": tf.constant(sets.x_forget), "y_forget": tf.constant(sets.y_forget, tf.float32),
        "teacher_retain": tf.constant(predict_logits(model, poisoned, sets.x_retain), tf.float32),
        "teacher_forget": tf.constant(predict_logits(model, poisoned, sets.x_forget), tf.float32),
        "teacher_theta": tf.constant(poisoned), "total_steps": tf.constant(STEPS, tf.int32),
    }


def _hp_tensors(method: UnlearningMethod) -> dict:
    import tensorflow as tf

    return {k: tf.constant(v, tf.float32) for k, v in method.numeric_hyperparameters().items()}


def check_hyperparameters(cls: type) -> CheckLine:
    name = "hyperparameters"
    hp = getattr(cls, "Hyperparameters", None)
    if not (isinstance(hp, type) and dataclasses.is_dataclass(hp)):
        return CheckLine(name, False, f"Hyperparameters ({hp!r}) is not a dataclass; use @dataclass(frozen=True)")
    if not hp.__dataclass_params__.frozen:
        return CheckLine(name, False, f"{hp.__name__} is a dataclass but not frozen; use @dataclass(frozen=True)")
    missing = [f.name for f in dataclasses.fields(hp)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        return CheckLine(name, False, f"{', '.join(missing)} without a default (defaults are the submitted values)")
    fields = ", ".join(f.name for f in dataclasses.fields(hp)) or "none"
    return CheckLine(name, True, f"a frozen dataclass with defaults ({fields})")


def check_objective(method: UnlearningMethod) -> CheckLine:
    """setup runs, and the objective and its gradient are finite at the start, for both models."""
    import tensorflow as tf

    from qbench.training.unlearn import SetupContext, run_setup

    name = "objective"
    out = []
    for kind in ("mlp", "qnn"):
        model = _model(kind)
        sets = _tiny_task(model.input_dim_)
        poisoned, fresh = model.init_params(1), model.init_params(2)
        data = _loop_data(model, sets, poisoned)
        hp = _hp_tensors(method)
        theta = tf.constant(fresh if method.from_scratch else poisoned)
        try:
            state, _ = run_setup(model, method, theta, data, hp, SetupContext(SEED, STEPS, model.n_params,
                                                                              model.init_params))
            with tf.GradientTape() as tape:
                tape.watch(theta)
                loss = method.objective(model.logits_fn, theta, {**data, **state}, hp, tf.constant(0, tf.int32))
            grad = tape.gradient(loss, theta)
        except Exception as exc:  # noqa: BLE001  (a method that raises fails the check, in one line)
            return CheckLine(name, False, f"{kind}: {type(exc).__name__}: {exc}")
        value = np.asarray(loss)
        if value.shape != ():
            return CheckLine(name, False, f"{kind}: the objective must be a scalar, got shape {value.shape}")
        if not np.isfinite(value):
            return CheckLine(name, False, f"{kind}: the objective is {float(value)} at the starting parameters")
        if grad is None:
            return CheckLine(name, False, f"{kind}: the objective does not depend on the parameters (no gradient)")
        if not np.all(np.isfinite(grad.numpy())):
            return CheckLine(name, False, f"{kind}: the objective's gradient is not finite")
        out.append(f"{kind} {float(value):.4g}")
    return CheckLine(name, True, f"finite, with a finite gradient ({', '.join(out)})")


def _changed(value: float | int) -> float | int:
    """A different value of a hyperparameter, as a user's --set might give."""
    if isinstance(value, int):
        return value // 2 if value > 1 else value + 1
    return value / 2 if value != 0 else 0.5


def _run(method: UnlearningMethod) -> np.ndarray:
    from qbench.training.unlearn import unlearn

    model = _model("mlp")
    sets = _tiny_task(model.input_dim_)
    res = unlearn(model, method, model.init_params(1), model.init_params(2), sets, steps=STEPS, lr=0.05,
                  method_seed=SEED)
    if res.status != "ok":
        raise RuntimeError(res.error)
    return res.params


def check_hyperparameters_matter(cls: type, method: UnlearningMethod) -> CheckLine:
    name = "hyperparameters matter"
    numeric = method.numeric_hyperparameters()
    if not numeric:
        return CheckLine(name, True, "no numeric hyperparameters")
    defaults = method.hyperparameters()
    try:
        base = _run(method)
    except Exception as exc:  # noqa: BLE001
        return CheckLine(name, False, f"the loop failed at the defaults: {exc}")
    shown = []
    for key in numeric:
        new = _changed(defaults[key])
        try:
            other = _run(cls(**{**defaults, key: new}))
        except Exception as exc:  # noqa: BLE001
            return CheckLine(name, False, f"{key}={new!r}: the loop failed: {exc}")
        if np.array_equal(base, other):
            return CheckLine(name, False, f"{key}: {defaults[key]!r} and {new!r} give the same parameters after "
                                          f"{STEPS} steps (an unused hyperparameter?)")
        shown.append(f"{key} {defaults[key]!r}->{new!r}")
    return CheckLine(name, True, f"each changes the result ({', '.join(shown)})")


def check_setup_deterministic(method: UnlearningMethod) -> CheckLine:
    import tensorflow as tf

    from qbench.training.unlearn import SetupContext, run_setup

    name = "setup deterministic"
    if type(method).setup is UnlearningMethod.setup:
        return CheckLine(name, True, "no setup")
    model = _model("mlp")
    sets = _tiny_task(model.input_dim_)
    poisoned = model.init_params(1)
    data, hp = _loop_data(model, sets, poisoned), _hp_tensors(method)

    def once() -> dict[str, np.ndarray]:
        ctx = SetupContext(SEED, STEPS, model.n_params, model.init_params)
        state, mask = run_setup(model, method, tf.constant(poisoned), data, hp, ctx)
        out = {k: np.asarray(v) for k, v in state.items()}
        if mask is not None:
            out[MASK_KEY] = mask.numpy()
        return out

    try:
        a, b = once(), once()
    except Exception as exc:  # noqa: BLE001
        return CheckLine(name, False, f"{type(exc).__name__}: {exc}")
    differ = sorted(k for k in set(a) | set(b) if k not in a or k not in b or not np.array_equal(a[k], b[k]))
    if differ:
        return CheckLine(name, False, f"two calls with seed {SEED} differ in {', '.join(differ)}; draw randomness "
                                      "only from context.seed")
    return CheckLine(name, True, f"the same seed gives the same {', '.join(sorted(a)) or 'state (empty)'}")


def check_method(spec: str | type) -> ConformanceReport:
    """Run every check on the method named ``spec`` (registered name, plugin name or module:attribute), or
    on a method class."""
    cls = method_class(spec) if isinstance(spec, str) else spec
    report = ConformanceReport(spec if isinstance(spec, str) else cls.__qualname__)
    report.lines.append(check_hyperparameters(cls))
    if not report.passed:
        return report  # the other checks need an instance
    method = cls()
    report.lines.append(check_objective(method))
    report.lines.append(check_hyperparameters_matter(cls, method))
    report.lines.append(check_setup_deterministic(method))
    return report
