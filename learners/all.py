"""Imports every learner module so that each registers itself in ``learners.registry.LEARNERS``."""

from learners.channel_pruned import learner as channel_pruned
from learners.dis_chn_pruned import learner as dis_chn_pruned
from learners.full_precision import learner as full_precision

__all__ = ["channel_pruned", "dis_chn_pruned", "full_precision"]
