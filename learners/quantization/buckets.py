"""Buckets: how a kernel is cut into rows that each get their own range or codebook.

A kernel is viewed as a matrix ``[nb_buckets, bucket_length]``:

* ``none``: the whole kernel is one bucket (one range / codebook per layer);
* ``split``: the flattened kernel (row-major) in chunks of ``bucket_size`` weights, the last one
  padded with the last weight (padding does not change a bucket's minimum or maximum and is not
  stored);
* ``channel``: one bucket per output channel (the last kernel axis of Conv2D and Dense; every
  ``(input channel, multiplier)`` pair of DepthwiseConv2D).

The same layout is computed with NumPy (packing, final values) and with ``keras.ops`` (the
training forward pass), so both see the same buckets.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from keras import ops

from learners.quantization.settings import BUCKET_TYPES


@dataclasses.dataclass(frozen=True)
class BucketLayout:
    """How one kernel of ``shape`` is cut into buckets.

    Attributes:
        shape: the kernel's shape.
        bucket_type: ``none``, ``split`` or ``channel``.
        bucket_size: weights per bucket (``split``).
    """

    shape: tuple[int, ...]
    bucket_type: str = "none"
    bucket_size: int = 256

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.bucket_type not in ("none", *BUCKET_TYPES):
            raise ValueError(f"Expected a bucket type in {('none', *BUCKET_TYPES)}. "
                             f"Received: {self.bucket_type!r}")
        if self.bucket_size < 1:
            raise ValueError(f"Expected bucket_size >= 1. Received: {self.bucket_size}")

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nb_buckets(self) -> int:
        if self.bucket_type == "split":
            return math.ceil(self.size / self.bucket_size)
        if self.bucket_type == "channel":
            return self.shape[-1] if len(self.shape) > 0 else 1
        return 1

    @property
    def bucket_length(self) -> int:
        if self.bucket_type == "split":
            return self.bucket_size
        return self.size // self.nb_buckets

    @property
    def padding(self) -> int:
        return self.nb_buckets * self.bucket_length - self.size

    # ------------------------------------------------------------------ NumPy
    def to_rows(self, kernel: np.ndarray) -> np.ndarray:
        """``kernel`` as ``[nb_buckets, bucket_length]``."""
        kernel = np.asarray(kernel)
        if self.bucket_type == "channel":
            return kernel.reshape(-1, self.nb_buckets).T
        flat = kernel.reshape(-1)
        if self.padding:
            flat = np.concatenate([flat, np.repeat(flat[-1:], self.padding)])
        return flat.reshape(self.nb_buckets, self.bucket_length)

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_rows` (padding dropped)."""
        rows = np.asarray(rows)
        if self.bucket_type == "channel":
            return rows.T.reshape(self.shape)
        return rows.reshape(-1)[: self.size].reshape(self.shape)

    # ------------------------------------------------------------------ keras.ops
    def to_rows_tensor(self, kernel):
        if self.bucket_type == "channel":
            return ops.transpose(ops.reshape(kernel, (-1, self.nb_buckets)))
        flat = ops.reshape(kernel, (-1,))
        if self.padding:
            flat = ops.concatenate([flat, ops.repeat(flat[-1:], self.padding)])
        return ops.reshape(flat, (self.nb_buckets, self.bucket_length))

    def from_rows_tensor(self, rows):
        if self.bucket_type == "channel":
            return ops.reshape(ops.transpose(rows), self.shape)
        flat = ops.reshape(rows, (-1,))
        if self.padding:
            flat = flat[: self.size]
        return ops.reshape(flat, self.shape)

    def to_dict(self) -> dict:
        return {"bucket_type": self.bucket_type, "bucket_size": self.bucket_size}
