"""Times LASSO channel selection + least-squares reconstruction over a ResNet-20-shaped stack.

The 19 3x3 convolutions of ResNet-20 at CIFAR-10 (16/32/64 channels, 32/16/8 pixels), sampled as
PocketFlow's ``channel`` learner did: ``--nb_points_per_layer`` (``cp_nb_points_per_layer``, 10)
output positions per image over ``--nb_batches`` (``cp_nb_batches``: 30 in the code, 60 in the
docs) batches of ``--batch_size`` (128) images, i.e. 38,400 rows per layer by default::

    PYTHONPATH=. .venv/bin/python -m benchmarks.channel_selection_speed --nb_batches 30

Feature maps are synthetic (ReLU of channel-mixed Gaussians) and the targets are the layer's
exact outputs plus noise, standing in for the unpruned model's responses; only the solvers are
timed (patch sampling is reported separately), so the numbers hold for real activations. Wall
seconds are printed, and the process CPU seconds beside them: on a machine whose cores are busy
the first can be several times the second.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np
import threadpoolctl
from absl import app, flags

from learners.pruning import criteria

# (input channels, output channels, stride, input height = width) of ResNet-20's convolutions.
RESNET20_CONVOLUTIONS = (
    [(3, 16, 1, 32)] + [(16, 16, 1, 32)] * 6
    + [(16, 32, 2, 32)] + [(32, 32, 1, 16)] * 5
    + [(32, 64, 2, 16)] + [(64, 64, 1, 8)] * 5)
SOLVERS = ("lars", "coordinate_descent", "ista")


@dataclasses.dataclass(frozen=True)
class LayerTiming:
    """Seconds spent on one convolution."""

    nb_channels: int
    nb_filters: int
    nb_rows: int
    nb_keep: int
    sampling_s: float
    selection_s: float
    reconstruction_s: float
    solver_cpu_s: float

    @property
    def solver_s(self) -> float:
        """Selection plus reconstruction."""
        return self.selection_s + self.reconstruction_s


def time_layer(nb_channels: int, nb_filters: int, stride: int, size: int, *, batch_size: int,
               nb_points: int, num_batches: int, preserve_ratio: float, solver: str,
               rng: np.random.Generator) -> LayerTiming:
    """Samples one layer's patches from synthetic feature maps, then selects and re-fits it."""
    mixing = (np.eye(nb_channels) + 0.3 * rng.standard_normal((nb_channels, nb_channels)))
    kernel = (rng.standard_normal((3, 3, nb_channels, nb_filters))
              * np.sqrt(2.0 / (9 * nb_channels))).astype(np.float32)
    batches, sampling_s = [], 0.0
    for _ in range(num_batches):
        feature_map = np.maximum(
            rng.standard_normal((batch_size, size, size, nb_channels), np.float32)
            @ mixing.astype(np.float32), 0.0)
        start = time.perf_counter()
        patches, _ = criteria.sample_patches(feature_map, 3, stride, "same", nb_points, rng)
        sampling_s += time.perf_counter() - start
        batches.append(patches)
    patches = np.concatenate(batches)
    outputs = patches.reshape(len(patches), -1) @ kernel.reshape(-1, nb_filters)
    outputs += 0.1 * outputs.std() * rng.standard_normal(outputs.shape, np.float32)
    nb_keep = max(1, round(nb_channels * preserve_ratio))

    cpu_start = time.process_time()
    start = time.perf_counter()
    if solver == "ista":
        kept = criteria.ista_channel_selection(patches, outputs, kernel, nb_keep)
    else:
        kept = criteria.lasso_channel_selection(patches, outputs, kernel, nb_keep, solver=solver)
    selection_s = time.perf_counter() - start
    start = time.perf_counter()
    criteria.least_squares_reconstruction(patches, outputs, kept)
    reconstruction_s = time.perf_counter() - start
    return LayerTiming(nb_channels, nb_filters, len(patches), nb_keep, sampling_s, selection_s,
                       reconstruction_s, time.process_time() - cpu_start)


