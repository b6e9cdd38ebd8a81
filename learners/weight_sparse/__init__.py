"""Weight sparsification (``--learner weight-sparse``): gradual magnitude pruning of the
pre-trained model with per-layer sparsities (uniform, heuristic or searched), exported dense and
sparse-encoded to TFLite."""
