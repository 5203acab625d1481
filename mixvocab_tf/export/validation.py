"""Checks an exported model against its Keras model on real examples.

* `max_abs_diff`: the largest absolute difference of every output on N examples,
* `task_scores`: the task metric (classification accuracy, tagging slot F1) of the Keras
  model and of the TFLite model on the same examples of the eval split.

The Keras reference tokenises with `InputEncoder`, i.e. the same `SingleVocabPreprocessor`
that the text form carries inside the graph.

Example:
>>> scores = task_scores(task_model, runner, examples, sequence_length=128)
>>> scores["keras"]["accuracy"], scores["tflite"]["accuracy"]
"""

import numpy as np

from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import joint
from mixvocab_tf.tasks import scoring
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.inputs import InputEncoder
from mixvocab_tf.tasks.inputs import model_inputs

# Inputs a text model must answer without crashing (and agree with Keras on).
BAD_INPUTS = (
    "",
    "x" * 100_000,
    "play " * 20_000,
    b"\xff\xfe invalid \xc3 utf-8",
    "\U0001F600\U0001F680 emoji \u2764\ufe0f",
    "control \x00\x01\x07\x1b\x7f\u200b chars\t\r\n",
    "ÉCOLE Über naïve café",
    "日本語のテキスト",
)


def keras_outputs(task_model, features):
    """The exported outputs computed by the Keras model (NumPy)."""
    outputs = evaluation.predict(task_model.model, features)
    if task_model.task_type == task_registry.RESPONSE_SELECTION:
        return {k: np.asarray(v, np.float32) for k, v in outputs.items()}
    if task_model.task_type == task_registry.INTENT_AND_SLOTS:
        outputs = joint.named_outputs(task_model.model, outputs)
        intent = np.asarray(outputs["intent_logits"], np.float32)
        slots = np.asarray(outputs["slot_logits"], np.float32)
        return {"logits": intent, "probabilities": evaluation.softmax(intent).astype(np.float32),
                "slot_logits": slots,
                "slot_probabilities": evaluation.softmax(slots).astype(np.float32)}
    logits = np.asarray(outputs, np.float32)
    return {"logits": logits, "probabilities": evaluation.softmax(logits).astype(np.float32)}


def tflite_outputs(runner, texts, features):
    """Runs texts (text form) or features (ids form) through the exported model."""
    if runner.input_form == "text":
        return runner.run_text(texts)
    return runner.run_ids(features)


def max_abs_diff(task_model, runner, texts, sequence_length):
    """{output: largest |Keras - TFLite|} over `texts` (str or bytes)."""
    encoder = InputEncoder.for_task_model(task_model, sequence_length)
    features = encoder.encode_texts(list(texts))
    expected = keras_outputs(task_model, features)
    actual = tflite_outputs(runner, texts, features)
    return {k: float(np.max(np.abs(expected[k] - actual[k]))) for k in expected
            if k in actual}


def _registered_task(task_model):
    """The model's task, or None for one this registry does not know (accuracy only)."""
    try:
        return task_registry.get_task(task_model.config.get("task", ""))
    except (KeyError, ValueError):
        return None


def task_scores(task_model, runner, examples, sequence_length):
    """Keras and TFLite scores on `examples` (classification, sentence pairs in the ids form,
    tagging and joint tasks).

    Returns:
      {"metric": name, "examples": N, "keras": value, "tflite": value}, or None for task
      types without a metric here (response selection).
    """
    encoder = InputEncoder.for_task_model(task_model, sequence_length)
    task_type = task_model.task_type
    pairs = task_type == task_registry.PAIR_CLASSIFICATION
    if task_type == task_registry.CLASSIFICATION or (pairs and runner.input_form == "ids"):
        # Sentence pairs export in the ids form only: the pair is encoded here, as in training.
        gold = scoring.gold_label_ids(examples.labels, task_model.labels)
        features = encoder.encode_texts(examples.texts, examples.text_pairs if pairs else None)
        keras_probs = keras_outputs(task_model, features)["probabilities"]
        tflite_probs = np.concatenate([
            tflite_outputs(runner, examples.texts[i:i + 64],
                           {k: v[i:i + 64] for k, v in features.items()})["probabilities"]
            for i in range(0, len(examples), 64)])
        predictions = {"keras": keras_probs.argmax(-1), "tflite": tflite_probs.argmax(-1)}
        task = _registered_task(task_model)
        per_model = {k: scoring.classification_metrics(task, task_model.labels, gold, p)
                     for k, p in predictions.items()}
        return {"metric": "accuracy", "examples": len(gold),
                **{k: m["accuracy"] for k, m in per_model.items()},
                "prediction_agreement": float(np.mean(
                    predictions["keras"] == predictions["tflite"])),
                **{name: {k: m[name] for k, m in per_model.items()}
                   for name in per_model["keras"] if name != "accuracy"}}
    if task_type == task_registry.INTENT_AND_SLOTS:
        features = joint.encode(encoder, examples)
        texts = list(examples.texts)
        keras_out = keras_outputs(task_model, model_inputs(features))
        tflite_out = {}
        for i in range(0, len(texts), 64):
            part = tflite_outputs(runner, texts[i:i + 64],
                                  {k: v[i:i + 64] for k, v in model_inputs(features).items()})
            for k in ("logits", "slot_logits"):
                tflite_out.setdefault(k, []).append(part[k])
        tflite_out = {k: np.concatenate(v) for k, v in tflite_out.items()}
        scores = {name: joint.joint_scores(examples, task_model.labels,
                                           task_model.config["slot_labels"], out["logits"],
                                           out["slot_logits"], features["word_starts"])
                  for name, out in (("keras", keras_out), ("tflite", tflite_out))}
        return {"metric": "accuracy", "examples": len(texts),
                "keras": scores["keras"]["accuracy"], "tflite": scores["tflite"]["accuracy"],
                "slot_f1": {k: v["slot_f1"] for k, v in scores.items()},
                "frame_accuracy": {k: v["frame_accuracy"] for k, v in scores.items()},
                "prediction_agreement": float(np.mean(
                    keras_out["logits"].argmax(-1) == tflite_out["logits"].argmax(-1)))}
    if task_type == task_registry.TAGGING:
        word_lists = [t.split() for t in examples.texts]
        features = encoder.encode_words(word_lists)
        keras_logits = keras_outputs(task_model, model_inputs(features))["logits"]
        texts = [" ".join(words) for words in word_lists]
        tflite_logits = np.concatenate([
            tflite_outputs(runner, texts[i:i + 64],
                           {k: v[i:i + 64] for k, v in model_inputs(features).items()})["logits"]
            for i in range(0, len(texts), 64)])
        scores = {}
        for name, logits in (("keras", keras_logits), ("tflite", tflite_logits)):
            predicted = scoring.word_tags(task_model.labels, logits, features["word_starts"],
                                          word_lists)
            scores[name] = scoring.tagging_metrics(examples.tags, predicted)["f1"]
        return {"metric": "slot_f1", "examples": len(texts), **scores}
    return None
