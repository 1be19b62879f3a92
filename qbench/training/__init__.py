"""Training engine: Adam with compiled, shape-stable steps reused across seeds, alphas and scenarios."""

from qbench.training.trainer import TrainResult, predict_logits, train

__all__ = ["TrainResult", "predict_logits", "train"]
