"""Reinforcement-learning agents that search per-layer hyper-parameters."""
