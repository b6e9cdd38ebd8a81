"""Keras layers that quantize with TensorFlow's fake-quant ops, placed as the TFLite converter expects.

The converter turns a ``tf.quantization.fake_quant_with_min_max_vars*`` op into the scale and
zero point of the tensor it produces, so a model built from these layers converts to a
full-integer TFLite model without calibration (``export.converter.convert_quantization_aware``):

* :class:`FoldedConv2D`: a convolution (regular, grouped or depthwise) with the
  BatchNormalization that followed it folded in, ``w * gamma / sqrt(var + eps)`` and ``beta -
  gamma * mean / sqrt(var + eps)``; the folded kernel is fake-quantized symmetrically per output
  channel, as TFLite's int8 convolutions store it. The forward pass always folds the *moving*
  statistics (the deployed arithmetic); until ``freeze_bn_delay`` training steps they keep
  tracking the batch statistics, estimated from the quantized convolution's output.
* :class:`QuantDense`: a dense layer, kernel fake-quantized symmetrically per tensor (the
  converter rejects per-channel fake quantization of a fully-connected kernel: it has to
  transpose it).
* :class:`ActivationQuantizer`: asymmetric per-tensor fake quantization of an activation, its
  range a moving average of the batch minimum and maximum.

In inference mode every layer always quantizes (what the TFLite model computes); ``quant_delay``
only delays quantization in training. Every layer counts its own training steps in a weight, so
checkpoints resume the delays where they were.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PACKAGE = "pocketflow"
RANGE_DECAY = 0.99  # moving average of the activation ranges (per training step)
_EPSILON = 1e-8


def fake_quantize_symmetric(values: tf.Tensor, num_bits: int, per_channel: bool) -> tf.Tensor:
    """Symmetric (narrow-range) fake quantization, per last-axis channel or per tensor.

    The range is ``[-max|w|, max|w|]``; the gradient passes straight through (the range is not
    trained).
    """
    if per_channel:
        axes = list(range(len(values.shape) - 1))
        limit = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(values), axis=axes), _EPSILON))
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(
            values, -limit, limit, num_bits=num_bits, narrow_range=True)
    limit = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(values)), _EPSILON))
    return tf.quantization.fake_quant_with_min_max_vars(values, -limit, limit, num_bits=num_bits,
                                                        narrow_range=True)


class _StepCountingLayer(keras.layers.Layer):
    """A layer that counts its training calls (one per optimizer step) in a saved weight."""

    def __init__(self, *, num_bits: int = 8, quant_delay: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.num_bits = num_bits
        self.quant_delay = quant_delay

    def _add_step(self) -> None:
        self.step = self.add_weight(name="step", shape=(), dtype="int64", initializer="zeros",
                                    trainable=False, aggregation="only_first_replica")

    def _quantize_after_delay(self, values, quantize, training):
        """``quantize(values)``, or ``values`` while a training step is within ``quant_delay``."""
        if not training or self.quant_delay == 0:
            return quantize(values)
        return tf.cond(self.step >= self.quant_delay, lambda: quantize(values), lambda: values)

    def get_config(self):
        return {**super().get_config(), "num_bits": self.num_bits, "quant_delay": self.quant_delay}


@keras.saving.register_keras_serializable(PACKAGE)
class ActivationQuantizer(_StepCountingLayer):
    """Asymmetric per-tensor fake quantization with a moving-average range (see module doc)."""

    def build(self, input_shape):
        self.range_min = self.add_weight(name="range_min", shape=(), initializer="zeros",
                                         trainable=False, aggregation="mean")
        self.range_max = self.add_weight(name="range_max", shape=(), initializer="ones",
                                         trainable=False, aggregation="mean")
        self._add_step()

    def set_range(self, low: float, high: float) -> None:
        """Sets the range (the calibration before training); it always includes 0."""
        self.range_min.assign(min(float(low), 0.0))
        self.range_max.assign(max(float(high), 0.0, float(low) + 1e-6))

    def call(self, inputs, training=False):
        if training:
            decay = RANGE_DECAY
            self.range_min.assign(decay * self.range_min + (1 - decay) * tf.minimum(
                tf.stop_gradient(tf.reduce_min(inputs)), 0.0))
            self.range_max.assign(decay * self.range_max + (1 - decay) * tf.maximum(
                tf.stop_gradient(tf.reduce_max(inputs)), 0.0))
            self.step.assign_add(1)
        return self._quantize_after_delay(
            inputs, lambda x: tf.quantization.fake_quant_with_min_max_vars(
                x, self.range_min, self.range_max, num_bits=self.num_bits), training)

    def compute_output_shape(self, input_shape):
        # Declared, not traced: Keras marks ``x * constant`` as sparse when built symbolically.
        return input_shape


_ACTIVATIONS = {None: None, "linear": None, "relu": tf.nn.relu, "relu6": tf.nn.relu6}


def _activation(name):
    if name not in _ACTIVATIONS:
        raise ValueError(f"Expected a fused activation in {sorted(k for k in _ACTIVATIONS if k)} "
                         f"or none. Received: {name!r}")
    return _ACTIVATIONS[name]


@keras.saving.register_keras_serializable(PACKAGE)
class FoldedConv2D(_StepCountingLayer):
    """Conv2D / DepthwiseConv2D (+ folded BatchNorm) with fake-quantized weights (module doc).

    Args:
        filters: output channels (for a depthwise convolution: input channels x multiplier).
        kernel_size, strides, padding, dilation_rate: as Keras' convolutions (``padding`` is
            ``same`` or ``valid``).
        depthwise: a depthwise convolution (kernel ``[h, w, in, multiplier]``).
        groups: a grouped convolution's groups (kernel ``[h, w, in / groups, filters]``).
        use_bias: the convolution's own bias.
        activation: fused activation after the convolution (and BN): none, relu or relu6.
        fold_batch_norm: a BatchNorm follows and is folded in.
        bn_momentum, bn_epsilon: the folded BatchNorm's.
        freeze_bn_delay: training steps after which the moving statistics stop tracking (0:
            frozen from the start); -1: never.
        num_bits, quant_delay: of the weights' fake quantization.
    """

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid",
                 dilation_rate=(1, 1), *, depthwise: bool = False, groups: int = 1,
                 use_bias: bool = True,
                 activation: str | None = None, fold_batch_norm: bool = False,
                 bn_momentum: float = 0.99, bn_epsilon: float = 1e-3, freeze_bn_delay: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(kernel_size)
        self.strides = tuple(strides)
        self.padding = padding.upper()
        self.dilation_rate = tuple(dilation_rate)
        self.depthwise = depthwise
        self.groups = int(groups)
        if self.groups < 1 or (depthwise and self.groups != 1):
            raise ValueError(f"Expected groups >= 1, and 1 for a depthwise convolution. "
                             f"Received: groups={groups}, depthwise={depthwise}")
        self.use_bias = use_bias
        self.activation = None if activation == "linear" else activation
        self._activation_fn = _activation(self.activation)
        self.fold_batch_norm = fold_batch_norm
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.freeze_bn_delay = freeze_bn_delay

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if self.depthwise:
            shape = (*self.kernel_size, channels, self.filters // channels)
        else:
            shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer="he_normal")
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)
        if self.fold_batch_norm:
            self.gamma = self.add_weight(name="gamma", shape=(self.filters,), initializer="ones")
            self.beta = self.add_weight(name="beta", shape=(self.filters,), initializer="zeros")
            self.moving_mean = self.add_weight(name="moving_mean", shape=(self.filters,),
                                               initializer="zeros", trainable=False,
                                               aggregation="mean")
            self.moving_variance = self.add_weight(name="moving_variance", shape=(self.filters,),
                                                   initializer="ones", trainable=False,
                                                   aggregation="mean")
        self._add_step()

    @property
    def undecayed_weights(self) -> list:
        """The folded BatchNorm's scale and offset: not L2-decayed, as a BatchNorm's are not."""
        return [self.gamma, self.beta] if self.fold_batch_norm else []

    def folded(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The kernel and bias with the BatchNorm's moving statistics folded in (float)."""
        bias = self.bias if self.use_bias else tf.zeros((self.filters,), self.kernel.dtype)
        if not self.fold_batch_norm:
            return self.kernel, bias
        scale = self.gamma * tf.math.rsqrt(self.moving_variance + self.bn_epsilon)
        # a kernel's last axes are [in, out], a depthwise one's [in, multiplier] (channel in*m+j)
        kernel = self.kernel * (tf.reshape(scale, self.kernel.shape[2:]) if self.depthwise
                                else scale)
        return kernel, self.beta + (bias - self.moving_mean) * scale

    def _quantize_kernel(self, kernel):
        if not self.depthwise:
            return fake_quantize_symmetric(kernel, self.num_bits, per_channel=True)
        # per output channel of a depthwise kernel [h, w, in, m]: channel = in * m + j
        flat = tf.reshape(kernel, (*kernel.shape[:2], 1, self.filters))
        return tf.reshape(fake_quantize_symmetric(flat, self.num_bits, per_channel=True),
                          kernel.shape)

    def _convolve(self, inputs, kernel):
        if self.depthwise:
            return tf.nn.depthwise_conv2d(inputs, kernel, (1, *self.strides, 1), self.padding,
                                          dilations=self.dilation_rate)
        if self.groups > 1:  # Keras runs them with XLA where TF's CPU kernel has none
            return keras.ops.conv(inputs, kernel, self.strides, self.padding.lower(),
                                  dilation_rate=self.dilation_rate)
        return tf.nn.conv2d(inputs, kernel, self.strides, self.padding,
                            dilations=self.dilation_rate)

    def call(self, inputs, training=False):
        kernel, bias = self.folded()
        kernel = self._quantize_after_delay(kernel, self._quantize_kernel, training)
        outputs = self._convolve(inputs, kernel) + bias
        if training and self.fold_batch_norm:
            self._track_batch_statistics(outputs, bias)
        if training:
            self.step.assign_add(1)
        return self._activation_fn(outputs) if self._activation_fn else outputs

    def _track_batch_statistics(self, outputs, folded_bias) -> None:
        """Moves the moving statistics toward the batch's, like a training BatchNorm.

        The BatchNorm's input (the unfolded convolution) is ``(outputs - folded_bias) / scale``
        up to the weights' quantization error, so it costs no second convolution. Channels whose
        scale is ~0 carry no information and keep their statistics.
        """
        scale = tf.stop_gradient(self.gamma * tf.math.rsqrt(self.moving_variance + self.bn_epsilon))
        usable = tf.abs(scale) > 1e-6
        bias = self.bias if self.use_bias else 0.0
        unfolded = (tf.stop_gradient(outputs) - tf.stop_gradient(folded_bias)) / tf.where(
            usable, scale, 1.0) + bias
        mean, variance = tf.nn.moments(unfolded, axes=[0, 1, 2])
        momentum = self.bn_momentum

        def update():
            self.moving_mean.assign(tf.where(
                usable, momentum * self.moving_mean + (1 - momentum) * mean, self.moving_mean))
            self.moving_variance.assign(tf.where(
                usable, momentum * self.moving_variance + (1 - momentum) * variance,
                self.moving_variance))
            return tf.constant(True)

        if self.freeze_bn_delay < 0:
            update()
        else:
            tf.cond(self.step < self.freeze_bn_delay, update, lambda: tf.constant(False))

    def compute_output_shape(self, input_shape):
        return keras.layers.Conv2D(self.filters, self.kernel_size, self.strides,
                                   self.padding.lower(), dilation_rate=self.dilation_rate
                                   ).compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding.lower(),
                "dilation_rate": self.dilation_rate, "depthwise": self.depthwise,
                "groups": self.groups,
                "use_bias": self.use_bias, "activation": self.activation,
                "fold_batch_norm": self.fold_batch_norm, "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon, "freeze_bn_delay": self.freeze_bn_delay}


@keras.saving.register_keras_serializable(PACKAGE)
class QuantDense(_StepCountingLayer):
    """Dense layer whose kernel is fake-quantized symmetrically per tensor (module doc)."""

    def __init__(self, units: int, *, use_bias: bool = True, activation: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.use_bias = use_bias
        self.activation = None if activation == "linear" else activation
        self._activation_fn = _activation(self.activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(int(input_shape[-1]), self.units),
                                      initializer="glorot_uniform")
        self.bias = (self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
                     if self.use_bias else None)
        self._add_step()

    def call(self, inputs, training=False):
        kernel = self._quantize_after_delay(
            self.kernel, lambda w: fake_quantize_symmetric(w, self.num_bits, per_channel=False),
            training)
        outputs = tf.matmul(inputs, kernel)
        if self.use_bias:
            outputs = outputs + self.bias
        if training:
            self.step.assign_add(1)
        return self._activation_fn(outputs) if self._activation_fn else outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias,
                "activation": self.activation}
