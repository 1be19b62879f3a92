"""``l1_sparse``: sparsity-aware unlearning (Jia et al., "Model Sparsity Can Simplify Machine
Unlearning", NeurIPS 2023): finetune on the retain set with an L1 penalty whose weight decays linearly.

    loss_t = CE(retain) + gamma_t * ||theta||_1,   gamma_t = gamma * (1 - t / T)

at step t of T (``data["total_steps"]``): gamma at the first step, gamma / T at the last. This is the
reference code's schedule (github.com/OPTML-Group/Unlearn-Sparse, ``unlearn/FT.py``:
``alpha * (1 - epoch / (unlearn_epochs - no_l1_epochs))`` with ``no_l1_epochs = 0``), per epoch
there and per full-batch step here; the penalty is over every parameter, as its
``l1_regularization(model)``, and its CE is a batch mean, which PROTOCOL 4.2's convention keeps.

``gamma = 5e-4``: the value Jia et al. report for their l1-sparse unlearning on CIFAR-10 (their
scripts take it as ``--alpha``; SalUn's baseline scripts use 1e-4 on other data). It was chosen for
a ResNet-18 under SGD; the penalty grows with the number of parameters, so a sweep over gamma
(``qbench run --suite sensitivity``) is the way to see how it fits qbench's much smaller models. For the
QNN the parameters are rotation angles: the penalty pulls them toward 0, i.e. toward the identity
gates.
"""

from dataclasses import dataclass

from qbench.methods import register_method
from qbench.methods.base import WeightedTerms


@dataclass(frozen=True)
class L1SparseHyperparameters:
    gamma: float = 5e-4  # the L1 weight at the first step; it decays linearly over the run


@register_method("l1_sparse", order=8)
class L1Sparse(WeightedTerms):
    Hyperparameters = L1SparseHyperparameters

    def terms(self):
        from qbench.training.generic_objective import Terms, Weights

        return Terms(Weights(ce_retain=1.0, l1=self.hp.gamma))
