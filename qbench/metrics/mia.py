"""Membership inference against the forget set: ``mia_efficacy`` (PROTOCOL 4.2, protocol 2).

The SVC attack of Jia et al. 2023 ("Model sparsity can simplify machine unlearning") as SalUn (Fan et
al. 2024) runs it, adapted to one sigmoid output. Following their reference code
(OPTML-Group/Unlearn-Sparse and Unlearn-Saliency, ``evaluation/SVC_MIA.py``):

- the attack's training set ("shadow"): retain samples labelled member (1) and validation samples
  labelled non-member (0), as many of each: the references take the first |test| retain samples; here
  ``min(|retain|, |val|)`` of each, drawn without replacement from ``seed`` **(qbench choice)**;
- each feature is its **own** attack: one ``SVC(C=3, gamma="auto", kernel="rbf")`` per feature, never
  a combination; the references compute correctness, confidence, entropy and modified entropy (and
  the raw probability vector), and the number SalUn and Jia et al. report as MIA-Efficacy is the
  **confidence** attack's (SalUn's README: "SVC_MIA_forget_efficacy['confidence']"). ``mia_efficacy``
  is that one; :func:`mia_attacks` gives every feature's;
- the metric: the fraction of forget samples the attack predicts non-member (their ``1 - mean(predict)``
  on the forget set). Higher: the forget set looks more like data the model never saw.

Features per sample, from p_y = sigmoid(logit) if the label is 1 else 1 - sigmoid(logit), the model's
probability of the sample's label as the sample is labelled in its set (the forget set's flipped
labels, the retain set's, the validation set's clean ones):

- correctness: 1 if the prediction (logit > 0) agrees with the label, else 0;
- confidence: p_y;
- entropy of the output distribution (p_y, 1 - p_y);
- modified entropy (Song and Mittal 2021): -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i), which for
  two classes is -2 (1 - p_y) log p_y. (SalUn's ``m_entropy`` code uses log p in place of log(1 - p) for
  the other classes; this follows the paper's formula.)

Logs are clipped at log(1e-30), as in the references. Pure numpy and scikit-learn: no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qbench.metrics.registry import Missing
from qbench.seeding import rng

FEATURES = ("correctness", "confidence", "entropy", "m_entropy")
#: the feature whose attack is ``mia_efficacy`` (the references' reported number)
REPORTED = "confidence"
#: fewest samples of each attack class (members, non-members) and of the forget set
MIN_SAMPLES = 2
_LOG_FLOOR = np.log(1e-30)


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def features(logits: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The four per-sample features of the module docstring, each of shape (n,)."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1) == 1
    zy = np.where(y, z, -z)  # the logit of the sample's label
    log_py = np.maximum(_log_sigmoid(zy), _LOG_FLOOR)
    log_pn = np.maximum(_log_sigmoid(-zy), _LOG_FLOOR)  # log(1 - p_y)
    py, pn = np.exp(log_py), np.exp(log_pn)
    return {
        "correctness": ((z > 0) == y).astype(np.float64),
        "confidence": py,
        "entropy": -(py * log_py + pn * log_pn),
        "m_entropy": -2.0 * pn * log_py,
    }


@dataclass(frozen=True)
class AttackSets:
    """Logits and labels (as labelled in each set) of the retain, validation and forget sets."""

    retain_logits: np.ndarray
    retain_labels: np.ndarray
    val_logits: np.ndarray
    val_labels: np.ndarray
    forget_logits: np.ndarray
    forget_labels: np.ndarray


def _problem(*named: tuple[str, np.ndarray, np.ndarray]) -> str | None:
    """What keeps the attack from running on the named (name, logits, labels) sets; None: nothing."""
    for name, logits, labels in named:
        if len(logits) != len(labels):
            return f"{name} set: {len(logits)} outputs for {len(labels)} labels"
        if len(labels) < MIN_SAMPLES:
            what = {"retain": "members (retain)", "validation": "non-members (validation)"}.get(name, "forget samples")
            return f"too few {what} for the attack: {len(labels)} (need {MIN_SAMPLES})"
        if not np.all(np.isfinite(np.asarray(logits, dtype=np.float64))):
            return f"{name} set: non-finite outputs"
    return None


def _shadow_sets(sets: AttackSets) -> tuple[tuple[str, np.ndarray, np.ndarray], ...]:
    return (("retain", sets.retain_logits, sets.retain_labels), ("validation", sets.val_logits, sets.val_labels))


def _fitted(sets: AttackSets, seed: int, which: tuple[str, ...]) -> dict:
    """Each feature's SVC fitted on the attack's training set, with that set: {feature: (clf, x, target)}."""
    from sklearn.svm import SVC

    n = min(len(sets.retain_labels), len(sets.val_labels))
    g = rng(seed, "mia")
    members = np.sort(g.choice(len(sets.retain_labels), n, replace=False))
    outsiders = np.sort(g.choice(len(sets.val_labels), n, replace=False))
    f_in = features(np.asarray(sets.retain_logits)[members], np.asarray(sets.retain_labels)[members])
    f_out = features(np.asarray(sets.val_logits)[outsiders], np.asarray(sets.val_labels)[outsiders])
    target = np.concatenate([np.ones(n), np.zeros(n)])
    out = {}
    for name in which:
        x = np.concatenate([f_in[name], f_out[name]]).reshape(-1, 1)
        clf = SVC(C=3, gamma="auto", kernel="rbf")  # the references' attack; deterministic (no probability=)
        clf.fit(x, target)
        out[name] = (clf, x, target)
    return out


def mia_attacks(sets: AttackSets, seed: int, which: tuple[str, ...] = FEATURES) -> dict[str, float] | Missing:
    """Each feature's attack (``which``): the fraction of forget samples called non-member, or Missing."""
    problem = _problem(*_shadow_sets(sets), ("forget", sets.forget_logits, sets.forget_labels))
    if problem:
        return Missing(problem)
    f_forget = features(sets.forget_logits, sets.forget_labels)
    return {name: float(1.0 - clf.predict(f_forget[name].reshape(-1, 1)).mean())
            for name, (clf, _, _) in _fitted(sets, seed, which).items()}


