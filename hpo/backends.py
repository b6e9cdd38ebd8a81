"""Imports every backend module so that each registers itself in ``hpo.optimizer.BACKENDS``."""

from hpo import ddpg_search, gp, tpe

__all__ = ["ddpg_search", "gp", "tpe"]
