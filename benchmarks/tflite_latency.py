r"""Median TFLite latency of student shapes against BERT-base and BERT-Tiny shapes.

Every model is built in this run with random weights (latency depends on shape, not
weights), wrapped in a classification head, exported with the same code as
`tools/export_tflite.py`, and timed at batch 1, one thread. Students are timed in both forms
(ids in; text in with the tokenizer inside) to give the text/ids ratio (target <= 1.2).

Usage:
  python benchmarks/tflite_latency.py --sequence_length=128 --quantization=dynamic_int8
  python benchmarks/tflite_latency.py --shapes=bert_tiny,6x128   # skip BERT-base (slow)
"""

import os
import sys
import tempfile

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

from mixvocab_tf import paths  # noqa: E402
from mixvocab_tf.export.latency import median_latency_ms  # noqa: E402
from mixvocab_tf.export.quantization import QUANTIZATIONS  # noqa: E402
from mixvocab_tf.export.quantization import convert_saved_model  # noqa: E402
from mixvocab_tf.export.serving import ServingModule  # noqa: E402
from mixvocab_tf.export.serving import make_preprocessor  # noqa: E402
from mixvocab_tf.models.student_encoder import StudentEncoder  # noqa: E402
from mixvocab_tf.tasks import heads  # noqa: E402
from mixvocab_tf.models.student_directory import read_vocabulary  # noqa: E402
from mixvocab_tf.tasks.task_model import TaskModel  # noqa: E402

# name: (layers, hidden, heads, intermediate, vocabulary: "bert" (30,522) or "5k")
SHAPES = {
    "bert_base": (12, 768, 12, 3072, "bert"),
    "bert_tiny": (2, 128, 2, 512, "bert"),
    "12x128": (12, 128, 2, 512, "5k"),
    "6x128": (6, 128, 2, 512, "5k"),
}
QUERY = "book a table for two at a french restaurant in paris tomorrow at 8 pm"

FLAGS = flags.FLAGS
flags.DEFINE_list("shapes", list(SHAPES), f"Shapes to time, of {list(SHAPES)}.")
flags.DEFINE_integer("sequence_length", 128, "Sequence length L.")
flags.DEFINE_enum("quantization", "dynamic_int8", QUANTIZATIONS, "Quantization mode.")
flags.DEFINE_integer("runs", 100, "Timed calls per model.")
flags.DEFINE_integer("num_threads", 1, "Interpreter threads.")
flags.DEFINE_string("student_vocab", None,
                    "A 5K student vocab.txt (default: BERT's special tokens + 4,995 of its "
                    "whole-word tokens, a stand-in of the same size).")


def _vocabularies():
    bert = read_vocabulary(os.path.join(paths.shared_data_dir(), "vocab",
                                        "bert-base-uncased-vocab.txt"))
    if FLAGS.student_vocab:
        small = read_vocabulary(FLAGS.student_vocab)
    else:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        small = specials + [t for t in bert[1996:] if t not in specials][:4995]
    return {"bert": bert, "5k": small}


def _task_model(shape, vocabulary):
    layers, hidden, num_heads, intermediate, _ = shape
    encoder = StudentEncoder(vocabulary_size=len(vocabulary), num_layers=layers,
                             hidden_dim=hidden, num_heads=num_heads,
                             intermediate_dim=intermediate,
                             max_sequence_length=max(512, FLAGS.sequence_length))
    model = heads.build_task_model(encoder, "classification", num_labels=2)
    return TaskModel(model, vocabulary, ["0", "1"],
                     {"type": "classification", "lower_case": True,
                      "sequence_length": FLAGS.sequence_length})


def _time(task_model, form, workdir):
    module = ServingModule(task_model, form, FLAGS.sequence_length)
    saved = module.save(tempfile.mkdtemp(dir=workdir))
    blob = convert_saved_model(saved, FLAGS.quantization) if FLAGS.quantization != "full_int8" \
        else None
    if blob is None:
        raise app.UsageError("full_int8 needs representative data; time it via the exporter.")
    if form == "text":
        query = QUERY
    else:
        features = make_preprocessor(task_model, FLAGS.sequence_length)(
            __import__("tensorflow").constant([QUERY]))
        query = {k: features[k].numpy().astype("int32") for k in features}
    return median_latency_ms(blob, query, FLAGS.num_threads, runs=FLAGS.runs), len(blob)


def main(argv):
    del argv
    keras.utils.set_random_seed(0)
    vocabularies = _vocabularies()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in FLAGS.shapes:
            shape = SHAPES[name]
            task_model = _task_model(shape, vocabularies[shape[4]])
            forms = ("ids", "text") if shape[4] == "5k" else ("ids",)
            for form in forms:
                ms, size = _time(task_model, form, workdir)
                rows.append((name, form, ms, size, task_model.model.count_params()))
                print(f"{name:10s} {form:4s} {ms:8.3f} ms  {size / 1e6:7.2f} MB", flush=True)
    ids_ms = {name: ms for name, form, ms, _, _ in rows if form == "ids"}
    print(f"\nmedian latency, L={FLAGS.sequence_length}, batch 1, {FLAGS.num_threads} thread(s), "
          f"{FLAGS.quantization}")
    print(f"{'model':10s} {'form':4s} {'ms':>8s} {'MB':>7s} {'params':>11s} {'vs tiny':>8s} "
          f"{'vs base':>8s} {'text/ids':>8s}")
    for name, form, ms, size, params in rows:
        tiny = f"{ms / ids_ms['bert_tiny']:.2f}x" if "bert_tiny" in ids_ms else "-"
        base = f"{ms / ids_ms['bert_base']:.3f}x" if "bert_base" in ids_ms else "-"
        text_ids = f"{ms / ids_ms[name]:.2f}x" if form == "text" else "-"
        print(f"{name:10s} {form:4s} {ms:8.3f} {size / 1e6:7.2f} {params:11,d} {tiny:>8s} "
              f"{base:>8s} {text_ids:>8s}")


if __name__ == "__main__":
    app.run(main)
