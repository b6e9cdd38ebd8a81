"""Installs the packages in place (``pip install -e .``); scripts use ./.venv + requirements.txt."""

from pathlib import Path

from setuptools import find_packages, setup

requirements = [line.strip() for line in Path(__file__).with_name("requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

setup(
    name="pocketflow-tf2",
    version="0.1.0",
    description="Automated compression of Keras 3 CNNs: pruning, sparsity, quantization, TFLite export",
    packages=find_packages(include=["datasets*", "nets*", "learners*", "hpo*", "rl_agents*",
                                    "utils*", "export*", "tools*"]),
    py_modules=["main", "options", "flag_config", "automl", "pocketflow"],
    python_requires=">=3.10",
    install_requires=requirements,
)
