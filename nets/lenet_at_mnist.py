"""LeNet at MNIST: the CIFAR-10 helper's network and schedule on 28x28x1 digits."""

from __future__ import annotations

from nets.lenet_at_cifar10 import LenetAtCifar10
from nets.model_helper import MODEL_HELPERS


@MODEL_HELPERS.register("lenet_at_mnist")
class LenetAtMnist(LenetAtCifar10):
    """LeNet at MNIST; same network, tiny variant and training defaults as ``lenet_at_cifar10``."""

    name = "lenet_at_mnist"
    default_dataset = "mnist"
