"""`export_tflite`: a task model directory -> a validated TFLite model directory.

Writes (atomically: a temporary sibling directory, then a rename; a failed export leaves
no `model.tflite` and keeps an existing output directory as it was):
  model.tflite        the converted model ("serving_default" signature)
  vocab.txt           the WordPiece vocabulary (index = id)
  labels.txt          the class or tag names (index = output unit)
  slot_labels.txt     joint intent + slot models: the slot tags (index = slot output unit)
  export_report.json  size, parameters, tensor dtypes, Keras-vs-TFLite differences, the
                      eval-split scores of Keras and TFLite, median latency at 1 and 2 threads

Example:
>>> report = export_tflite("runs/snips", "export/snips_text", quantization="dynamic_int8",
...                        input_form="text", data_dir="../shared/data/tasks")
>>> report["file_size_bytes"], report["accuracy"]["tflite"]
"""

import collections
import contextlib
import json
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from mixvocab_tf.export import latency as latency_lib
from mixvocab_tf.export import mediapipe_metadata
from mixvocab_tf.export import qat as qat_lib
from mixvocab_tf.export import validation
from mixvocab_tf.export.attention_mask import DEFAULT_MARGIN
from mixvocab_tf.export.quantization import DEFAULT_QUANTIZATION
from mixvocab_tf.export.quantization import check_quantization
from mixvocab_tf.export.quantization import convert_saved_model
from mixvocab_tf.export.runtime import TFLiteRunner
from mixvocab_tf.export.serving import ServingModule
from mixvocab_tf.export.serving import check_input_form
from mixvocab_tf.export.serving import make_preprocessor
from mixvocab_tf.file_io import replace_directory
from mixvocab_tf.tasks import evaluation
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.task_model import load_task_model

MODEL_FILE = "model.tflite"
VOCAB_FILE = "vocab.txt"
LABELS_FILE = "labels.txt"
SLOT_LABELS_FILE = "slot_labels.txt"  # joint intent + slot models: the tags, index = unit
REPORT_FILE = "export_report.json"
LATENCY_QUERY = "book a table for two at a french restaurant in paris tomorrow at 8 pm"


