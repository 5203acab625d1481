r"""Top-1 agreement of one model's runtime forms, and its out-of-scope trade-off.

For a run folder with `tflite_text/` and `android/` (what `make demo` writes): the text form in
LiteRT, the bundle's ids form in LiteRT on the app tokenizer's ids, and (classifiers, with
`.venv-mediapipe`) the same file in MediaPipe's TextClassifier, on SNIPS valid and on three
non-ASCII sets (SNIPS train utterances with non-ASCII characters, 500 Python-docs lines, 500
Wikipedia lines). Also writes tokenizer vectors of all those texts, for the Java tokenizer's
JUnit test (`-Dvectors=`), and the share of CLINC150's out-of-scope valid utterances refused at
the bundle's threshold (and at others) beside the share of SNIPS valid answered correctly.

Usage:
  python benchmarks/runtime_agreement.py --run_dir=runs/demo --output_dir=runs/agreement
  python benchmarks/runtime_agreement.py --run_dir=runs/joint --nomediapipe --output_dir=...
"""

import gzip
import json
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mixvocab_tf import paths  # noqa: E402
from mixvocab_tf.assistant import bundle as assistant  # noqa: E402
from mixvocab_tf.export.test_vectors import write_test_vectors  # noqa: E402
from mixvocab_tf.file_io import write_json_atomic  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", "runs/demo", "A pipeline run folder (tflite_text/, android/).")
flags.DEFINE_string("output_dir", "runs/agreement", "Where the figures and vectors go.")
flags.DEFINE_bool("mediapipe", True, "Also score in MediaPipe (classifier bundles only).")
flags.DEFINE_integer("max_chars", 300, "Non-ASCII corpus lines are cut to this many characters.")


def _lines(path, count=None, opener=open):
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines if count is None else lines[:count]


def text_sets(data_dir, max_chars):
    non_ascii = lambda lines: [l[:max_chars] for l in lines if any(ord(c) > 127 for c in l)]
    return {
        "snips_valid": _lines(os.path.join(data_dir, "tasks", "snips", "valid", "seq.in")),
        "nonascii_snips_train": non_ascii(
            _lines(os.path.join(data_dir, "tasks", "snips", "train", "seq.in"))),
        "nonascii_python_docs": non_ascii(
            _lines(os.path.join(data_dir, "corpora", "python311_docs.txt")))[:500],
        "nonascii_wikipedia": non_ascii(_lines(
            os.path.join(data_dir, "corpora", "wikipedia_en.txt.gz"), 30000, gzip.open))[:500],
    }


def main(argv):
    del argv
    data_dir = paths.shared_data_dir()
    bundle_dir = os.path.join(FLAGS.run_dir, "android")
    bundle = assistant.AssistantBundle.load(bundle_dir)
    mediapipe = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             ".venv-mediapipe", "bin", "python")
    use_mediapipe = FLAGS.mediapipe and bundle.config.get("mediapipe_metadata")
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    sets = text_sets(data_dir, FLAGS.max_chars)
    result = {}
    for name, texts in sets.items():
        predictions = assistant.form_predictions(
            texts, text_model=os.path.join(FLAGS.run_dir, "tflite_text", "model.tflite"),
            ids_bundle=bundle_dir, mediapipe_python=mediapipe if use_mediapipe else None)
        result[name] = {"texts": len(texts), "top1_agreement": assistant.agreement(predictions)}
        print(name, json.dumps(result[name]), flush=True)
    write_test_vectors(os.path.join(FLAGS.output_dir, "tokenizer_vectors.tsv"),
                       bundle.vocabulary, [t for texts in sets.values() for t in texts],
                       bundle.config["sequence_length"], lower_case=bundle.config["lower_case"],
                       normalization=bundle.config["normalization"])
    oos = _lines(os.path.join(data_dir, "tasks", "clinc150", "oos_valid", "seq.in"))
    labels = _lines(os.path.join(data_dir, "tasks", "snips", "valid", "label"))
    in_logits, _ = bundle.run(bundle.encode(sets["snips_valid"]))
    oos_logits, _ = bundle.run(bundle.encode(oos))
    confidence = lambda rows: [float(assistant.softmax64(r).max()) for r in rows]
    correct = [bundle.assistant.intents[int(r.argmax())] == g for r, g in zip(in_logits, labels)]
    result["out_of_scope"] = [
        assistant.threshold_report(t, confidence(in_logits), correct, confidence(oos_logits))
        for t in (bundle.assistant.threshold, 0.5, 0.7, 0.9, 0.95, 0.99)]
    for row in result["out_of_scope"]:
        print(json.dumps(row))
    write_json_atomic(os.path.join(FLAGS.output_dir, "agreement.json"), result)


if __name__ == "__main__":
    app.run(main)
