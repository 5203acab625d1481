"""TFLite conversion per quantization mode.

* "float32": no quantization.
* "float16": weights stored as float16 (dequantised at load; GPU delegates run them natively).
* "dynamic_int8" (default): int8 weights, float activations quantised on the fly.
* "full_int8": int8 weights and activations, calibrated on representative inputs; float
  where an op has no int8 kernel (inputs and outputs stay int32 / float32). The exporter
  converts it with a bounded attention mask (`attention_mask.py`): Keras' -1e9 mask would
  set the int8 scale of the attention scores.

Every mode converts with TFLite builtins plus tensorflow-text's custom ops, never Flex.

Example:
>>> blob = convert_saved_model(saved_model_dir, "dynamic_int8")
"""

import tensorflow as tf
import tensorflow_text

QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "full_int8")
DEFAULT_QUANTIZATION = "dynamic_int8"


class ExportError(RuntimeError):
    """Conversion failed; the message names the cause and the fix."""


def check_quantization(quantization):
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}.")


def make_converter(saved_model_dir, quantization, representative_dataset=None):
    """A configured `TFLiteConverter` for a SavedModel.

    Args:
      saved_model_dir: written by `ServingModule.save`.
      quantization: one of `QUANTIZATIONS`.
      representative_dataset: for "full_int8": a callable returning an iterable of input
        lists (in the signature's input order) or dicts of inputs.
    """
    check_quantization(quantization)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    # tensorflow-text ops are custom ops with TFLite kernels; Flex stays off.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "full_int8":
        if representative_dataset is None:
            raise ValueError("full_int8 needs representative data to calibrate activations.")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # Calibration runs the float model, the tokenizer's custom ops included.
        converter.target_spec._experimental_custom_op_registerers = list(  # pylint: disable=protected-access
            tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)
    return converter


def convert_saved_model(saved_model_dir, quantization, representative_dataset=None):
    """Converts a SavedModel; returns the .tflite bytes.

    Raises:
      ExportError: the converter failed (its first error line is kept).
    """
    converter = make_converter(saved_model_dir, quantization, representative_dataset)
    try:
        return converter.convert()
    except Exception as error:  # The converter's errors are long MLIR dumps.
        first = next((line for line in str(error).splitlines() if "error" in line.lower()),
                     str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise ExportError(
            f"TFLite conversion ({quantization}) failed: {first[:500]}. Fix: export with "
            "another --quantization, or report the op named above.") from None
