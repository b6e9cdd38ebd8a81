"""Quantization-aware training for TFLite (``--learner uniform-tf``, Jacob et al. 2018).

1. The pre-trained model is rewritten with TensorFlow's fake-quant ops where TFLite's int8
   kernels quantize (``transform.quantize_model``: BatchNorm folded into the preceding
   convolution, weights symmetric per output channel, activations asymmetric per tensor), and its
   activation ranges are calibrated on ``--uqtf_nb_calibration_batches`` training batches.
2. It is fine-tuned with Adam at ``--uqtf_lrn_rate_dcy`` times the net's learning rate, over the
   net's schedule (``--nb_epochs_rat`` scales it; the original found 0.2 enough), checkpointed
   and resumable like every learner; distillation from the float model works through
   ``--enbl_dst``.
3. Export converts the fake-quant ranges straight into a full-integer ``model_int8.tflite`` (no
   calibration), audits it (every op integer, or which one is not and why), and compares it with
   the float TFLite and with post-training int8 quantization of the same float model
   (``model_ptq_int8.tflite``): accuracy, size and latency side by side.

Artifacts: ``model.keras`` (the quantization-aware model; its layers are registered Keras
serializables, importing ``learners.uniform_quant_tf.layers`` loads them), ``plan.json`` (bits
of every quantized layer, the trained activation ranges), ``metrics.json``, the three TFLite
files and ``export.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
from absl import logging

from learners.compression import Candidate, CompressionLearner
from learners.config import TrainConfig
from learners.uniform_quant_tf.transform import (
    activation_quantizers,
    calibrate_ranges,
    quantization_plan,
    quantize_model,
    with_activation_bits,
)
from utils.io import write_json_atomic

PTQ_INT8_FILE = "model_ptq_int8.tflite"


class UniformQuantTFLearner(CompressionLearner):
    """Quantization-aware fine-tuning of the pre-trained model (see module docstring)."""

    metrics_keys = frozenset({"weight_bits", "activation_bits", "quant_delay", "freeze_bn_delay",
                              "activation_quantizers"})

    def __init__(self, context):
        super().__init__(context)
        self._dense = None
        self.check_resumable()

    @property
    def bits(self) -> dict[str, int]:
        return {"weight_bits": self.settings.weight_bits,
                "activation_bits": self.settings.activation_bits}

    def check_resumable(self) -> None:
        """A rerun on the same ``--save_dir`` resumes only with the bits its checkpoints have.

        Raises:
            ValueError: naming both settings, before any work.
        """
        if not os.path.isfile(self.plan_path):
            return
        with open(self.plan_path) as handle:
            previous = json.load(handle).get("settings")
        if previous is not None and previous != self.bits:
            raise ValueError(f"Expected the bits of the run that wrote '{self.plan_path}' "
                             f"({previous}) to resume it. Received: {self.bits}; use another "
                             "--save_dir for other bits")

    @property
    def plan_path(self) -> str:
        return os.path.join(self.context.output_dir, "plan.json")

    def plan(self, model: keras.Model) -> dict:
        """``plan.json``: the bits asked for, and per layer (``transform.quantization_plan``)."""
        return {"settings": self.bits, **quantization_plan(model)}

    def quantization_aware_model(self, dense: keras.Model) -> keras.Model:
        """``dense`` rewritten with fake quantization, its activation ranges calibrated."""
        settings = self.settings
        with self.context.strategy.scope():
            model = quantize_model(dense, weight_bits=settings.weight_bits,
                                   activation_bits=settings.activation_bits,
                                   quant_delay=settings.quant_delay,
                                   freeze_bn_delay=settings.freeze_bn_delay)
        batch_size = self.context.dataset.config.batch_size
        images = self.context.dataset.calibration_images(settings.calibration_batches * batch_size)
        calibrate_ranges(model, [images[i:i + batch_size] for i in range(0, len(images), batch_size)])
        return model

    # ---------------------------------------------------------------------- lifecycle
    def derive(self, teacher: keras.Model) -> Candidate:
        """The teacher rewritten with fake quantization, its ranges calibrated; ``plan.json``
        written before training, so that a rerun checks its bits against it."""
        self._dense = teacher
        model = self.quantization_aware_model(teacher)
        if self.context.is_chief:
            write_json_atomic(self.plan_path, self.plan(model))
        logging.info("%s: %d-bit weights / %d-bit activations, %d activation quantizers",
                     self.config.learner, self.settings.weight_bits,
                     self.settings.activation_bits, len(activation_quantizers(model)))
        return Candidate(model, plan=self.plan_path)

    def finetune_config(self) -> TrainConfig:
        """Adam at ``--uqtf_lrn_rate_dcy`` times the net's learning rate, on the net's schedule."""
        train = self.config.train
        return dataclasses.replace(train, optimizer="adam",
                                   learning_rate=train.learning_rate * self.settings.learning_rate_multiplier)

    def save(self, final: keras.Model, candidate: Candidate) -> None:
        super().save(final, candidate)
        write_json_atomic(self.plan_path, self.plan(final))  # with the trained ranges

    def own_metrics(self, final: keras.Model, candidate: Candidate) -> dict:
        settings = self.settings
        return {"weight_bits": settings.weight_bits, "activation_bits": settings.activation_bits,
                "quant_delay": settings.quant_delay, "freeze_bn_delay": settings.freeze_bn_delay,
                "activation_quantizers": len(activation_quantizers(final))}

    def sized_model(self, final: keras.Model, teacher: keras.Model) -> keras.Model:
        """The teacher: quantization-aware training keeps its layers and adds only ranges."""
        return teacher

    def export(self, model: keras.Model) -> dict:
        """The int8 TFLite of the trained ranges, beside the float and post-training int8 ones.

        ``export`` keeps the keys every learner reports: ``float_*`` are the pre-trained float
        model's TFLite, ``int8_*`` this learner's (converted from the fake-quant ranges), plus
        ``ptq_int8_*`` for post-training quantization of the float model and
        ``int8_max_abs_logit_diff``, the int8 file's largest deviation from the Keras model.
        """
        from export import (REPORT_FILE, audit_int8, benchmark, convert_quantization_aware,
                            evaluate_accuracy, export_model, first_images, max_abs_logit_diff)

        context, export = self.context, self.config.export
        dataset, out_dir = context.dataset, context.output_dir

        def log(line):
            logging.info("export: %s", line)

        dense = self._dense if self._dense is not None else context.load_pretrained()
        log("float model and its post-training int8 quantization, for comparison:")
        reference = export_model(dense, dataset, out_dir, calibration_size=export.calibration_size,
                                 log=log)
        ptq_path = os.path.join(out_dir, PTQ_INT8_FILE)
        os.replace(reference.int8_path, ptq_path)
        log("converting the quantization-aware model (ranges from training, no calibration) ...")
        deployed = model
        if self.settings.activation_bits < 8:
            logging.warning("%s: TFLite has no %d-bit activation kernels; model_int8.tflite "
                            "keeps the trained ranges with 8-bit activations (its accuracy is "
                            "measured below)", self.config.learner, self.settings.activation_bits)
            deployed = with_activation_bits(model, 8)
        int8_model = convert_quantization_aware(deployed)
        with open(reference.int8_path, "wb") as handle:
            handle.write(int8_model)
        audit = audit_int8(int8_model)
        log(audit.summary().replace("\n", "\n      "))
        accuracy = evaluate_accuracy(int8_model, dataset)
        deviation = max_abs_logit_diff(
            model, int8_model, first_images(dataset.eval_dataset(), reference.nb_parity_images))
        log(f"{reference.int8_path}: {len(int8_model):,} bytes, accuracy {accuracy:.4f} (float "
            f"{reference.float_accuracy:.4f}, post-training int8 {reference.int8_accuracy:.4f}); "
            f"max |logit diff| vs the Keras model {deviation:.4g}")
        report = {
            **reference.to_dict(),
            "int8_size_bytes": len(int8_model), "int8_accuracy": accuracy,
            "int8_audit": audit.to_dict(), "int8_max_abs_logit_diff": deviation,
            "ptq_int8_path": ptq_path, "ptq_int8_size_bytes": reference.int8_size_bytes,
            "ptq_int8_accuracy": reference.int8_accuracy,
            "ptq_int8_audit": reference.int8_audit.to_dict(),
            # what the int8 file stores: k-bit weight values in int8 tensors
            "int8_weight_bits": self.settings.weight_bits, "int8_activation_bits": 8,
        }
        with open(os.path.join(out_dir, REPORT_FILE), "w") as handle:
            json.dump(report, handle, indent=2)
        result = {"export": report}
        if export.benchmark:
            latencies = benchmark([reference.float_path, reference.int8_path, ptq_path],
                                  export.benchmark_threads, repeats=export.benchmark_repeats)
            result["latency"] = [row.to_dict() for row in latencies]
        return result
