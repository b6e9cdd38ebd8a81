"""tf.data pipelines; importing the package registers every dataset."""

from datasets import cifar10, digits, idx, ilsvrc12, image_folder, npz, tfrecord  # noqa: F401
from datasets.base import DataConfig, DataError, Dataset  # noqa: F401
from datasets.registry import DATASETS, create_dataset  # noqa: F401
