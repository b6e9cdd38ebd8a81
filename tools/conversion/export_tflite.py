"""Command line of ``export.export_model``: a saved ``.keras`` model to checked TFLite files.

Writes ``model.tflite``, ``model_int8.tflite`` and ``export.json`` (see ``export.pipeline``) in
``--out_dir``, by default the model file's directory::

    python -m tools.conversion.export_tflite --model_file models/lenet_at_digits.keras
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

from absl import app, flags

from export import ExportError, ExportReport, export_model, load_keras_model


@dataclasses.dataclass(frozen=True)
class ExportCommand:
    """The command line, resolved.

    Attributes:
        model_file: the ``.keras`` model to export.
        dataset: registered dataset name.
        data_dir: dataset directory (``None`` for embedded datasets).
        out_dir: output directory; ``None`` means the model file's directory.
        calibration_size: training images used for int8 calibration.
        batch_size_eval: evaluation batch size.
        image_size: network input side for variable-size datasets; ``None``: the default.
        parity_tolerance: largest allowed |Keras logit - float TFLite logit|.
    """

    model_file: str
    dataset: str = "digits"
    data_dir: str | None = None
    out_dir: str | None = None
    calibration_size: int = 500
    batch_size_eval: int = 100
    image_size: int | None = None
    parity_tolerance: float = 1e-4

    def __post_init__(self):
        if not self.model_file:
            raise ValueError("Expected `--model_file`, the path of a .keras model. Received none.")
        if self.calibration_size < 1:
            raise ValueError(f"Expected `nb_calibration` >= 1. Received: {self.calibration_size}")


def run(config: ExportCommand) -> ExportReport:
    """Loads the model and the dataset named by ``config`` and exports the model."""
    import datasets

    model = load_keras_model(config.model_file)
    dataset = datasets.create_dataset(datasets.DataConfig(
        dataset=config.dataset, data_dir=config.data_dir, batch_size_eval=config.batch_size_eval,
        image_size=config.image_size))
    out_dir = config.out_dir or os.path.dirname(os.path.abspath(config.model_file))
    with dataset.explained_errors():  # an image that does not decode: named
        return export_model(model, dataset, out_dir, calibration_size=config.calibration_size,
                            parity_tolerance=config.parity_tolerance)


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command-line flags (in ``flag_values``, so tests can use their own)."""
    flags.DEFINE_string("model_file", None, "Keras model to export (.keras).",
                        flag_values=flag_values)
    flags.DEFINE_string("dataset", "digits", "Dataset for calibration and evaluation.",
                        flag_values=flag_values)
    flags.DEFINE_string("data_dir_local", None, "Dataset directory (none for embedded datasets).",
                        flag_values=flag_values)
    flags.DEFINE_string("out_dir", None, "Output directory (default: the model file's).",
                        flag_values=flag_values)
    flags.DEFINE_integer("nb_calibration", 500, "Training images for int8 calibration.",
                         flag_values=flag_values)
    flags.DEFINE_integer("batch_size_eval", 100, "Evaluation batch size.",
                         flag_values=flag_values)
    flags.DEFINE_integer("image_size", None, "Input side for variable-size image datasets.",
                         flag_values=flag_values)
    flags.DEFINE_float("parity_tolerance", 1e-4,
                       "Largest allowed |Keras logit - float TFLite logit|.",
                       flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> ExportCommand:
    """Turns parsed flags into an ``ExportCommand``."""
    return ExportCommand(
        model_file=flag_values.model_file, dataset=flag_values.dataset,
        data_dir=flag_values.data_dir_local, out_dir=flag_values.out_dir,
        calibration_size=flag_values.nb_calibration, batch_size_eval=flag_values.batch_size_eval,
        image_size=flag_values.image_size, parity_tolerance=flag_values.parity_tolerance)


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Runs the export; a user error exits with status 1 and a one-line message."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        run(config_from_flags(flag_values))
    except (FileNotFoundError, ValueError, ExportError) as error:
        sys.exit(f"export_tflite: error: {error}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
