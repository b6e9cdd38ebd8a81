"""Learners, the shared trainer, distillation and the registry.

Importing this package is cheap (no TensorFlow): each learner registers its name, settings
dataclass and flag prefix in its package's ``config.py`` (``learners.registry``), so that
``main.py`` can define every learner's flags without loading TensorFlow.
"""
