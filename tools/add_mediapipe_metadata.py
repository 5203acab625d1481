r"""Adds MediaPipe metadata to an ids-form TFLite classifier, so MediaPipe runs it as it is.

Runs in the MediaPipe environment (`make setup-mediapipe`; mediapipe needs absl-py 2.x,
which the core install forbids, see docs/EXPORT.md), not in the core one. Writes the model
atomically (in place unless --output is given): vocabulary + BERT tokenizer unit, input
roles (ids, mask, segment_ids) and the labels of the `logits` and `probabilities` heads.
`TextClassifier` then reports the `probabilities` head as the softmax scores.

Usage:

  .venv/bin/python tools/export_tflite.py --model_dir=runs/snips --input=ids \
    --output_dir=export/snips_ids
  .venv-mediapipe/bin/python tools/add_mediapipe_metadata.py \
    --model=export/snips_ids/model.tflite

  # Also classify texts (one a line) in MediaPipe and write their scores as JSON:
  .venv-mediapipe/bin/python tools/add_mediapipe_metadata.py \
    --model=export/snips_ids/model.tflite --texts=queries.txt --scores_output=scores.json
"""

import importlib.util
import json
import os
import sys

from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_module():
    # By file path: the `mixvocab_tf` package imports TensorFlow, which this
    # environment does not have; the module itself needs only mediapipe.
    path = os.path.join(_ROOT, "mixvocab_tf", "export", "mediapipe_metadata.py")
    spec = importlib.util.spec_from_file_location("mixvocab_mediapipe_metadata", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "An ids-form classification export's model.tflite.")
flags.DEFINE_string("vocab", None, "Its vocabulary (default: vocab.txt beside --model).")
flags.DEFINE_string("labels", None, "Its labels (default: labels.txt beside --model).")
flags.DEFINE_string("output", None, "Where to write the model (default: --model, in place).")
flags.DEFINE_bool("add_metadata", True,
                  "Add the metadata; --noadd_metadata only classifies --texts with a model "
                  "that has it (e.g. written by tools/export_tflite.py --mediapipe_python).")
flags.DEFINE_string("texts", None, "Optional: texts (one a line) to classify in MediaPipe.")
flags.DEFINE_string("scores_output", None,
                    "With --texts: a JSON file {\"texts\": [...], \"scores\": [[...]]} of "
                    "the probabilities head, class order of labels.txt.")
flags.mark_flags_as_required(["model"])


def main(argv):
    del argv
    try:
        import mediapipe  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        print(f"{os.path.basename(sys.argv[0])}: error: mediapipe is not installed in "
              f"{sys.executable}. Fix: make setup-mediapipe, then run this tool with "
              ".venv-mediapipe/bin/python.", file=sys.stderr)
        sys.exit(1)
    metadata = _load_module()
    directory = os.path.dirname(os.path.abspath(FLAGS.model))
    vocab = FLAGS.vocab or os.path.join(directory, "vocab.txt")
    labels = FLAGS.labels or os.path.join(directory, "labels.txt")
    try:
        written = FLAGS.model
        if FLAGS.add_metadata:
            written = metadata.add_metadata(FLAGS.model, vocab, labels, FLAGS.output)
            print(f"wrote {written} with MediaPipe metadata ({os.path.getsize(written):,} bytes)")
        if FLAGS.texts:
            if not os.path.isfile(FLAGS.texts):
                raise metadata.MetadataError(f"--texts {FLAGS.texts} not found.")
            with open(FLAGS.texts, encoding="utf-8") as f:
                texts = [line.rstrip("\n") for line in f]
            scores = metadata.classify(written, texts)
            if FLAGS.scores_output:
                temporary = f"{FLAGS.scores_output}.tmp-{os.getpid()}"
                with open(temporary, "w", encoding="utf-8") as f:
                    json.dump({"model": written, "texts": texts, "scores": scores}, f)
                os.replace(temporary, FLAGS.scores_output)
            print(f"classified {len(texts)} texts in MediaPipe's TextClassifier")
    except metadata.MetadataError as error:
        print(f"{os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