def mia_efficacy(retain_logits: np.ndarray, retain_labels: np.ndarray, val_logits: np.ndarray,
                 val_labels: np.ndarray, forget_logits: np.ndarray, forget_labels: np.ndarray,
                 seed: int) -> float | Missing:
    """``mia_efficacy``: the confidence attack's fraction of forget samples called non-member (see the
    module docstring), or :class:`Missing` with the reason (too few samples, non-finite outputs)."""
    sets = AttackSets(retain_logits, retain_labels, val_logits, val_labels, forget_logits, forget_labels)
    result = mia_attacks(sets, seed, (REPORTED,))
    return result if isinstance(result, Missing) else result[REPORTED]


def mia_attack_acc(retain_logits: np.ndarray, retain_labels: np.ndarray, val_logits: np.ndarray,
                   val_labels: np.ndarray, seed: int) -> float | Missing:
    """``mia_attack_acc`` (protocol 3): the balanced accuracy of ``mia_efficacy``'s attack on its own training
    set (retain members vs validation non-members, as many of each). Near 0.5: the attack cannot tell the
    model's training data from unseen data, so its verdict on the forget set carries no information."""
    empty = np.zeros(0)
    sets = AttackSets(retain_logits, retain_labels, val_logits, val_labels, empty, empty)
    problem = _problem(*_shadow_sets(sets))
    if problem:
        return Missing(problem)
    clf, x, target = _fitted(sets, seed, (REPORTED,))[REPORTED]
    said = clf.predict(x)
    return float(0.5 * (np.mean(said[target == 1] == 1) + np.mean(said[target == 0] == 0)))
