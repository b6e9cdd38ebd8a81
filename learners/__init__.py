"""Learners, the shared trainer, distillation and the registry; importing registers them all."""

from learners.full_precision import learner as _full_precision  # noqa: F401  (registers)
from learners.registry import LEARNERS, get_learner_class  # noqa: F401
