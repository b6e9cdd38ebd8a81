"""Model helpers (``<model>_at_<dataset>``) and Keras 3 builders; importing registers them all."""

from nets import (
    convnet_at_fmnist,  # noqa: F401  (registers)
    lenet_at_cifar10,  # noqa: F401  (registers)
    lenet_at_digits,  # noqa: F401  (registers)
    lenet_at_mnist,  # noqa: F401  (registers)
    mobilenet_at_ilsvrc12,  # noqa: F401  (registers)
    resnet_at_cifar10,  # noqa: F401  (registers)
    resnet_at_ilsvrc12,  # noqa: F401  (registers)
    user_model,  # noqa: F401  (registers)
)
from nets.model_helper import (  # noqa: F401
    MODEL_HELPERS,
    ModelHelper,
    NetConfig,
    TrainDefaults,
    create_model_helper,
)
