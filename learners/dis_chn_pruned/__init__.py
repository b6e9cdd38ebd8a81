"""Discrimination-aware channel pruning (``--learner dis-chn-pruned``, Zhuang et al. 2018)."""
