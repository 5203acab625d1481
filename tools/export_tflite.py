r"""Exports a task model directory to TFLite and validates it against Keras.

Writes --output_dir atomically: model.tflite, vocab.txt, labels.txt and export_report.json
(file size, parameters, tensor dtypes, Keras-vs-TFLite differences, eval-split accuracy of
both, median latency at 1 and 2 threads).

Usage:

  # Text in (tokenizer inside the graph), int8 weights:
  python tools/export_tflite.py --model_dir=runs/snips --output_dir=export/snips_text \
    --data_dir=../shared/data/tasks

  # Ids in ([1, L] int32 token_ids, segment_ids, padding_mask), int8 activations:
  python tools/export_tflite.py --model_dir=runs/snips --output_dir=export/snips_ids \
    --input=ids --quantization=full_int8 --data_dir=../shared/data/tasks

  # Ids in, int8 activations after 200 quantization-aware training steps:
  python tools/export_tflite.py --model_dir=runs/snips --output_dir=export/snips_qat \
    --input=ids --quantization=full_int8 --qat_steps=200 --data_dir=../shared/data/tasks

  # Ids in, with the metadata MediaPipe's TextClassifier needs (make setup-mediapipe):
  python tools/export_tflite.py --model_dir=runs/snips --output_dir=export/snips_mediapipe \
    --input=ids --mediapipe_python=.venv-mediapipe/bin/python
"""

import json
import os
import sys

from absl import app
from absl import flags

# Run from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf.cli import exit_on_bad_input
from mixvocab_tf.export import exporter  # noqa: E402
from mixvocab_tf.export.quantization import ExportError  # noqa: E402
from mixvocab_tf.export.quantization import QUANTIZATIONS  # noqa: E402
from mixvocab_tf.export.serving import INPUT_FORMS  # noqa: E402
from mixvocab_tf.tasks import readers  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A task model directory written by tools/finetune.py.")
flags.DEFINE_enum("quantization", "dynamic_int8", QUANTIZATIONS, "Quantization mode.")
flags.DEFINE_enum("input", "text", INPUT_FORMS,
                  "text: strings in, tokenizer in the graph; ids: int32 [1, L] ids in.")
flags.DEFINE_integer("sequence_length", 128, "Sequence length L of the exported model.")
flags.DEFINE_string("representative_data", None,
                    "full_int8 calibration texts, one a line (default: the task's training "
                    "split under --data_dir).")
flags.DEFINE_string("data_dir", None,
                    "The data folder (../shared/data or its tasks/): eval-split accuracy and "
                    "the default representative data.")
flags.DEFINE_string("eval_split", None, "The split scored (default: the task's dev/valid).")
flags.DEFINE_integer("max_eval_examples", None, "Score at most this many eval examples.")
flags.DEFINE_integer("num_validation_examples", 64,
                     "Real examples compared output by output with Keras.")
flags.DEFINE_integer("latency_runs", 50, "Timed calls per thread count (0: no latency).")
flags.DEFINE_float("attention_mask_margin", 16.0,
                   "full_int8: masked attention scores become the row's smallest score minus "
                   "this (instead of -1e9, which ruins the int8 scale); 0 keeps Keras' mask.")
flags.DEFINE_string("mediapipe_python", None,
                    "With --input=ids (classification): the Python of the MediaPipe "
                    "environment (.venv-mediapipe/bin/python), which adds the metadata "
                    "MediaPipe's TextClassifier needs to run model.tflite as it is.")
flags.DEFINE_integer("qat_steps", 0,
                     "full_int8 only: quantization-aware training steps (fake-quant ops, "
                     "ranges learned on the task's training split under --data_dir) before "
                     "converting; 0: post-training quantization.")
flags.DEFINE_float("qat_learning_rate", 2e-5, "The QAT learning rate (Adam, constant).")
flags.DEFINE_string("output_dir", None, "The directory to write (replaced atomically).")
flags.mark_flags_as_required(["model_dir", "output_dir"])


def main(argv):
    del argv
    with exit_on_bad_input(readers.TaskDataError, FileNotFoundError, ValueError, ExportError):
        report = exporter.export_tflite(
            FLAGS.model_dir, FLAGS.output_dir, quantization=FLAGS.quantization,
            input_form=FLAGS.input, sequence_length=FLAGS.sequence_length,
            representative_data=FLAGS.representative_data, data_dir=FLAGS.data_dir,
            eval_split=FLAGS.eval_split, max_eval_examples=FLAGS.max_eval_examples,
            num_validation_examples=FLAGS.num_validation_examples,
            latency_runs=FLAGS.latency_runs, measure_latency=FLAGS.latency_runs > 0,
            attention_mask_margin=FLAGS.attention_mask_margin or None,
            mediapipe_python=FLAGS.mediapipe_python, qat_steps=FLAGS.qat_steps,
            qat_learning_rate=FLAGS.qat_learning_rate)
    print(f"wrote {os.path.join(os.path.abspath(FLAGS.output_dir), exporter.MODEL_FILE)} "
          f"({report['file_size_bytes']:,} bytes, {report['parameter_count']:,} parameters, "
          f"{report['input_form']} form, {report['quantization']})")
    print("max |Keras - TFLite|:", json.dumps(report["validation"]["max_abs_diff"]))
    if report["accuracy"]:
        accuracy = report["accuracy"]
        print(f"{accuracy['metric']} on {accuracy['split']} ({accuracy['examples']} examples): "
              f"Keras {100 * accuracy['keras']:.2f}, TFLite {100 * accuracy['tflite']:.2f}")
    if report.get("qat"):
        qat = report["qat"]
        print(f"QAT: {qat['steps']} steps, {qat['ranges']['folded']} of "
              f"{qat['ranges']['points']} fake-quant ranges folded by the converter"
              + (f", Keras fake-quant accuracy {100 * qat['eval']['keras_fake_quant_accuracy']:.2f}"
                 if "eval" in qat else ""))
    if "mediapipe_metadata" in report:
        print("added MediaPipe metadata (TextClassifier scores = the probabilities head)")
    if "latency_ms" in report:
        latency = report["latency_ms"]
        print(f"median latency (batch 1): {latency['median_1_thread']:.3f} ms at 1 thread, "
              f"{latency['median_2_threads']:.3f} ms at 2 threads")


if __name__ == "__main__":
    app.run(main)
