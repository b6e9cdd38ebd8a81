"""The dataset registry: ``--dataset`` names -> Dataset classes."""

from utils.registry import Registry

DATASETS = Registry("dataset")


def create_dataset(config):
    """Instantiates (and so validates) the dataset named by ``config.dataset``."""
    return DATASETS.get(config.dataset)(config)
