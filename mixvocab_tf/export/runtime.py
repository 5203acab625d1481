"""Runs exported models: LiteRT's interpreter with tensorflow-text's custom ops.

The text form needs tensorflow-text's TFLite kernels (FastBertNormalize,
FastWordpieceTokenize, RaggedTensorToTensor); Flex (SELECT_TF_OPS) is never used.

Example:
>>> runner = TFLiteRunner("export/model.tflite", num_threads=1)
>>> runner.run_text(["play some jazz"])["probabilities"].shape
(1, 7)
"""

import numpy as np
import tensorflow_text
from ai_edge_litert.interpreter import InterpreterWithCustomOps

from mixvocab_tf.export.serving import ID_INPUTS
from mixvocab_tf.export.serving import SIGNATURE_KEY


def make_interpreter(model, num_threads=1):
    """An interpreter for a .tflite path or its bytes, tensorflow-text ops registered."""
    kwargs = {"model_content": model} if isinstance(model, (bytes, bytearray)) else {
        "model_path": str(model)}
    return InterpreterWithCustomOps(
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
        num_threads=num_threads, **kwargs)


class TFLiteRunner:
    """Calls the "serving_default" signature of an exported model.

    Args:
      model: a .tflite path or its bytes.
      num_threads: interpreter threads.
    """

    def __init__(self, model, num_threads=1):
        self.interpreter = make_interpreter(model, num_threads)
        self.signature = self.interpreter.get_signature_list()[SIGNATURE_KEY]
        self.runner = self.interpreter.get_signature_runner(SIGNATURE_KEY)
        self.input_form = "text" if self.signature["inputs"] == ["text"] else "ids"

    def run_text(self, texts):
        """str (or bytes) [N] -> dict of NumPy outputs [N, ...], one text a call (input [1])."""
        return _stack([self.runner(text=np.array([text], dtype=object)) for text in texts])

    def run_ids(self, features):
        """int32 features [N, L] -> outputs [N, ...], one row at a time (inputs are [1, L])."""
        count = len(features["token_ids"])
        return _stack([
            self.runner(**{k: np.asarray(features[k][i:i + 1], np.int32) for k in ID_INPUTS})
            for i in range(count)])


def _stack(rows):
    """Per-call outputs [1, ...] -> one dict of [N, ...]."""
    if not rows:
        raise ValueError("nothing to run: pass at least one query.")
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
