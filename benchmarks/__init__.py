"""Scripts that reproduce the docs' benchmark tables (ResNet-20 / CIFAR-10); not installed.

Run from the repository root, ``PYTHONPATH=. .venv/bin/python -m benchmarks.<script>``; they import
the product (``learners``, ``utils`` ...), and nothing in the product imports them.
"""
