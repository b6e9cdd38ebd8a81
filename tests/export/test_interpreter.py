"""Tests of export.interpreter: int8 quantization of inputs and outputs, batching, errors."""

import os

import numpy as np
import pytest

from export.interpreter import TFLiteModel


def test_predict_quantizes_and_batches(int8_model, eval_images):
    model = TFLiteModel(int8_model, num_threads=2)
    assert model.input_dtype == np.int8 and model.dynamic_batch
    batched = model.predict(eval_images[:5])
    one_by_one = np.concatenate([model.predict(image[None]) for image in eval_images[:5]])
    assert batched.dtype == np.float32 and batched.shape == (5, 10)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-6)
    assert len(np.unique(batched)) > 10  # de-quantized logits, not raw int8 codes
    assert np.abs(batched).max() < 100


def test_tflite_model_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "nowhere.tflite")
    with pytest.raises(FileNotFoundError, match="nowhere.tflite"):
        TFLiteModel(missing)
    not_tflite = tmp_path / "junk.tflite"
    not_tflite.write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="junk.tflite"):
        TFLiteModel(os.fspath(not_tflite))
    with pytest.raises(ValueError, match="num_threads"):
        TFLiteModel(missing, num_threads=0)