def benchmark(*, batch_size: int = 128, nb_points: int = 10, num_batches: int = 30,
              preserve_ratio: float = 0.5, solver: str = "lars", seed: int = 0,
              layers: Sequence[tuple[int, int, int, int]] = RESNET20_CONVOLUTIONS,
              ) -> list[LayerTiming]:
    """Times every layer of ``layers`` (``(cin, cout, stride, input size)`` each), in order."""
    if solver not in SOLVERS:
        raise ValueError(f"Expected `solver` in {SOLVERS}. Received: solver={solver!r}")
    if not 0.0 < preserve_ratio <= 1.0:
        raise ValueError(f"Expected 0 < `preserve_ratio` <= 1. Received: {preserve_ratio}")
    rng = np.random.default_rng(seed)
    return [time_layer(*layer, batch_size=batch_size, nb_points=nb_points,
                       num_batches=num_batches, preserve_ratio=preserve_ratio, solver=solver,
                       rng=rng) for layer in layers]


def format_report(timings: Sequence[LayerTiming]) -> str:
    """One line per layer, then the totals and the per-layer median of selection + fit."""
    lines = [(f"{'layer':>5} {'cin':>4} {'cout':>4} {'keep':>4} {'rows':>7} {'sample s':>9} "
              f"{'select s':>9} {'refit s':>8}")]
    lines += [f"{index:>5} {t.nb_channels:>4} {t.nb_filters:>4} {t.nb_keep:>4} {t.nb_rows:>7} "
              f"{t.sampling_s:>9.3f} {t.selection_s:>9.3f} {t.reconstruction_s:>8.3f}"
              for index, t in enumerate(timings)]
    total = sum(t.solver_s for t in timings)
    lines.append(f"selection + reconstruction: total {total:.2f} s, per-layer median "
                 f"{statistics.median(t.solver_s for t in timings):.3f} s "
                 f"(process CPU {sum(t.solver_cpu_s for t in timings):.2f} s; patch sampling "
                 f"{sum(t.sampling_s for t in timings):.2f} s more)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- command line
def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the command-line flags (in ``flag_values``, so tests can use their own)."""
    flags.DEFINE_integer("batch_size", 128, "Images per sampled batch (ResNet-20's).",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_integer("nb_points_per_layer", 10,
                         "Output positions sampled per image (cp_nb_points_per_layer).",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_integer("nb_batches", 30, "Sampled batches (cp_nb_batches; docs say 60).",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_float("preserve_ratio", 0.5, "Fraction of input channels kept per layer.",
                       flag_values=flag_values)
    flags.DEFINE_enum("solver", "lars", SOLVERS, "LASSO solver.", flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "Random seed.", flag_values=flag_values)
    flags.DEFINE_integer("blas_threads", 0,
                         "BLAS/LAPACK threads (threadpoolctl); 0 keeps the library's default. "
                         "On a machine whose cores are busy, 1 avoids threads spinning against "
                         "each other.", lower_bound=0, flag_values=flag_values)


def main(argv: Sequence[str], flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Runs the benchmark with the command line's settings and prints the report."""
    del argv
    limits = threadpoolctl.threadpool_limits(flag_values.blas_threads or None)
    try:
        timings = benchmark(batch_size=flag_values.batch_size,
                            nb_points=flag_values.nb_points_per_layer,
                            num_batches=flag_values.nb_batches,
                            preserve_ratio=flag_values.preserve_ratio,
                            solver=flag_values.solver, seed=flag_values.seed)
    except ValueError as error:
        sys.exit(f"channel_selection_speed: error: {error}")
    finally:
        limits.restore_original_limits()
    print(f"solver {flag_values.solver}, {flag_values.nb_batches} batches x "
          f"{flag_values.batch_size} images x {flag_values.nb_points_per_layer} points, "
          f"BLAS threads {flag_values.blas_threads or 'default'}")
    print(format_report(timings))


if __name__ == "__main__":
    define_flags()
    app.run(main)
