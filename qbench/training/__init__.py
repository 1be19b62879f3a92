"""Training engine: Adam with compiled, shape-stable steps reused across seeds, alphas and scenarios."""

from qbench.training.trainer import TrainResult, accuracy, predict_logits, train

__all__ = ["TrainResult", "accuracy", "predict_logits", "train"]
