"""``retrain``: a fresh random initialization trained on the retain set (the exact-unlearning reference)."""

from qbench.methods import register_method
from qbench.methods.finetune import Finetune


@register_method("retrain", order=0)
class Retrain(Finetune):
    """``finetune``'s objective (mean BCE on the retain set) from a fresh initialization."""

    from_scratch = True
