"""The learner registry: ``--learner`` names (the original's spellings) -> learner classes."""

from utils.registry import Registry

LEARNERS = Registry("learner")


def get_learner_class(name: str):
    """The class registered as ``name``.

    Raises:
        ValueError: for an unknown name (listing valid ones).
    """
    return LEARNERS.get(name)
