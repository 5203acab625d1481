"""TFLite export: conversion per quantization mode, the text and ids forms, validation
against Keras and latency (see `exporter.export_tflite`)."""

from mixvocab_tf.export.attention_mask import bounded_attention_masks
from mixvocab_tf.export.exporter import export_tflite
from mixvocab_tf.export.latency import median_latency_ms
from mixvocab_tf.export.quantization import DEFAULT_QUANTIZATION
from mixvocab_tf.export.quantization import QUANTIZATIONS
from mixvocab_tf.export.quantization import ExportError
from mixvocab_tf.export.runtime import TFLiteRunner
from mixvocab_tf.export.runtime import make_interpreter
from mixvocab_tf.export.serving import INPUT_FORMS
from mixvocab_tf.export.serving import ServingModule
