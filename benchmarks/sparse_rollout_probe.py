"""What each phase of a weight-sparse roll-out does to the accuracy it is scored on.

The ``optimal`` protocol scores a candidate by a roll-out (``learners.weight_sparse.rollout``):
magnitude masks, layer-wise regression, a short global fine-tune, validation accuracy. This
script prunes the pre-trained model to the uniform plan at each ``--ratios`` level and runs the
roll-out under each ``--variants`` setting, printing the accuracy right after pruning and after the
roll-out, so a setting that hurts more than it helps shows::

    PYTHONPATH=. .venv/bin/python -m benchmarks.sparse_rollout_probe \\
        --model ~/pocketflow_runs/resnet20/models/resnet_20_at_cifar10.keras \\
        --data_dir ~/pocketflow_data/cifar10 --ratios 0.5,0.75 \\
        --variants 3e-2:20:3e-4:200,1e-3:0:3e-4:200,3e-2:20:3e-4:0,1e-3:20:3e-4:0

A variant is ``lrn_rate_rg:nb_iters_rg:lrn_rate_ft:nb_iters_ft`` (a phase with 0 steps is skipped;
its rate must still be positive). Every roll-out reads the same
training batches (the data pipeline is rebuilt per variant with one seed) and is scored on the
same ``--nb_iters_feval`` validation batches.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence

import keras
from absl import app, flags

from datasets.base import DataConfig
from datasets.registry import create_dataset
from learners.weight_sparse.config import WeightSparseConfig
from learners.weight_sparse.masks import maskable_kernels
from learners.weight_sparse.ratios import SparsityPlan, uniform_ratios
from learners.weight_sparse.rollout import RolloutScorer


@dataclasses.dataclass(frozen=True)
class Variant:
    """One roll-out setting."""

    regression_learning_rate: float
    regression_steps: int
    finetune_learning_rate: float
    finetune_steps: int

    @classmethod
    def parse(cls, text: str) -> Variant:
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError(f"Expected a variant lrn_rate_rg:nb_iters_rg:lrn_rate_ft:nb_iters_ft "
                             f"such as 3e-2:20:3e-4:200. Received: '{text}'")
        return cls(float(parts[0]), int(parts[1]), float(parts[2]), int(parts[3]))

    def __str__(self) -> str:
        return (f"rg {self.regression_steps} x {self.regression_learning_rate:g}, "
                f"ft {self.finetune_steps} x {self.finetune_learning_rate:g}")


def probe(model: keras.Model, data: DataConfig, ratios: Sequence[float],
          variants: Sequence[Variant], reward_batches: int, seed: int) -> list[dict]:
    """One row per (ratio, variant): accuracies before and after the roll-out, its seconds."""
    kernels = maskable_kernels(model, include_depthwise=False)
    sizes = [kernel.size for kernel in kernels]
    rows = []
    for ratio in ratios:
        plan = SparsityPlan.build(kernels, uniform_ratios(sizes, ratio), ratio, "uniform",
                                  prune_depthwise=False)
        counts = list(plan.pruned.values())
        for variant in variants:
            keras.utils.set_random_seed(seed)
            settings = WeightSparseConfig(
                prune_ratio=ratio, regression_learning_rate=variant.regression_learning_rate,
                regression_steps=variant.regression_steps, finetune_learning_rate=variant.finetune_learning_rate,
                finetune_steps=variant.finetune_steps, reward_batches=reward_batches)
            scorer = RolloutScorer(model, kernels, create_dataset(data), settings)
            start = time.perf_counter()
            metrics = scorer(counts)
            row = {"ratio": ratio, "variant": str(variant), **metrics,
                   "seconds": time.perf_counter() - start}
            print(f"sparsity {ratio:.2f}  {row['variant']:<32}"
                  f" before {metrics['accuracy_before_ft']:.4f}  after {metrics['accuracy']:.4f}"
                  f"  regression loss {metrics.get('regression_loss_start', float('nan')):.4g}"
                  f" -> {metrics.get('regression_loss', float('nan')):.4g}"
                  f"{' (undone)' if metrics.get('regression_undone') else ''}"
                  f"  {row['seconds']:.0f} s", flush=True)
            rows.append(row)
    return rows


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    flags.DEFINE_string("model", None, "the pre-trained .keras model", flag_values=flag_values)
    flags.DEFINE_string("dataset", "cifar10", "registered dataset name", flag_values=flag_values)
    flags.DEFINE_string("data_dir", None, "the dataset's files", flag_values=flag_values)
    flags.DEFINE_list("ratios", ["0.5", "0.75"], "overall sparsities", flag_values=flag_values)
    flags.DEFINE_list("variants", ["3e-2:20:3e-4:200", "1e-3:0:3e-4:200", "3e-2:20:3e-4:0"],
                      "lrn_rate_rg:nb_iters_rg:lrn_rate_ft:nb_iters_ft", flag_values=flag_values)
    flags.DEFINE_integer("nb_iters_feval", 25, "validation batches scored",
                         flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 128, "training batch size", flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "seed of the data order and of TensorFlow",
                         flag_values=flag_values)
    flags.mark_flag_as_required("model", flag_values=flag_values)


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    del argv
    fv = flag_values
    variants = [Variant.parse(text) for text in fv.variants]
    ratios = [float(text) for text in fv.ratios]
    model = keras.models.load_model(fv.model)
    data = DataConfig(dataset=fv.dataset, data_dir=fv.data_dir, batch_size=fv.batch_size,
                      seed=fv.seed)
    probe(model, data, ratios, variants, fv.nb_iters_feval, fv.seed)


if __name__ == "__main__":
    define_flags()
    app.run(main, argv=sys.argv)
