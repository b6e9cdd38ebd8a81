import keras
import numpy as np
import tensorflow as tf

from learners.config import DistillationConfig
from learners.distillation import DistillationLoss


def _constant_model(logits):
    inputs = keras.Input((2,))
    outputs = keras.layers.Lambda(lambda x: tf.zeros_like(x[:, :1]) + tf.constant([logits], tf.float32))(inputs)
    return keras.Model(inputs, outputs)


def test_soft_cross_entropy_at_temperature():
    teacher_logits = [2.0, 0.0, -2.0]
    loss = DistillationLoss(_constant_model(teacher_logits), DistillationConfig(loss_weight=3.0, temperature=2.0))
    student_logits = tf.constant([[0.0, 1.0, 0.0]])
    value = loss(tf.zeros((1, 2)), student_logits).numpy()

    soft = np.exp(np.array(teacher_logits) / 2.0)
    soft /= soft.sum()
    log_student = np.array([0.0, 0.5, 0.0]) - np.log(np.exp([0.0, 0.5, 0.0]).sum())
    assert np.allclose(value, [-3.0 * (soft * log_student).sum()], atol=1e-6)


def test_gradient_vanishes_when_student_matches_teacher():
    logits = [1.0, -1.0, 0.5]
    loss = DistillationLoss(_constant_model(logits), DistillationConfig(loss_weight=4.0, temperature=4.0))
    student = tf.Variable([logits])
    with tf.GradientTape() as tape:
        value = loss(tf.zeros((1, 2)), student)
    assert np.allclose(tape.gradient(value, student).numpy(), 0.0, atol=1e-6)
