"""The graphs that are converted: a task model behind text or ids inputs.

* text form: `text` tf.string [1] -> `SingleVocabPreprocessor` (the layer fine-tuning used,
  tensorflow-text's FastBertNormalizer + FastWordpieceTokenizer, with BERT's or MediaPipe's
  normalisation: both have TFLite kernels) -> the task model. One query
  a call, as on a device: the tokenizer's ops output dynamically shaped tensors, and reshaping
  them to [1, L] keeps every later op static, so TFLite prepares them once instead of on every
  call (docs/RESULTS.md).
* ids form: `token_ids`, `segment_ids`, `padding_mask` int32 [1, L] -> the task model (the
  three-input layout MediaPipe's `TextClassifier` expects).

Outputs: classification `logits` and `probabilities` [1, C]; tagging `logits` and
`probabilities` [1, L, T] per token (text form: plus the `token_ids` they belong to);
joint intent + slots: the intent's `logits` and `probabilities` [1, C] and `slot_logits` and
`slot_probabilities` [1, L, T] (text form: plus `token_ids`); response selection
`context_embedding` and `response_embedding` [1, D].

Example:
>>> module = ServingModule(task_model, "text")
>>> saved_model_dir = module.save(tmp_dir)   # SignatureDef "serving_default"
"""

import contextlib

import tensorflow as tf

from mixvocab_tf.export.attention_mask import bounded_attention_masks
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.preprocessing.single_vocab_preprocessor import ENCODER_INPUTS
from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import task_registry

INPUT_FORMS = ("text", "ids")
SIGNATURE_KEY = "serving_default"
ID_INPUTS = ENCODER_INPUTS  # the ids form takes exactly the encoder inputs


def check_input_form(input_form):
    if input_form not in INPUT_FORMS:
        raise ValueError(f"input form must be one of {INPUT_FORMS}, got {input_form!r}.")


def make_preprocessor(task_model, sequence_length):
    """The task's tokenizer layer at `sequence_length` (the one training used)."""
    return SingleVocabPreprocessor(
        task_model.vocabulary, lower_case=task_model.lower_case,
        sequence_length=sequence_length,
        normalization=task_model.config.get("normalization", "bert"))


class ServingModule(tf.Module):
    """Wraps a task model and (text form) its tokenizer into one `tf.function`.

    Args:
      task_model: a loaded `TaskModel`.
      input_form: "text" or "ids".
      sequence_length: L of the exported inputs.
      attention_mask_margin: if set, attention masks padded keys with the row's smallest
        score minus this margin instead of -1e9 (`attention_mask.py`; for full_int8,
        whose per-tensor activation scales -1e9 ruins).
    """

    def __init__(self, task_model, input_form, sequence_length, attention_mask_margin=None):
        super().__init__(name="serving")
        check_input_form(input_form)
        task_type = task_model.task_type
        if input_form == "text" and task_type == task_registry.PAIR_CLASSIFICATION:
            raise ValueError(
                "the text form takes one string per query; pair classification needs two. "
                "Fix: export with input_form='ids' and tokenise pairs in the app.")
        self.task_type = task_type
        self.input_form = input_form
        self.sequence_length = int(sequence_length)
        self.attention_mask_margin = attention_mask_margin
        self.model = task_model.model
        # Keras 3 variables wrap tf.Variables that tf.Module does not track: without this
        # list SavedModel leaves them out and the converter emits uninitialised
        # READ_VARIABLE ops (NaN outputs).
        self.model_variables = [v.value for v in task_model.model.weights]
        if input_form == "text":
            self.preprocessor = make_preprocessor(task_model, sequence_length)
            self.serve = tf.function(
                self._serve_text,
                input_signature=[tf.TensorSpec([1], tf.string, name="text")])
        else:
            self.serve = tf.function(
                self._serve_ids,
                input_signature=[tf.TensorSpec([1, self.sequence_length], tf.int32, name=n)
                                 for n in ID_INPUTS])

    def _outputs(self, features):
        with (bounded_attention_masks(self.model, self.attention_mask_margin)
              if self.attention_mask_margin else contextlib.nullcontext()):
            outputs = self.model(features, training=False)
        if self.task_type == task_registry.RESPONSE_SELECTION:
            return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}
        if self.task_type == task_registry.INTENT_AND_SLOTS:
            # The intent under the classifier's names (an app reads "probabilities" either
            # way), the slots beside it.
            outputs = joint.named_outputs(self.model, outputs)
            intent = tf.cast(outputs["intent_logits"], tf.float32)
            slots = tf.cast(outputs["slot_logits"], tf.float32)
            return {"logits": intent, "probabilities": tf.nn.softmax(intent, axis=-1),
                    "slot_logits": slots, "slot_probabilities": tf.nn.softmax(slots, axis=-1)}
        logits = tf.cast(outputs, tf.float32)
        # MediaPipe reports the output values as scores: keep the softmax in the model.
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    def _serve_text(self, text):
        features = self.preprocessor(text)
        # Static [1, L] from here on (see the module docstring).
        shape = [1, self.sequence_length]
        features = {
            "token_ids": tf.reshape(features["token_ids"], shape),
            "segment_ids": tf.reshape(features["segment_ids"], shape),
            "padding_mask": tf.cast(tf.reshape(features["padding_mask"], shape), tf.int32),
        }
        outputs = self._outputs(features)
        if self.task_type in (task_registry.TAGGING, task_registry.INTENT_AND_SLOTS):
            outputs["token_ids"] = features["token_ids"]
        return outputs

    def _serve_ids(self, token_ids, segment_ids, padding_mask):
        return self._outputs(
            {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask})

    def save(self, directory):
        """Writes a SavedModel with the "serving_default" signature; returns `directory`."""
        tf.saved_model.save(self, directory, signatures={SIGNATURE_KEY: self.serve})
        return directory
