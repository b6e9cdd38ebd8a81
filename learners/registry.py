"""The learner registry: ``--learner`` names (the original's spellings) -> learner classes."""

from utils.registry import Registry

LEARNERS = Registry("learner")

# The original's learner names that later issues build; asking for one fails with this message.
PLANNED_LEARNERS = {
    "weight-sparse": "weight sparsification",
    "uniform": "uniform quantization",
    "uniform-tf": "TFLite quantization-aware training",
    "non-uniform": "non-uniform (codebook) quantization",
}


def get_learner_class(name: str):
    """The class registered as ``name``.

    Raises:
        ValueError: for an unknown name (listing valid ones) or a learner not built yet.
    """
    if name not in LEARNERS and name in PLANNED_LEARNERS:
        raise ValueError(
            f"Learner '{name}' ({PLANNED_LEARNERS[name]}) is not available in this version yet. "
            f"Available learners: {', '.join(LEARNERS.names())}.")
    if name not in LEARNERS:
        raise ValueError(f"Unknown learner '{name}'. Expected one of: "
                         f"{', '.join(sorted(set(LEARNERS.names()) | set(PLANNED_LEARNERS)))}.")
    return LEARNERS.get(name)
