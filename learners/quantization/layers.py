"""Training-time layers: Conv2D / DepthwiseConv2D / Dense whose forward pass uses the quantized
kernel, and the activation quantizer.

The quantizing layers exist only while fine-tuning (``learners.quantization.model`` swaps them in
and out); they keep the float kernel as the trained master copy, so the optimizer's small steps
accumulate, and compute the quantized kernel from it in every forward pass. The codebook of a
codebook layer is a variable of the layer (trained or frozen by ``opt_mode``) and so is saved in
the trainer's checkpoints with everything else.

:class:`MinMaxActivationQuantizer` is the one quantization layer a final model may hold
(activation bits < 32): a registered, serialisable layer with a moving-average range.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers, ops

from learners.quantization.buckets import BucketLayout
from learners.quantization.quantizers import (
    check_bits,
    codebook_fake_quant,
    uniform_fake_quant,
)

QUANTIZER_KINDS = ("uniform", "codebook")


@dataclasses.dataclass(frozen=True)
class KernelQuantization:
    """How one layer's kernel is quantized.

    Attributes:
        kind: ``uniform`` (min-max levels) or ``codebook`` (trained codewords).
        bits: bits per weight.
        bucket_type: ``none``, ``split`` or ``channel``.
        bucket_size: weights per bucket (``split``).
    """

    kind: str
    bits: int
    bucket_type: str = "none"
    bucket_size: int = 256

    def __post_init__(self):
        if self.kind not in QUANTIZER_KINDS:
            raise ValueError(f"Expected a quantizer kind in {QUANTIZER_KINDS}. Received: {self.kind!r}")
        check_bits(self.bits)

    def layout(self, shape) -> BucketLayout:
        return BucketLayout(tuple(shape), self.bucket_type, self.bucket_size)


class _QuantizedKernelMixin:
    """Adds ``quantized_kernel()`` (and a codebook variable for ``codebook``) to a layer.

    Listed before the Keras layer class it extends: its ``__init__`` and ``build`` run first and
    hand on to the layer's.
    """

    def __init__(self, quantization: KernelQuantization, **kwargs):
        super().__init__(**kwargs)
        self.quantization = quantization
        self.codebook = None

    def build(self, input_shape):
        super().build(input_shape)
        if self.quantization.kind != "codebook":
            return
        layout = self.quantization.layout(self._float_kernel().shape)
        self.codebook = self.add_weight(
            name="codebook", shape=(layout.nb_buckets, 2 ** self.quantization.bits),
            initializer="zeros", trainable=True)

    def _check_channels_last(self):
        if self.data_format != "channels_last":
            raise ValueError("Expected channels_last convolutions. Received: "
                             f"data_format={self.data_format!r} in layer '{self.name}'")

    @property
    def undecayed_weights(self) -> list:
        """The codebook: codewords are not L2-decayed (``learners.trainer.decayed_variables``)."""
        return [self.codebook] if self.codebook is not None else []

    def _float_kernel(self):
        return self._kernel if hasattr(self, "_kernel") else self.kernel

    def quantized_kernel(self):
        kernel = self._float_kernel()
        layout = self.quantization.layout(kernel.shape)
        rows = layout.to_rows_tensor(kernel)
        if self.quantization.kind == "uniform":
            rows = uniform_fake_quant(rows, self.quantization.bits)
        else:
            rows = codebook_fake_quant(rows, self.codebook)
        return layout.from_rows_tensor(rows)

    def _finish(self, outputs):
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


class QuantizedConv2D(_QuantizedKernelMixin, layers.Conv2D):
    """``Conv2D`` computing with its quantized kernel."""

    def call(self, inputs):
        self._check_channels_last()
        return self._finish(self.convolution_op(inputs, self.quantized_kernel()))


class QuantizedDepthwiseConv2D(_QuantizedKernelMixin, layers.DepthwiseConv2D):
    """``DepthwiseConv2D`` computing with its quantized kernel."""

    def call(self, inputs):
        self._check_channels_last()
        outputs = ops.depthwise_conv(inputs, self.quantized_kernel(), strides=self.strides,
                                     padding=self.padding, dilation_rate=self.dilation_rate,
                                     data_format=self.data_format)
        return self._finish(outputs)


class QuantizedDense(_QuantizedKernelMixin, layers.Dense):
    """``Dense`` computing with its quantized kernel."""

    def call(self, inputs, training=None):
        return self._finish(ops.matmul(inputs, self.quantized_kernel()))


QUANTIZED_CLASSES = {layers.Conv2D: QuantizedConv2D, layers.DepthwiseConv2D: QuantizedDepthwiseConv2D,
                     layers.Dense: QuantizedDense}
"""Layer class -> its quantizing counterpart (exact classes: subclasses are left alone)."""


@keras.saving.register_keras_serializable(package="pocketflow")
class MinMaxActivationQuantizer(layers.Layer):
    """Min-max uniform quantization of activations on ``2^bits`` levels, straight-through.

    The range is a moving average of the batches' minimum and maximum during training (the first
    batch sets it) and fixed at inference, so a deployed model does not depend on its batch.

    Args:
        bits: bits per activation, 1 to 16.
        momentum: weight of the old range in the moving average.
    """

    def __init__(self, bits: int, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self.bits = check_bits(bits, "activation_bits")
        self.momentum = float(momentum)

    def build(self, input_shape):
        self.range_min = self.add_weight(name="range_min", shape=(), initializer="zeros",
                                         trainable=False)
        self.range_max = self.add_weight(name="range_max", shape=(), initializer="zeros",
                                         trainable=False)
        self.range_set = self.add_weight(name="range_set", shape=(), initializer="zeros",
                                         trainable=False)

    def call(self, inputs, training=None):
        low, high = self.range_min, self.range_max
        if training:
            batch_low = ops.stop_gradient(ops.min(inputs))
            batch_high = ops.stop_gradient(ops.max(inputs))
            first = self.range_set < 0.5
            low = ops.where(first, batch_low, self.momentum * low + (1 - self.momentum) * batch_low)
            high = ops.where(first, batch_high,
                             self.momentum * high + (1 - self.momentum) * batch_high)
            self.range_min.assign(low)
            self.range_max.assign(high)
            self.range_set.assign(1.0)
        levels = float(2 ** self.bits - 1)
        scale = ops.where(high > low, (high - low) / levels, 1.0)
        codes = ops.clip(ops.round((ops.clip(inputs, low, high) - low) / scale), 0.0, levels)
        quantized = low + codes * scale
        return quantized + (inputs - ops.stop_gradient(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "bits": self.bits, "momentum": self.momentum}
