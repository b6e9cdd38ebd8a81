"""Imports every backend module so that each registers itself in ``hpo.optimizer.BACKENDS``."""

import hpo.ddpg_search  # noqa: F401
import hpo.gp  # noqa: F401
import hpo.tpe  # noqa: F401
