"""The packed artifact: a model's weights with quantized kernels stored at ``k`` bits per weight.

File layout (``model_packed.pfq``), little-endian::

    b"PFQ1" | uint32 header length | header (UTF-8 JSON) | sections

The header lists every weight of the model, in ``model.weights`` order, by its variable path:
``float32`` weights keep their raw float32 bytes; ``uniform`` kernels store their codes
bit-packed at ``bits`` bits per weight plus a float32 ``low`` and ``scale`` per bucket;
``codebook`` kernels store their codes bit-packed plus a float32 table of ``2^bits`` codeword
values per bucket. Each section is ``[offset, length]`` in bytes from the end of the header.

:func:`read_packed` returns the same arrays the model holds, bit for bit (the codes go through
the same :mod:`learners.quantization.quantizers` dequantization that produced the weights), and
:func:`size_report` splits the file size into its parts, which add up to the file's size.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct

import keras
import numpy as np

from learners.quantization.buckets import BucketLayout
from learners.quantization.quantizers import (
    check_bits,
    code_dtype,
    dequantize_codebook,
    dequantize_uniform,
)
from utils.io import temporary_path

MAGIC = b"PFQ1"
FORMAT = "pocketflow-packed-weights-v1"


def pack_bits(codes: np.ndarray, bits: int) -> bytes:
    """``codes`` (non-negative integers < 2^bits) at ``bits`` bits each, ``ceil(n*bits/8)`` bytes."""
    bits = check_bits(bits)
    codes = np.asarray(codes).reshape(-1).astype(np.uint32)
    if codes.size and int(codes.max()) >= 2 ** bits:
        raise ValueError(f"Expected codes < 2^{bits}. Received: a code {int(codes.max())}")
    planes = ((codes[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(planes.reshape(-1), bitorder="little").tobytes()


def unpack_bits(data: bytes, bits: int, count: int) -> np.ndarray:
    """The inverse of :func:`pack_bits`: ``count`` codes."""
    bits = check_bits(bits)
    planes = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count * bits,
                           bitorder="little").reshape(count, bits).astype(np.uint32)
    codes = (planes << np.arange(bits, dtype=np.uint32)).sum(axis=1)
    return codes.astype(code_dtype(bits))


@dataclasses.dataclass
class PackedWeight:
    """One weight of the artifact.

    Attributes:
        name: the variable's path (``conv1/kernel``).
        shape: the weight's shape.
        kind: ``float32``, ``uniform`` or ``codebook``.
        values: the float32 array (``float32`` only).
        bits: bits per code.
        layout: the kernel's buckets.
        codes: ``[nb_buckets, bucket_length]`` integer codes (padding included; not stored).
        low: per-bucket minimum (``uniform``).
        scale: per-bucket step (``uniform``).
        table: per-bucket codeword values ``[nb_buckets, 2^bits]`` (``codebook``).
    """

    name: str
    shape: tuple[int, ...]
    kind: str
    values: np.ndarray | None = None
    bits: int = 32
    layout: BucketLayout | None = None
    codes: np.ndarray | None = None
    low: np.ndarray | None = None
    scale: np.ndarray | None = None
    table: np.ndarray | None = None

    def dequantized(self) -> np.ndarray:
        """The weight's values (float32), exactly as the final model holds them."""
        if self.kind == "float32":
            return np.asarray(self.values, dtype=np.float32).reshape(self.shape)
        if self.kind == "uniform":
            rows = dequantize_uniform(self.codes, self.low, self.scale)
        else:
            rows = dequantize_codebook(self.codes, self.table)
        return self.layout.from_rows(rows)


def _stored_codes(weight: PackedWeight) -> np.ndarray:
    """The codes row by row, without a split layout's padding (always at the end)."""
    return np.asarray(weight.codes).reshape(-1)[: weight.layout.size]


def write_packed(path: str, weights: list[PackedWeight]) -> str:
    """Writes the artifact atomically; returns ``path``."""
    header_entries, blobs, offset = [], [], 0

    def section(data: bytes) -> list[int]:
        nonlocal offset
        blobs.append(data)
        offset += len(data)
        return [offset - len(data), len(data)]

    for weight in weights:
        entry = {"name": weight.name, "shape": list(weight.shape), "kind": weight.kind}
        if weight.kind == "float32":
            entry["sections"] = {"values": section(np.asarray(weight.values, "<f4").tobytes())}
        else:
            entry.update(bits=weight.bits, layout=weight.layout.to_dict())
            sections = {"codes": section(pack_bits(_stored_codes(weight), weight.bits))}
            if weight.kind == "uniform":
                sections["low"] = section(np.asarray(weight.low, "<f4").tobytes())
                sections["scale"] = section(np.asarray(weight.scale, "<f4").tobytes())
            else:
                sections["table"] = section(np.asarray(weight.table, "<f4").tobytes())
            entry["sections"] = sections
        header_entries.append(entry)
    header = json.dumps({"format": FORMAT, "weights": header_entries},
                        separators=(",", ":")).encode()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = temporary_path(path)
    with open(temporary, "wb") as handle:
        handle.write(MAGIC + struct.pack("<I", len(header)) + header)
        handle.writelines(blobs)
    os.replace(temporary, path)
    return path


