"""Imports every learner module so that each registers itself in ``learners.registry.LEARNERS``."""

from learners.channel_pruned import learner as channel_pruned
from learners.dis_chn_pruned import learner as dis_chn_pruned
from learners.full_precision import learner as full_precision
from learners.nonuniform_quant import learner as nonuniform_quant
from learners.uniform_quant import learner as uniform_quant
from learners.uniform_quant_tf import learner as uniform_quant_tf
from learners.weight_sparse import learner as weight_sparse

__all__ = ["channel_pruned", "dis_chn_pruned", "full_precision", "nonuniform_quant", "uniform_quant",
           "uniform_quant_tf",
           "weight_sparse"]
