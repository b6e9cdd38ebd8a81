"""A toy learner in one file, as a user would add one: weights rounded to a grid.

Its settings dataclass, its registration and the steps it owns (derive, finalize, its own
metrics); everything else -- flags, ``--help``, training, ``metrics.json``, export -- comes
from the registry and ``learners.compression``.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from learners.compression import Candidate, CompressionLearner
from learners.registry import register_learner


@dataclasses.dataclass(frozen=True)
class RoundingSettings:
    """How weights are rounded.

    Attributes:
        step: the grid every weight is rounded to (a multiple of it).
    """

    step: float = 1 / 64

    def __post_init__(self):
        if not self.step > 0:
            raise ValueError(f"Expected --toy_step > 0. Received: {self.step}")


def _rounded(model: keras.Model, step: float) -> keras.Model:
    model.set_weights([np.round(w / step) * step for w in model.get_weights()])
    return model


class RoundingLearner(CompressionLearner):
    """Rounds the teacher's weights to ``step``, fine-tunes, rounds again."""

    metrics_keys = frozenset({"step", "distinct_kernel_values"})

    def derive(self, teacher: keras.Model) -> Candidate:
        with self.context.strategy.scope():
            model = keras.models.clone_model(teacher)
        model.set_weights(teacher.get_weights())
        return Candidate(_rounded(model, self.settings.step))

    def finalize(self, candidate: Candidate, teacher: keras.Model) -> keras.Model:
        return _rounded(candidate.model, self.settings.step)

    def own_metrics(self, final: keras.Model, candidate: Candidate) -> dict:
        kernels = [np.asarray(w) for w in final.weights if "kernel" in w.path]
        return {"step": self.settings.step,
                "distinct_kernel_values": len(np.unique(np.concatenate([k.ravel() for k in kernels])))}


register_learner("toy-rounding", RoundingLearner, "rounds every weight to a grid (a test's toy)",
                 settings=RoundingSettings, flag_prefix="toy_")
