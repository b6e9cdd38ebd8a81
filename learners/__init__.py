"""Learners, the shared trainer, distillation and the registry.

Importing this package is cheap (no TensorFlow), so that ``main.py`` can define each learner's
flags from its settings dataclass; ``import learners.all`` registers every learner.
"""
