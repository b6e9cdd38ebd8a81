"""tf.data pipelines; importing the package registers every dataset."""

from datasets.base import DataConfig, DataError, Dataset  # noqa: F401
from datasets.registry import DATASETS, create_dataset  # noqa: F401
from datasets import digits  # noqa: F401  (registers)
