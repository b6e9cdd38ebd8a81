"""Model helpers (``<model>_at_<dataset>``) and Keras 3 builders; importing registers them all."""

from nets.model_helper import MODEL_HELPERS, ModelHelper, NetConfig, TrainDefaults, create_model_helper  # noqa: F401
from nets import lenet_at_digits  # noqa: F401  (registers)
