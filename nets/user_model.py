"""A user's own trained Keras 3 model (``--model_file m.keras``) as a model helper.

``--model_file`` selects the ``user_model`` helper: every learner starts from the user's model
instead of ``<model_dir>/<model>_at_<dataset>.keras``, and ``--learner full-prec`` fine-tunes it
(its result goes to ``--save_dir`` only: the user's file is never written). Any Keras 3
functional or ``Sequential`` classifier with one image input ``(height, width, channels)`` and one
output ``(classes,)`` is taken; the custom layers of ``--custom_objects`` are handed to Keras when
it loads the file. As the learners take it (:meth:`UserModelHelper.prepare_loaded`), the model is
functional (a ``Sequential`` is rebuilt as one) and outputs logits (a final softmax is removed:
the loss and the distillation work on logits, and the compressed model outputs logits).

The model's input decides the data: image datasets are resized to its height and width and
decoded to its channels (``learners.model_data``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

import keras
from absl import logging

from nets.model_helper import MODEL_HELPERS, ModelHelper, NetConfig, TrainDefaults
from utils.keras_graph import to_functional, without_softmax

USER_MODEL = "user_model"
"""The helper's registered name (``--net``), which ``--model_file`` selects."""


def import_custom_objects(spec: str) -> dict[str, Any]:
    """The classes and functions a module defines, by name: what Keras needs to load a model
    with custom layers, activations or initialisers.

    Args:
        spec: a dotted module path importable from the working directory
            (``my_project.layers``), or the path of a ``.py`` file.

    Raises:
        ValueError: the module cannot be imported (naming it and the import error).
    """
    try:
        if spec.endswith(".py"):
            if not os.path.isfile(spec):
                raise FileNotFoundError(f"no such file: '{os.path.abspath(spec)}'")
            name = os.path.splitext(os.path.basename(spec))[0]
            module_spec = importlib.util.spec_from_file_location(name, spec)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules.setdefault(name, module)
            module_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:  # as `python -m` would: the user's own modules
                sys.path.append(os.getcwd())
            module = importlib.import_module(spec)
    except Exception as error:  # noqa: BLE001 -- any error of the user's module is theirs
        raise ValueError(f"Expected --custom_objects to name a Python module that defines the "
                         f"model's custom layers (a dotted path importable from "
                         f"'{os.getcwd()}', or a .py file). Received: --custom_objects={spec} "
                         f"({type(error).__name__}: {error})") from None
    found = {name: value for name, value in vars(module).items()
             if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
             and getattr(value, "__module__", None) == module.__name__}
    if not found:
        raise ValueError(f"Expected --custom_objects={spec} to define the model's custom layers "
                         "(classes or functions). Received: a module that defines none")
    return found


@MODEL_HELPERS.register(USER_MODEL)
class UserModelHelper(ModelHelper):
    """The user's model of ``--model_file``; its data is named with ``--dataset``.

    Its training defaults are for fine-tuning a trained model of unknown training (what
    ``--learner full-prec`` does with it, and every compression learner's fine-tuning): 10
    epochs of Adam, from a learning rate of 3e-4 for a batch of 64, on a cosine schedule, no
    weight decay (the model's own regularisers stay). SGD at the built-in nets' rates can throw
    a model trained with Adam far from where it was.
    """

    name = USER_MODEL
    default_dataset = None

    def __init__(self, config: NetConfig):
        super().__init__(config)
        if config.model_file is None:
            raise ValueError(f"Expected --model_file with --net {USER_MODEL}. Received: none")
        self.model_file = config.model_file
        self._custom_objects: dict | None = None
        self._softmax_reported = False

    @property
    def model_name(self) -> str:
        """The file's name without ``.keras`` (``m.keras`` -> ``m``, so ``m_at_<dataset>``)."""
        return os.path.splitext(os.path.basename(self.model_file))[0]

    def build_model(self, input_shape, nb_classes) -> keras.Model:
        """The user's trained model (not a fresh one): full-prec fine-tunes it."""
        model = keras.models.load_model(self.model_file, compile=False,
                                        custom_objects=self.custom_objects())
        return self.prepare_loaded(model)

    def train_defaults(self) -> TrainDefaults:
        return TrainDefaults(epochs=10, learning_rate=3e-4, reference_batch_size=64, momentum=0.9,
                             weight_decay=0.0, decay_boundaries=(), decay_rates=(1.0,),
                             learning_rate_schedule="cosine", batch_size=64, batch_size_eval=100,
                             optimizer="adam")

    def custom_objects(self) -> dict:
        """The classes and functions of ``--custom_objects`` (imported once), else ``{}``."""
        if self._custom_objects is None:
            spec = self.config.custom_objects
            self._custom_objects = {} if spec is None else import_custom_objects(spec)
        return self._custom_objects

    def prepare_loaded(self, model: keras.Model) -> keras.Model:
        """A functional logits model of ``model``.

        Raises:
            ValueError: a subclassed model, or one that is no image classifier: not one input
                of shape ``(batch, height, width, channels)`` and one output ``(batch, classes)``.
        """
        where = f"--model_file {self.model_file}"
        inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
        if not isinstance(model, keras.Sequential) and not (inputs and outputs):
            raise ValueError(f"Expected a functional or Sequential Keras model. Received: "
                             f"{where}, a subclassed model ({type(model).__name__}) whose layers "
                             "form no graph the learners can read")
        if not isinstance(model, keras.Sequential) and (len(inputs) != 1 or len(outputs) != 1):
            raise ValueError(f"Expected an image classifier with one input and one output. "
                             f"Received: {where} with {len(inputs or ())} input(s) and "
                             f"{len(outputs or ())} output(s)")
        model = to_functional(model)
        input_shape, output_shape = tuple(model.input_shape), tuple(model.output_shape)
        if len(input_shape) != 4 or len(output_shape) != 2 or output_shape[1] is None:
            raise ValueError(f"Expected an image classifier: inputs of shape (batch, height, "
                             f"width, channels), outputs (batch, classes). Received: {where} "
                             f"with inputs {input_shape} and outputs {output_shape}")
        model, removed = without_softmax(model)
        if removed is not None and not self._softmax_reported:
            self._softmax_reported = True
            logging.info("%s: %s is removed; the learners train and distil its logits, and the "
                         "compressed model outputs logits.", where, removed)
        return model
