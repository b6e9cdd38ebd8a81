"""What the ``uniform`` and ``non-uniform`` learners share: bits, fine-tuning, artifacts.

``QuantizationLearner.train``:

1. load the pre-trained model (always: quantization starts from it) and pick the layers to
   quantize (first and last kept in float unless ``quantize_all_layers``);
2. bits per layer: ``weight_bits`` everywhere, or (``per_layer_bits``) a search over per-layer
   bits in ``[min_weight_bits, max_weight_bits]`` whose average, weighted by weight count, is
   ``equivalent_bits`` (``hpo``: DDPG by default, GP / TPE / random; the layers in a seeded
   random order; each roll-out quantizes at its bits, fine-tunes ``finetune_steps`` steps on the
   training split without the validation split and is scored by validation accuracy; trials
   are stored under ``search/`` so a rerun resumes);
3. ``plan.json`` (bits per layer, layers kept in float);
4. fine-tuning with quantization in the forward pass (``learners.quantization.layers``) through
   the shared trainer: checkpoints under ``checkpoints/``, a rerun resumes from them;
5. the plain Keras model whose kernels hold the quantized values (``model.keras``), the packed
   artifact (``model_packed.pfq``: codes at ``k`` bits per weight plus ranges or codebooks,
   read back and compared before anything is reported) and ``metrics.json`` with accuracy
   (float, quantized before and after fine-tuning), bits and the size report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import keras
import numpy as np
from absl import logging

from hpo.layer_search import LayerSearch, run_layer_search
from hpo.trial_store import stored_seconds
from learners.compression import Candidate, CompressionLearner
from learners.quantization.layers import MinMaxActivationQuantizer
from learners.quantization.model import (
    QuantizationSpec,
    build_quantized_model,
    finalize,
    kernel_size,
    select_layers,
    set_trainable,
    without_activation_quantizers,
)
from learners.quantization.packing import read_packed, size_report, write_packed
from learners.trainer import epoch_steps, evaluate
from utils.io import write_json_atomic

PACKED_FILE = "model_packed.pfq"


class QuantizationLearner(CompressionLearner):
    """Base of ``uniform`` and ``non-uniform`` (see module docstring).

    Subclasses set :attr:`kind` (``uniform`` or ``codebook``); ``settings`` is their
    ``UniformQuantConfig`` or ``NonUniformQuantConfig``.
    """

    kind: str = "uniform"
    metrics_keys = frozenset({"bits", "average_bits", "bits_source", "kept_float",
                              "activation_bits", "packed", "size", "int8_weights"})

    @property
    def opt_mode(self) -> str:
        return "weights"

    @property
    def init_style(self) -> str:
        return "quantile"

    @property
    def plan_path(self) -> str:
        return os.path.join(self.context.output_dir, "plan.json")

    @property
    def packed_path(self) -> str:
        return os.path.join(self.context.output_dir, PACKED_FILE)

    # ------------------------------------------------------------------------- settings
    def spec(self, bits: dict[str, int]) -> QuantizationSpec:
        settings = self.settings
        return QuantizationSpec(
            kind=self.kind, bits=dict(bits),
            bucket_type=settings.bucket_type if settings.use_buckets else "none",
            bucket_size=settings.bucket_size, activation_bits=settings.activation_bits,
            init_style=self.init_style)

    @property
    def learning_rate_flag(self) -> str:
        return f"--{self.settings.flag_prefix}lrn_rate"

    def finetune_config(self, nb_iters: int | None = None):
        """Adam at ``learning_rate`` for ``quant_epochs`` (or ``nb_iters``, or ``--nb_iters_train``
        steps), divided by 10 at 50 % and again at 80 % of the steps (constant for roll-outs)."""
        settings, train, context = self.settings, self.config.train, self.context
        config = dataclasses.replace(
            train, optimizer="adam", learning_rate=settings.learning_rate, epochs=settings.quant_epochs,
            learning_rate_schedule="piecewise", decay_boundaries=(), decay_rates=(1.0,),
            warmup_epochs=0.0, train_steps=nb_iters or train.train_steps)
        if nb_iters:
            return config
        per_epoch = epoch_steps(context.dataset, context.strategy.num_replicas_in_sync,
                                self.config.search_trial)
        epochs = (config.train_steps / (per_epoch * config.epochs_ratio)
                  if config.train_steps else settings.quant_epochs)
        return dataclasses.replace(config, decay_boundaries=(0.5 * epochs, 0.8 * epochs),
                                   decay_rates=(1.0, 0.1, 0.01))

    def quantized_model(self, teacher: keras.Model, bits: dict[str, int]) -> keras.Model:
        with self.context.strategy.scope():
            model = build_quantized_model(teacher, self.spec(bits))
        set_trainable(model, self.opt_mode)
        return model

    # ------------------------------------------------------------------------- bits
    def bit_allocation(self, teacher: keras.Model, names: list[str]) -> tuple[dict[str, int], str]:
        settings = self.settings
        if not settings.per_layer_bits:
            return {name: settings.weight_bits for name in names}, "fixed"
        if settings.min_weight_bits == settings.max_weight_bits:
            return {name: settings.min_weight_bits for name in names}, "fixed"
        return self.search_bits(teacher, names), "search"

    @staticmethod
    def average_bits(sizes: list[int]):
        """The budget's measure: bits per weight (one bit-width per layer, in order), averaged
        weighted by weight count; the search fills it up to ``equivalent_bits`` as far as whole
        bits allow."""
        total = float(sum(sizes))

        def average_bits(bits) -> float:
            return sum(size * b for size, b in zip(sizes, bits, strict=True)) / total

        return average_bits

    def search_bits(self, teacher: keras.Model, names: list[str]) -> dict[str, int]:
        """Per-layer bits found by the search (see module docstring), the fixed-bit plan (every
        layer at the average, rounded) first, so that the search returns nothing worse than it
        on the reward."""
        settings, context, name = self.settings, self.context, self.config.learner
        sizes = [kernel_size(teacher, layer) for layer in names]
        order = np.random.default_rng(self.config.train.seed).permutation(len(names))
        position = {int(layer): step for step, layer in enumerate(order)}
        total, largest = float(sum(sizes)), float(max(sizes))
        features = []  # DDPG's state per layer; ``later``: the weights decided after it
        for i, layer in enumerate(names):
            shape = list(teacher.get_layer(layer).kernel.shape)
            shape = [1] * (4 - len(shape)) + shape
            later = sum(sizes[j] for j in order[position[i] + 1:])
            features.append([i, *shape, sizes[i] / largest, later / total])
        average_bits = self.average_bits(sizes)
        fixed = min(max(round(settings.equivalent_bits), settings.min_weight_bits), settings.max_weight_bits)
        spec = self.spec({})
        search = LayerSearch(
            prefix="bits", nb_layers=len(names), low=settings.min_weight_bits, high=settings.max_weight_bits,
            integer=True, order=tuple(order), budget_kind="bits",
            budget_limit=settings.equivalent_bits, measure=average_bits,
            backend=settings.search_backend, seed=self.config.train.seed,
            rollouts=settings.rollouts, warmup_rollouts=settings.warmup_rollouts,
            layer_features=np.asarray(features, dtype=np.float64), first=[[fixed] * len(names)],
            description={"learner": name, "layers": names, "bucket_type": spec.bucket_type,
                         "bucket_size": spec.bucket_size, "nb_iters_ft": settings.finetune_steps,
                         "lrn_rate": settings.learning_rate})
        val_data = context.dataset.val_dataset()
        scratch = os.path.join(self.search_dir, "rollout_checkpoints")

        def reward(values):
            bits = {layer: int(b) for layer, b in zip(names, values, strict=True)}
            model = self.quantized_model(teacher, bits)
            if settings.finetune_steps:
                shutil.rmtree(scratch, ignore_errors=True)  # a roll-out never resumes another
                self.make_trainer(model, f"{name} roll-out",
                                  train_config=self.finetune_config(settings.finetune_steps),
                                  checkpoint_subdir=os.path.relpath(scratch, context.output_dir),
                                  exclude_val=True, learning_rate_flag=self.learning_rate_flag).train()
            accuracy = evaluate(model, val_data, context.dataset.nb_classes)["accuracy"]
            return accuracy, {"average_bits": average_bits(values)}

        logging.info("%s: searching bits of %d layers in [%d, %d] with %s, %d roll-outs, %.3g "
                     "bits on average", name, len(names), settings.min_weight_bits, settings.max_weight_bits,
                     settings.search_backend, settings.rollouts, settings.equivalent_bits)
        result = run_layer_search(search, reward, store_dir=self.search_dir)
        shutil.rmtree(scratch, ignore_errors=True)
        return {layer: int(b) for layer, b in zip(names, result.values, strict=True)}

    # ------------------------------------------------------------------------- plan
    def make_plan(self, teacher: keras.Model, bits: dict[str, int], kept: list[str],
                  source: str) -> dict:
        spec = self.spec(bits)
        sizes = {layer: kernel_size(teacher, layer) for layer in bits}
        return {
            "learner": self.config.learner, "quantizer": self.kind, "bits_source": source,
            "layers": {layer: {"bits": bits[layer], "nb_weights": sizes[layer],
                               "class": type(teacher.get_layer(layer)).__name__}
                       for layer in bits},
            "kept_float": kept,
            "average_bits": sum(sizes[n] * bits[n] for n in bits) / sum(sizes.values()),
            "bucket_type": spec.bucket_type, "bucket_size": spec.bucket_size,
            "activation_bits": spec.activation_bits,
            **({"init_style": self.init_style, "opt_mode": self.opt_mode}
               if self.kind == "codebook" else {}),
        }

    def check_resumable(self, plan: dict) -> None:
        """A rerun resumes the fine-tuning checkpoints only for the same plan."""
        checkpoints = os.path.join(self.context.output_dir, "checkpoints")
        if not (os.path.isfile(self.plan_path) and os.path.isdir(checkpoints)):
            return
        with open(self.plan_path) as handle:
            previous = json.load(handle)
        if previous != plan:
            raise ValueError(
                f"Expected the quantization plan of the checkpoints in '{checkpoints}' "
                f"(from {self.plan_path}). Received: different settings. Use another --save_dir "
                "or delete that directory to start over.")

    # ---------------------------------------------------------------------- lifecycle
    def derive(self, teacher: keras.Model) -> Candidate:
        """Bits per layer (fixed, or searched), the plan (saved before fine-tuning: a rerun
        resumes only the same plan) and the teacher with quantizers in the forward pass."""
        name = self.config.learner
        names, kept = select_layers(teacher, self.settings.quantize_all_layers)
        bits, source = self.bit_allocation(teacher, names)
        plan = json_ready(self.make_plan(teacher, bits, kept, source))
        self.check_resumable(plan)
        if self.context.is_chief:
            write_json_atomic(self.plan_path, plan)
        logging.info("%s: %s, %.3g bits per weight on average; kept in float: %s", name,
                     ", ".join(f"{layer}={b}" for layer, b in bits.items()),
                     plan["average_bits"], ", ".join(kept) or "none")
        return Candidate(self.quantized_model(teacher, bits), plan=self.plan_path,
                         search_seconds=stored_seconds(self.search_dir) if source == "search"
                         else None,
                         state={"bits": bits, "kept": kept, "source": source,
                                "average_bits": plan["average_bits"]})

    def finalize(self, candidate: Candidate, teacher: keras.Model) -> keras.Model:
        """Plain Keras layers holding the quantized weights, and their packed form."""
        with self.context.strategy.scope():
            final, candidate.state["packed"] = finalize(candidate.model, teacher,
                                                        self.spec(candidate.state["bits"]))
        return final

    def save(self, final: keras.Model, candidate: Candidate) -> None:
        """``model.keras`` and the packed file, checked to restore the weights exactly."""
        super().save(final, candidate)
        write_packed(self.packed_path, candidate.state["packed"])
        restored = read_packed(self.packed_path)
        mismatched = [v.path for v in final.weights
                      if not np.array_equal(restored[v.path], np.asarray(v))]
        if mismatched:
            raise RuntimeError(f"Expected '{self.packed_path}' to restore the model's weights "
                               f"exactly. Received: differences in {mismatched}")
        sizes = candidate.state["size"] = size_report(self.packed_path)
        sizes["keras_file_bytes"] = os.path.getsize(self.output_model_path)
        logging.info("%s: packed %s: %d bytes (float32 weights: %d bytes, %.2fx smaller; "
                     "%.3g bits per quantized weight with ranges / codebooks)", self.config.learner,
                     self.packed_path, sizes["total_bytes"], sizes["float_model_bytes"],
                     sizes["compression"], sizes["bits_per_quantized_weight"])

    def own_metrics(self, final: keras.Model, candidate: Candidate) -> dict:
        state = candidate.state
        return {"bits": state["bits"], "average_bits": state["average_bits"],
                "bits_source": state["source"], "kept_float": state["kept"],
                "activation_bits": self.settings.activation_bits, "packed": self.packed_path,
                "size": state.get("size", {})}

    # ------------------------------------------------------------------------- export
    def export(self, model: keras.Model) -> dict:
        """The default float + post-training int8 export, plus what the int8 file holds for
        the quantized kernels (``int8_weights``)."""
        from learners.quantization.tflite_weights import int8_kernel_report

        has_activation_quantizers = any(isinstance(layer, MinMaxActivationQuantizer)
                                        for layer in model.layers)
        result = super().export(without_activation_quantizers(model) if has_activation_quantizers
                                else model)
        plan = self.read_plan()
        if plan is None:
            return result
        bits = {layer: entry["bits"] for layer, entry in plan["layers"].items()}
        report = int8_kernel_report(result["export"]["int8_path"], model, bits)
        report["note"] = (
            "TFLite has no sub-8-bit weight type: the int8 file stores each k-bit kernel as int8 "
            "(at most 2^k distinct values per channel, re-rounded to the int8 per-channel grid), "
            "so it is as large and as fast as any int8 model; the k-bit storage is "
            f"{PACKED_FILE}, which a runtime decodes to float or int8 at load time.")
        if has_activation_quantizers:
            report["note"] += (f" Activations: both TFLite files are converted without the "
                               f"{self.settings.activation_bits}-bit activation quantizers; the "
                               "int8 file quantizes activations to 8 bits with calibrated ranges "
                               "(use --learner uniform-tf for an int8 model trained with them).")
        return {**result, "int8_weights": report}

    def read_plan(self) -> dict | None:
        if not os.path.isfile(self.plan_path):
            return None
        with open(self.plan_path) as handle:
            return json.load(handle)


def json_ready(value):
    """``value`` with NumPy scalars as Python numbers (what the plan compares after a reload)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
