"""Conversion tools: image folders to dataset files, Keras models to TFLite."""
