"""The DDPG agent of the original PocketFlow, in Keras 3.

``Agent`` is imported on first use, so that ``main.py`` can define the ``--ddpg_*`` flags from
``FLAG_DEFAULTS`` before TensorFlow is loaded.
"""

from rl_agents.ddpg.config import FLAG_DEFAULTS, FLAG_HELP, DdpgConfig

__all__ = ["FLAG_DEFAULTS", "FLAG_HELP", "Agent", "DdpgConfig"]


def __getattr__(name):
    if name == "Agent":
        from rl_agents.ddpg.agent import Agent

        return Agent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
