"""The model-helper contract: a Keras 3 functional model paired with a dataset and its schedule.

A helper is what ``nets/<model>_at_<dataset>.py`` registers. It knows which network to build for
which data, and the training defaults the original PocketFlow attached to that pair (learning
rate, batch-size normalisation, weight decay, epochs and decay boundaries). Command-line flags
override those defaults in ``main.py``; learners only see the resolved values.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar

import keras

from utils.keras_graph import to_functional
from utils.registry import Registry

MODEL_HELPERS = Registry("net")


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """Per-model settings (the original's per-model flags).

    Attributes:
        resnet_size: ResNet depth (CIFAR-10: 6n+2, e.g. 20/32/44/56/110; ILSVRC-12: 18/34/50).
        mobilenet_version: 1 or 2.
        mobilenet_depth_mult: MobileNet width (depth) multiplier.
        tiny: build the tiny variant of the net (few filters, for tests).
        model_file: a user's trained Keras 3 model (``--model_file``, a ``.keras`` file), which
            the ``user_model`` helper stands for; ``None`` for the built-in nets.
        custom_objects: the Python module that defines the custom layers (and functions) of
            ``model_file`` (``--custom_objects``): a dotted module path importable from the
            working directory, or the path of a ``.py`` file.
    """

    resnet_size: int | None = None
    mobilenet_version: int = 1
    mobilenet_depth_mult: float = 1.0
    tiny: bool = False
    model_file: str | None = None
    custom_objects: str | None = None

    def __post_init__(self):
        if self.mobilenet_version not in (1, 2):
            raise ValueError(
                f"Expected `mobilenet_version` in (1, 2). Received: {self.mobilenet_version}")
        if self.mobilenet_depth_mult <= 0:
            raise ValueError("Expected `mobilenet_depth_mult` > 0. "
                             f"Received: mobilenet_depth_mult={self.mobilenet_depth_mult}")
        if self.resnet_size is not None and self.resnet_size <= 0:
            raise ValueError(f"Expected `resnet_size` > 0. Received: resnet_size={self.resnet_size}")
        if self.model_file is not None and not self.model_file.lower().endswith(".keras"):
            legacy = (" (a legacy format: load it with Keras and save it again with "
                      "model.save('model.keras'))" if self.model_file.lower().endswith(
                          (".h5", ".hdf5", ".tf", ".pb")) else "")
            raise ValueError(f"Expected --model_file to be a Keras 3 model file ending in .keras. "
                             f"Received: --model_file={self.model_file}{legacy}")
        if self.custom_objects is not None and self.model_file is None:
            raise ValueError("Expected --model_file with --custom_objects (the module of the "
                             f"model's custom layers). Received: --custom_objects="
                             f"{self.custom_objects} and no --model_file")


@dataclasses.dataclass(frozen=True)
class TrainDefaults:
    """Training defaults of a (model, dataset) pair, before command-line overrides.

    ``decay_boundaries`` are epochs (scaled by ``epochs_ratio``); ``decay_rates`` has one
    more entry than the boundaries: the multiplier of the initial rate in each interval. The
    ``exponential`` schedule multiplies the rate by ``decay_rate`` every
    ``decay_epochs`` epochs instead. ``optimizer`` is ``momentum`` (SGD with momentum) or
    ``adam``.
    """

    epochs: float
    learning_rate: float
    reference_batch_size: int
    momentum: float
    weight_decay: float
    decay_boundaries: tuple[float, ...]
    decay_rates: tuple[float, ...]
    batch_size: int = 128
    batch_size_eval: int = 100
    learning_rate_schedule: str = "piecewise"
    decay_epochs: float = 0.0
    decay_rate: float = 1.0
    optimizer: str = "momentum"


class ModelHelper(abc.ABC):
    """Pairs a network with a dataset.

    Attributes:
        name: registry name, ``<model>_at_<dataset>`` (what ``--net`` takes).
        default_dataset: the ``--dataset`` used when the user names none (``None``: one must
            be named).
        model_file: the trained model this helper stands for (a user's ``--model_file``):
            every learner starts from it and nothing overwrites it. ``None`` for the built-in
            nets, whose pre-trained model ``--learner full-prec`` trains and writes.
    """

    name: ClassVar[str]
    default_dataset: ClassVar[str | None]
    model_file: str | None = None

    def __init__(self, config: NetConfig):
        self.config = config

    @property
    @abc.abstractmethod
    def model_name(self) -> str:
        """Model name used in file names, e.g. ``resnet_20`` (-> ``resnet_20_at_cifar10.keras``)."""

    @abc.abstractmethod
    def build_model(self, input_shape: tuple[int, int, int], nb_classes: int) -> keras.Model:
        """Builds the functional Keras model; its output is logits (no softmax)."""

    @abc.abstractmethod
    def train_defaults(self) -> TrainDefaults:
        """Training defaults of this pair (the original helper's per-model flag defaults)."""

    def custom_objects(self) -> dict:
        """The custom Keras objects loading this helper's models needs (by class name)."""
        return {}

    def prepare_loaded(self, model: keras.Model) -> keras.Model:
        """The pre-trained model as the learners take it, from the model as loaded: a
        functional model that outputs logits. Built-in nets are saved that way; a ``Sequential``
        model put in their place (``utils.keras_graph.to_functional``) is rebuilt as one."""
        return to_functional(model)


def create_model_helper(name: str, config: NetConfig) -> ModelHelper:
    """Instantiates the helper registered as ``name`` (``ValueError`` listing valid ones if unknown)."""
    return MODEL_HELPERS.get(name)(config)
