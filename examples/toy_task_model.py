"""A task and a model from outside qbench (docs/plugins.md):
``qbench run --suite resilience --task toy_task_model:ToyTask --model toy_task_model:ToyModel --quick``."""

import numpy as np

from qbench.models import ModelInfo
from qbench.models.mlp import MLP
from qbench.protocol import TrainConfig
from qbench.tasks import TaskData, TaskFamily


def load_toy(data_seed: int = 0) -> TaskData:
    """Two noisy clusters of 2-qubit real amplitude vectors, 32 training and 32 validation samples."""
    rng = np.random.default_rng(data_seed)

    def draw(n):
        y = np.arange(n) % 2
        x = np.where(y[:, None] == 1, [0.2, 0.9, 0.3, 0.2], [0.9, 0.2, 0.2, 0.3]) + 0.1 * rng.normal(size=(n, 4))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y.astype(np.int64)

    x_train, y_train = draw(32)
    x_val, y_val = draw(32)
    return TaskData("toy", 2, x_train, y_train, x_val, y_val, info={"source": "toy_task_model.py"})


ToyTask = TaskFamily(
    name="toy", tasks=("toy",), loader=load_toy, unlearning_lr=0.05,
    train={"mlp": TrainConfig(epochs=20, batch_size=8, lr=0.05)}, model_size={"mlp": {"hidden": (4,)}},
    description="two clusters of 2-qubit states",
)


class TinyMLP(MLP):
    """An MLP of one small hidden layer by default."""

    def __init__(self, hidden: tuple[int, ...] = (2,)):
        super().__init__(hidden=hidden)


ToyModel = ModelInfo(
    name="tiny-mlp", cls=TinyMLP, title="tiny MLP", order=2,
    train={"toy": TrainConfig(epochs=20, batch_size=8, lr=0.05), "xxz": TrainConfig(epochs=10, batch_size=32, lr=0.01)},
    model_size={"toy": {"hidden": (2,)}, "xxz": {"hidden": (4,)}},
)
