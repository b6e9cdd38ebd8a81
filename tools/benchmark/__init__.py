"""Command-line tools a user runs: TFLite latency, search-backend regret, training-run summaries.

The scripts that reproduce the docs' ResNet-20 tables are in ``benchmarks/``, not here.
"""
