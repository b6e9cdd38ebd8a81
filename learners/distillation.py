"""Distillation from the pre-trained model: an extra loss any learner can add (``--enbl_dst``)."""

from __future__ import annotations

import keras
import tensorflow as tf

from learners.config import DistillationConfig


class DistillationLoss:
    """``loss_weight * CE(softmax(teacher / T), softmax(student / T))`` per example.

    The teacher runs in inference mode and receives no gradient. Passed to the trainer as one of
    its ``extra_losses``.

    Args:
        teacher: the pre-trained full-precision model (logits output).
        config: weight and temperature.
    """

    def __init__(self, teacher: keras.Model, config: DistillationConfig):
        self.teacher = teacher
        self.teacher.trainable = False
        self.weight = config.loss_weight
        self.temperature = config.temperature

    def __call__(self, images: tf.Tensor, student_logits: tf.Tensor) -> tf.Tensor:
        teacher_logits = tf.stop_gradient(self.teacher(images, training=False))
        soft_targets = tf.nn.softmax(tf.cast(teacher_logits, tf.float32) / self.temperature)
        log_probs = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / self.temperature)
        return -self.weight * tf.reduce_sum(soft_targets * log_probs, axis=-1)
