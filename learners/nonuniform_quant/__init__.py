"""Non-uniform quantization (``--learner non-uniform``): trained codebooks (Han et al. 2016)."""
