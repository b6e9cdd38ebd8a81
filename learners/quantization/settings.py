"""Validation shared by the settings of the ``uniform`` and ``non-uniform`` learners."""

from __future__ import annotations

from learners.quantization.buckets import BUCKET_TYPES
from learners.quantization.quantizers import MAX_BITS

SEARCH_BACKENDS = ("ddpg", "gp", "tpe", "random")
FLOAT_ACTIVATIONS = 32
"""``activation_bits`` value that leaves activations in float."""


def validate_quantization_settings(settings, prefix: str) -> None:
    """Checks the fields both quantization learners share; errors name the ``--<prefix>`` flag.

    Raises:
        ValueError: "Expected ... Received ..." for the first bad value.
    """
    def flag(name):
        return f"--{prefix}{name}"

    for name in ("weight_bits", "w_bit_min", "w_bit_max"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BITS:
            raise ValueError(f"Expected {flag(name)} an integer in [1, {MAX_BITS}]. "
                             f"Received: {value!r}")
    bits = settings.activation_bits
    if isinstance(bits, bool) or not isinstance(bits, int) or not (
            1 <= bits <= MAX_BITS or bits == FLOAT_ACTIVATIONS):
        raise ValueError(f"Expected {flag('activation_bits')} an integer in [1, {MAX_BITS}], or "
                         f"{FLOAT_ACTIVATIONS} for float activations. Received: {bits!r}")
    if settings.w_bit_min > settings.w_bit_max:
        raise ValueError(f"Expected {flag('w_bit_min')} <= {flag('w_bit_max')}. Received: "
                         f"{settings.w_bit_min} > {settings.w_bit_max}")
    if not settings.w_bit_min <= settings.equivalent_bits <= settings.w_bit_max:
        raise ValueError(f"Expected {flag('equivalent_bits')} in [{flag('w_bit_min')}, "
                         f"{flag('w_bit_max')}] = [{settings.w_bit_min}, {settings.w_bit_max}]. "
                         f"Received: {settings.equivalent_bits}")
    if settings.bucket_type not in BUCKET_TYPES:
        raise ValueError(f"Expected {flag('bucket_type')} in {BUCKET_TYPES}. "
                         f"Received: {settings.bucket_type!r}")
    if settings.search_backend not in SEARCH_BACKENDS:
        raise ValueError(f"Expected {flag('search_backend')} in {SEARCH_BACKENDS}. "
                         f"Received: {settings.search_backend!r}")
    for name in ("bucket_size", "nb_rlouts", "nb_rlouts_min"):
        if getattr(settings, name) < 1:
            raise ValueError(f"Expected {flag(name)} >= 1. Received: {getattr(settings, name)}")
    if settings.nb_iters_ft < 0:
        raise ValueError(f"Expected {flag('nb_iters_ft')} >= 0. Received: {settings.nb_iters_ft}")
    for name in ("quant_epochs", "lrn_rate"):
        if not getattr(settings, name) > 0:
            raise ValueError(f"Expected {flag(name)} > 0. Received: {getattr(settings, name)}")
