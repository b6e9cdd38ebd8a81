"""Topic modules shared by every package: registry, config, flops, learning rates, distribution, io."""
