"""A user's model (``--model_file``) and the data: what the model's input asks of the data, and
the checks that the two fit, made before any work.

The model's input decides the data's image size and channels (image folders and TFRecords are
decoded to its channels and resized to its height and width; arrays must have its shape); the
data may not have more classes than the model has outputs. Every mismatch is a ``ValueError``
that names the model file and the data.
"""

from __future__ import annotations

import dataclasses

from datasets.base import DataConfig, Dataset
from learners.base import load_model_file, shapes_match
from nets.model_helper import ModelHelper


@dataclasses.dataclass(frozen=True)
class ModelSignature:
    """What the data must fit of a model.

    Attributes:
        path: the model file.
        input_shape: ``(height, width, channels)`` of one input image, ``None`` where the model
            takes any size.
        nb_outputs: the width of its output: the classes it can predict.
    """

    path: str
    input_shape: tuple[int | None, int | None, int | None]
    nb_outputs: int


def read_signature(helper: ModelHelper) -> ModelSignature | None:
    """The signature of the helper's trained model (loaded once to read it), or ``None`` for a
    built-in net, which is built for its data.

    Raises:
        MissingModelError, ValueError: the model file is missing, damaged, cannot be loaded, or
            is no image classifier (the messages name it).
    """
    if helper.model_file is None:
        return None
    model = load_model_file(helper.model_file, "model file (--model_file)",
                            "Pass the .keras file of your trained model "
                            "(model.save('model.keras'))", helper.custom_objects())
    model = helper.prepare_loaded(model)
    return ModelSignature(helper.model_file, tuple(model.input_shape[1:]),
                          int(model.output_shape[-1]))


def data_config_for(data: DataConfig, signature: ModelSignature | None) -> DataConfig:
    """``data`` with the model's input shape (``DataConfig.input_shape``), and its side as
    ``image_size`` when its input is a fixed square (what ``ilsvrc12`` resizes to); ``data``
    itself without a user's model.

    Raises:
        ValueError: ``--image_size`` differs from the model's fixed input size.
    """
    if signature is None:
        return data
    height, width, _ = signature.input_shape
    if data.image_size is not None and height is not None and width is not None and (
            (height, width) != (data.image_size, data.image_size)):
        raise ValueError(f"Expected no --image_size, or the input size of the model "
                         f"'{signature.path}' ({height}x{width}). Received: "
                         f"--image_size={data.image_size}")
    square = height if height is not None and height == width else None
    return dataclasses.replace(data, input_shape=signature.input_shape,
                               image_size=data.image_size or square)


def _data_name(dataset: Dataset) -> str:
    data_dir = dataset.config.data_dir
    return f"--dataset {dataset.name}" + (f" (--data_dir_local {data_dir})" if data_dir else "")


def check_model_fits_data(signature: ModelSignature | None, dataset: Dataset) -> None:
    """Checks that the user's model takes the data's images and predicts its classes, and that
    the pixel range the model expects was stated.

    Raises:
        ValueError: naming the model file and the data: another channel count or image size,
            more classes in the data than the model has outputs, or no ``--input_scale`` for a
            dataset of pixels.
    """
    if signature is None:
        return
    model, data = f"the model '{signature.path}'", _data_name(dataset)
    if dataset.pixel_scaling and dataset.config.input_scale is None:
        raise ValueError(f"Expected --input_scale (0_1, -1_1 or 0_255: the range {model} takes "
                         f"its pixels in; none: the data holds its inputs as they are) with "
                         f"{data}. Received: none")
    expected, received = signature.input_shape, tuple(dataset.input_shape)
    if not shapes_match(expected[-1:], received[-1:]):
        raise ValueError(f"Expected images with the {expected[-1]} channel(s) {model} takes "
                         f"(inputs of shape {expected}). Received: images with {received[-1]} "
                         f"channel(s), of shape {received}, from {data}")
    if not shapes_match(expected, received):
        raise ValueError(f"Expected images of the shape {model} takes, {expected} (height, "
                         f"width, channels). Received: images of shape {received} from {data}")
    if dataset.nb_classes > signature.nb_outputs:
        raise ValueError(f"Expected at most {signature.nb_outputs} classes, the outputs of "
                         f"{model}. Received: {dataset.nb_classes} classes (labels 0 to "
                         f"{dataset.nb_classes - 1}) in {data}")