def read_representative_texts(path, max_examples=200):
    """Texts of a representative-data file: one text a line (empty lines skipped)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"--representative_data {path} not found. Fix: pass a text file with one "
            "query a line, or leave it empty to use the task's training split.")
    with open(path, encoding="utf-8", errors="replace") as f:
        texts = [line.strip() for line in f if line.strip()]
    if not texts:
        raise ValueError(f"--representative_data {path} holds no text.")
    return texts[:max_examples]


def _spread(items, count, seed=0):
    """A seeded random `count` of `items`, in their order."""
    if len(items) <= count:
        return list(items)
    chosen = np.sort(np.random.RandomState(seed).permutation(len(items))[:count])
    return [items[i] for i in chosen]


def representative_dataset(task_model, input_form, sequence_length, texts):
    """A representative-dataset callable for full_int8 calibration (one query a step)."""
    if input_form == "text":
        # Fixed-width bytes ("S" dtype): the converter's calibrator reads only the first 8
        # bytes of each object-dtype string (what tf.constant(...).numpy() gives), so it
        # calibrated on ~3-token queries (SNIPS text form: logits off by 2.4 instead of 0.3).
        return lambda: ({"text": np.array([text.encode("utf-8")])} for text in texts)
    features = make_preprocessor(task_model, sequence_length)(tf.constant(texts))
    features = {k: tf.cast(v, tf.int32) for k, v in features.items()}
    return lambda: ({k: v[i:i + 1] for k, v in features.items()} for i in range(len(texts)))


def _tensor_dtypes(runner):
    interpreter = runner.interpreter
    signature = interpreter.get_signature_runner("serving_default")
    counts = collections.Counter(np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details())
    return {
        "inputs": {k: np.dtype(v["dtype"]).name for k, v in signature.get_input_details().items()},
        "outputs": {k: np.dtype(v["dtype"]).name
                    for k, v in signature.get_output_details().items()},
        "all_tensors": dict(sorted(counts.items())),
        "ops": dict(sorted(collections.Counter(
            op["op_name"] for op in interpreter._get_ops_details()).items())),  # pylint: disable=protected-access
    }


def _write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def export_tflite(model_dir, output_dir, quantization=DEFAULT_QUANTIZATION, input_form="text",
                  sequence_length=128, representative_data=None, data_dir=None, eval_split=None,
                  num_validation_examples=64, max_eval_examples=None,
                  num_representative_examples=200, latency_runs=50, measure_latency=True,
                  attention_mask_margin=DEFAULT_MARGIN, mediapipe_python=None,
                  qat_steps=0, qat_learning_rate=qat_lib.DEFAULT_LEARNING_RATE):
    """Converts a task model directory to TFLite and validates it against Keras.

    Args:
      model_dir: a task model directory (`tools/finetune.py`), or a run folder holding
        one in `export/`.
      output_dir: the directory to write (replaced atomically).
      quantization: "float32", "float16", "dynamic_int8" or "full_int8".
      input_form: "text" (tokenizer in the graph, `text` tf.string [None]) or "ids"
        (`token_ids`, `segment_ids`, `padding_mask` int32 [1, L]).
      sequence_length: L of the exported model.
      representative_data: full_int8 calibration texts: a file with one text a line
        (default: the task's training split under `data_dir`).
      data_dir: the data folder (`../shared/data` or its `tasks/`); without it the eval
        scores are not computed and full_int8 needs `representative_data`.
      eval_split: the split scored (default: the task's dev/valid split).
      num_validation_examples: N real examples for the Keras-vs-TFLite difference.
      max_eval_examples: score at most this many eval examples (default: all).
      num_representative_examples: calibration queries for full_int8.
      latency_runs: timed calls per thread count.
      measure_latency: time the model at 1 and 2 threads.
      attention_mask_margin: full_int8 only: masked attention scores become the row's
        smallest score minus this margin instead of -1e9, which would ruin the int8 scale
        (`attention_mask.py`); None keeps Keras' mask.
      mediapipe_python: the Python of the MediaPipe environment (`.venv-mediapipe/bin/
        python`): adds the metadata MediaPipe's `TextClassifier` needs (ids-form
        classifiers; `mediapipe_metadata.py`).
      qat_steps: full_int8 only: first fine-tune a copy of the model this many steps with
        fake-quant ops on the task's training split, and convert the fake-quantised graph
        (`qat.py`); 0: post-training quantization.
      qat_learning_rate: the QAT learning rate.

    Returns:
      The report dict written to `export_report.json`.
    """
    check_quantization(quantization)
    check_input_form(input_form)
    if int(sequence_length) < 3:
        raise ValueError(f"sequence_length must be >= 3, got {sequence_length}.")
    started = time.time()
    task_model = load_task_model(model_dir)
    model_dir = task_model.directory  # a run folder reads as its export/
    task = task_registry.get_task(task_model.config["task"])
    if mediapipe_python:
        mediapipe_metadata.check_exportable(input_form, task.type, task_model.lower_case)
    max_length = _max_sequence_length(task_model.model)
    if max_length and sequence_length > max_length:
        raise ValueError(
            f"sequence_length {sequence_length} exceeds the model's position table "
            f"({max_length}). Fix: pass --sequence_length <= {max_length}.")

    if qat_steps:
        if quantization != "full_int8" or not attention_mask_margin:
            raise ValueError("qat_steps needs quantization='full_int8' with a bounded attention "
                             "mask (attention_mask_margin > 0). Fix: pass both, or qat_steps=0.")
        if not data_dir:
            raise ValueError("QAT trains on the task's training split. Fix: pass --data_dir.")
    eval_examples = None
    if data_dir:
        split = eval_split or task_registry.default_eval_split(task)
        eval_examples = evaluation.subsample(task.read(data_dir, split), max_eval_examples)

    rep_texts, rep_source = None, None
    if quantization == "full_int8":
        if representative_data:
            rep_texts, rep_source = read_representative_texts(
                representative_data, num_representative_examples), representative_data
        elif data_dir:
            train = task.read(data_dir, "train")
            rep_texts = _spread(train.texts, num_representative_examples)
            rep_source = train.source
        else:
            raise ValueError(
                "full_int8 calibrates on representative data. Fix: pass --representative_data "
                "(one text a line) or --data_dir (the task's training split is used).")

    output_dir = os.path.abspath(output_dir)
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.tmp-", dir=parent)
    try:
        margin = attention_mask_margin if quantization == "full_int8" else None
        qat = None
        if qat_steps:  # Trains a copy: the report's Keras figures stay the float model's.
            qat = qat_lib.QuantizationAwareTraining(load_task_model(model_dir), sequence_length,
                                                    attention_mask_margin=margin)
            qat.fit(task.read(data_dir, "train"), qat_steps, learning_rate=qat_learning_rate)
        module = ServingModule(qat.task_model if qat else task_model, input_form,
                               sequence_length, attention_mask_margin=None if qat else margin)
        with qat.fake_quantized() if qat else contextlib.nullcontext():
            saved_model_dir = module.save(os.path.join(staging, "saved_model"))
        rep = (representative_dataset(task_model, input_form, sequence_length, rep_texts)
               if rep_texts else None)
        convert_started = time.time()
        blob = convert_saved_model(saved_model_dir, quantization, rep)
        convert_seconds = time.time() - convert_started
        shutil.rmtree(saved_model_dir)
        with open(os.path.join(staging, MODEL_FILE), "wb") as f:
            f.write(blob)
        _write_text(os.path.join(staging, VOCAB_FILE), "".join(t + "\n" for t in task_model.vocabulary))
        _write_text(os.path.join(staging, LABELS_FILE), "".join(l + "\n" for l in task_model.labels))
        if task.type == task_registry.INTENT_AND_SLOTS:
            _write_text(os.path.join(staging, SLOT_LABELS_FILE),
                        "".join(t + "\n" for t in task_model.config["slot_labels"]))

        runner = TFLiteRunner(blob)
        parameters = int(task_model.model.count_params())
        report = {
            "model_dir": os.path.abspath(model_dir),
            "task": task.name,
            "task_type": task.type,
            "input_form": input_form,
            "quantization": quantization,
            "sequence_length": int(sequence_length),
            "file_size_bytes": len(blob),
            "parameter_count": parameters,
            "bytes_per_parameter": len(blob) / parameters,
            "vocabulary_size": len(task_model.vocabulary),
            "num_labels": len(task_model.labels),
            "signature": runner.signature,
            "tensor_dtypes": _tensor_dtypes(runner),
            "attention_mask_margin": margin,
            "qat": qat_lib.qat_report(qat, runner, eval_examples) if qat else None,
            "representative_data": (
                {"source": rep_source, "examples": len(rep_texts)} if rep_texts else None),
        }
        validation_texts = (_spread(eval_examples.texts, num_validation_examples)
                            if eval_examples is not None else [LATENCY_QUERY])
        report["validation"] = {
            "examples": len(validation_texts),
            "source": eval_examples.source if eval_examples is not None else "latency query",
            "max_abs_diff": validation.max_abs_diff(task_model, runner, validation_texts,
                                                    sequence_length),
        }
        if input_form == "text":
            report["validation"]["bad_inputs"] = len(validation.BAD_INPUTS)
            report["validation"]["bad_inputs_max_abs_diff"] = validation.max_abs_diff(
                task_model, runner, list(validation.BAD_INPUTS), sequence_length)
        report["accuracy"] = None
        if eval_examples is not None:
            scores = validation.task_scores(task_model, runner, eval_examples, sequence_length)
            if scores:
                report["accuracy"] = {"split": split, "source": eval_examples.source, **scores}
        if measure_latency:
            query = (LATENCY_QUERY if input_form == "text" else
                     {k: np.asarray(v, np.int32) for k, v in make_preprocessor(
                         task_model, sequence_length)(tf.constant([LATENCY_QUERY])).items()})
            report["latency_ms"] = {
                "query": LATENCY_QUERY, "batch": 1, "runs": latency_runs,
                **{f"median_{n}_thread{'s' if n > 1 else ''}": latency_lib.median_latency_ms(
                    blob, query, num_threads=n, runs=latency_runs) for n in (1, 2)}}
        report["convert_seconds"] = round(convert_seconds, 2)
        report["seconds"] = round(time.time() - started, 2)
        if mediapipe_python:  # mediapipe needs absl-py 2.x: its own environment runs it
            report["mediapipe_metadata"] = mediapipe_metadata.add_metadata_in(
                mediapipe_python, *(os.path.join(staging, f) for f in (
                    MODEL_FILE, VOCAB_FILE, LABELS_FILE)))
        _write_text(os.path.join(staging, REPORT_FILE), json.dumps(report, indent=2) + "\n")
        replace_directory(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _max_sequence_length(model):
    """The position table's length of the task model's encoder, if it can be read."""
    for layer in model.layers:
        length = getattr(layer, "max_sequence_length", None)
        if length:
            return int(length)
    return None