def _read_header(path: str) -> tuple[dict, bytes]:
    with open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 8 or data[:4] != MAGIC:
        raise ValueError(f"Expected a packed-weights file (starting with {MAGIC!r}) at '{path}'. "
                         f"Received: {data[:4]!r}")
    (length,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8:8 + length].decode())
    if header.get("format") != FORMAT:
        raise ValueError(f"Expected format {FORMAT!r} in '{path}'. Received: {header.get('format')!r}")
    return header, data[8 + length:]


def read_packed(path: str) -> dict[str, np.ndarray]:
    """``{variable path: float32 array}`` for every weight in the artifact, in file order."""
    header, payload = _read_header(path)

    def blob(entry, name):
        start, length = entry["sections"][name]
        return payload[start:start + length]

    weights = {}
    for entry in header["weights"]:
        shape = tuple(entry["shape"])
        if entry["kind"] == "float32":
            weights[entry["name"]] = np.frombuffer(blob(entry, "values"), "<f4").astype(
                np.float32).reshape(shape)
            continue
        layout = BucketLayout(shape, **entry["layout"])
        codes = unpack_bits(blob(entry, "codes"), entry["bits"], layout.size)
        rows = np.concatenate([codes, np.zeros(layout.padding, codes.dtype)]).reshape(
            layout.nb_buckets, layout.bucket_length)  # padding codes are dropped by from_rows
        weight = PackedWeight(entry["name"], shape, entry["kind"], bits=entry["bits"],
                              layout=layout, codes=rows)
        if entry["kind"] == "uniform":
            weight.low = np.frombuffer(blob(entry, "low"), "<f4")
            weight.scale = np.frombuffer(blob(entry, "scale"), "<f4")
        else:
            weight.table = np.frombuffer(blob(entry, "table"), "<f4").reshape(
                layout.nb_buckets, 2 ** entry["bits"])
        weights[entry["name"]] = weight.dequantized()
    return weights


def load_packed_into(model: keras.Model, path: str) -> keras.Model:
    """Sets every weight of ``model`` from the artifact (matched by variable path).

    Raises:
        ValueError: if the model's weights and the artifact's differ in names or shapes.
    """
    weights = read_packed(path)
    names = [variable.path for variable in model.weights]
    if sorted(names) != sorted(weights):
        raise ValueError(f"Expected the weights of '{path}' to be the model's. Received: only in "
                         f"the model {sorted(set(names) - set(weights))}, only in the file "
                         f"{sorted(set(weights) - set(names))}")
    for variable in model.weights:
        variable.assign(weights[variable.path])
    return model


def size_report(path: str) -> dict:
    """The artifact's bytes by part; ``total_bytes`` equals the file's size.

    Returns:
        ``codes_bytes`` (bit-packed codes), ``ranges_bytes`` (uniform low / scale per bucket),
        ``codebooks_bytes`` (codeword tables), ``float_bytes`` (weights kept in float32),
        ``header_bytes`` (magic, length and JSON header), ``total_bytes``, ``file_bytes``,
        ``float_model_bytes`` (every weight in float32), ``compression`` (float / total) and
        ``bits_per_quantized_weight`` (codes + ranges / codebooks over quantized weights).
    """
    header, payload = _read_header(path)
    parts = {"codes_bytes": 0, "ranges_bytes": 0, "codebooks_bytes": 0, "float_bytes": 0}
    nb_quantized = nb_weights = 0
    for entry in header["weights"]:
        size = int(np.prod(entry["shape"])) if entry["shape"] else 1
        nb_weights += size
        for name, (_, length) in entry["sections"].items():
            key = {"values": "float_bytes", "codes": "codes_bytes", "low": "ranges_bytes",
                   "scale": "ranges_bytes", "table": "codebooks_bytes"}[name]
            parts[key] += length
        if entry["kind"] != "float32":
            nb_quantized += size
    file_bytes = os.path.getsize(path)
    parts["header_bytes"] = file_bytes - len(payload)
    total = sum(parts.values())
    quantized_bytes = parts["codes_bytes"] + parts["ranges_bytes"] + parts["codebooks_bytes"]
    return {**parts, "total_bytes": total, "file_bytes": file_bytes,
            "float_model_bytes": 4 * nb_weights, "compression": 4 * nb_weights / total,
            "nb_weights": nb_weights, "nb_quantized_weights": nb_quantized,
            "bits_per_quantized_weight": 8 * quantized_bytes / max(nb_quantized, 1)}
