"""The unlearning-method API.

A method is a small object with frozen hyperparameters and one objective: given the model's pure
function, the current parameters and the unlearning data (retain set, polluted forget set, and the
frozen teacher's logits on both), return the scalar loss of one full-batch step. The loop, the
optimizer (a fresh Adam), the metrics and the clock belong to qbench, so every method, built-in or
plugin, is measured identically.

A method may also prepare state once, before the first step (``setup``): from the starting
parameters, the data and a :class:`~qbench.methods.SetupContext` (its own seed, the number of
steps, fresh random initializations of the model) it returns named tensors, which reach ``objective``
in ``data`` under those names; the entry :data:`MASK_KEY`, if present, is instead a fixed 0/1 vector
over the parameters, and a step then updates only the entries where it is 1 (the others stay exactly
at their starting value).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

# TensorFlow is imported where a loss is computed, not here: listing methods and their
# hyperparameters (``qbench list``, argument checks) must not start it.
if TYPE_CHECKING:
    import tensorflow as tf

LogitsFn = Callable[["tf.Tensor", "tf.Tensor"], "tf.Tensor"]

#: tensors an objective receives (all full sets; labels float32 in {0, 1})
#: ``teacher_theta``: the frozen poisoned parameters, for a method that must evaluate the teacher in
#: the step's own graph (bit-identical to the student where they are equal; see scrub_alternating)
#: ``total_steps``: the run's number of steps (an int32 scalar), for schedules over the run
DATA_KEYS = ("x_retain", "y_retain", "x_forget", "y_forget", "teacher_retain", "teacher_forget", "teacher_theta",
             "total_steps")
#: the entry of ``setup``'s result that restricts which parameters a step updates (1: updated, 0: frozen)
MASK_KEY = "update_mask"


@dataclasses.dataclass(frozen=True)
class NoHyperparameters:
    pass


class UnlearningMethod:
    """Base class of unlearning methods; subclass, set ``Hyperparameters``, implement ``objective``.

    * ``Hyperparameters``: a frozen dataclass whose defaults are the method's documented values.
      Numeric fields reach ``objective`` as scalar tensors (a sweep over them reuses one compiled
      step); other fields (strings, bools) are structural and fixed at compile time.
    * ``from_scratch``: start from a fresh initialization (``retrain``) instead of the poisoned model.
    * ``setup`` (optional): state prepared once before the first step; see the module docstring.
    """

    name: ClassVar[str] = ""
    Hyperparameters: ClassVar[type] = NoHyperparameters
    from_scratch: ClassVar[bool] = False

    def __init__(self, **hyperparameters: Any):
        names = {f.name for f in dataclasses.fields(self.Hyperparameters)}
        unknown = sorted(set(hyperparameters) - names)
        if unknown:
            raise ValueError(
                f"{self.name or type(self).__name__}: unknown hyperparameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names)) or '(none)'}"
            )
        self.hp = self.Hyperparameters(**hyperparameters)

    def objective(
        self,
        logits_fn: LogitsFn,
        theta: tf.Tensor,
        data: Mapping[str, tf.Tensor],
        hp: Mapping[str, Any],
        step: tf.Tensor,
    ) -> tf.Tensor:
        """Scalar loss to minimize at unlearning step ``step`` (0-based, an int32 tensor)."""
        raise NotImplementedError

    def setup(
        self,
        logits_fn: LogitsFn,
        theta0: tf.Tensor,
        data: Mapping[str, tf.Tensor],
        hp: Mapping[str, Any],
        context: Any,
    ) -> dict[str, Any]:
        """Tensors made once before the first step, added to ``data`` under their names (none by default).

        ``theta0``: the starting parameters; ``context``: a :class:`qbench.methods.SetupContext`
        (``seed``, ``steps``, ``init_params(seed)``). Must be deterministic for a given ``context.seed``.
        A ``MASK_KEY`` entry (0/1, one per parameter) restricts the update to the parameters marked 1.
        """
        return {}

    def shared_terms(self) -> Any:
        """The objective as the built-in terms (:class:`qbench.training.generic_objective.Terms`), which the
        loop compiles into the one step every built-in method shares; None: ``objective`` is free-form
        and gets its own compiled step."""
        return None

    # -- plumbing used by the loop --------------------------------------------------------
    def numeric_hyperparameters(self) -> dict[str, float]:
        return {k: float(v) for k, v in dataclasses.asdict(self.hp).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def structural_hyperparameters(self) -> dict[str, Any]:
        numeric = self.numeric_hyperparameters()
        return {k: v for k, v in dataclasses.asdict(self.hp).items() if k not in numeric}

    def hyperparameters(self) -> dict[str, Any]:
        return dataclasses.asdict(self.hp)


class WeightedTerms(UnlearningMethod):
    """A method whose objective is a weighted sum of the built-in terms (CE and KL to a teacher on the
    retain and forget sets, an L1 penalty; :mod:`qbench.training.generic_objective`): implement
    ``terms()``. Every such method shares one compiled step per model shape, whatever its weights; a
    subclass that overrides ``objective`` gets its own step instead."""

    def terms(self) -> Any:
        """This method's :class:`qbench.training.generic_objective.Terms`, from ``self.hp``."""
        raise NotImplementedError

    def shared_terms(self) -> Any:
        return self.terms() if type(self).objective is WeightedTerms.objective else None

    def objective(self, logits_fn, theta, data, hp, step):
        from qbench.training.generic_objective import generic_loss, step_inputs

        return generic_loss(logits_fn, theta, step_inputs(self.terms(), data, None, int(theta.shape[0])), step)


# -- loss helpers every method may use ----------------------------------------------------
def mean_bce(logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean binary cross-entropy of labels y under sigmoid(logits)."""
    from qbench.training.generic_objective import mean_bce

    return mean_bce(logits, y)


def bernoulli_kl(teacher_logits: tf.Tensor, student_logits: tf.Tensor, form: str = "bernoulli") -> tf.Tensor:
    """Mean over samples of KL(teacher || student) between Bernoulli outputs.

    ``form='bernoulli'``: p_t log(p_t/p_s) + (1-p_t) log((1-p_t)/(1-p_s)) (qbench's default);
    ``form='study'``: only p_t log(p_t/p_s), as in the study's code. Computed from logits with
    log-sigmoids, so saturated outputs stay finite.
    """
    from qbench.training.generic_objective import KL_FORMS, bernoulli_kl

    if form not in KL_FORMS:
        raise ValueError(f"kl form must be 'bernoulli' or 'study', got {form!r}")
    return bernoulli_kl(teacher_logits, student_logits, KL_FORMS[form])
