"""Hyper-parameter search: ask/tell optimizers (gp, tpe, ddpg, random), budgets, trial store,
and the per-layer search driver the learners share (``hpo.layer_search``)."""

from hpo.optimizer import BACKENDS, Optimizer, RandomSearch, create_optimizer
from hpo.space import Candidate, Categorical, Continuous, Integer, SearchSpace, per_layer

__all__ = ["BACKENDS", "Candidate", "Categorical", "Continuous", "Integer", "Optimizer",
           "RandomSearch", "SearchSpace", "create_optimizer", "per_layer"]
