"""Ready on-device classifiers: a text-in int8 TFLite model with its labels, by name.

A published classifier is a folder (under `pretrained/`, or `$MIXVOCAB_PRETRAINED`):

  model.tflite          text in (the tokenizer in the graph), `probabilities` [1, C] out;
                        runs in LiteRT with tensorflow-text's ops (`runtime.TFLiteRunner`)
  labels.txt            the class names, index = output unit
  vocab.txt             the student's vocabulary (the ids form and the app's tokenizer)
  model_ids_mediapipe.tflite  (optional) the ids form with MediaPipe's TextClassifier metadata
  export_report.json    the export's own validation (size, Keras vs TFLite, dev accuracy)
  config.json           format, task, labels, sequence length, scores, provenance
  MODEL_CARD.md         teacher, transfer set, CPU time, scores with their commands

Example:
>>> classifier = load_classifier("sst2_sentiment")
>>> classifier.classify(["a gorgeous, witty film", "a dull, lifeless mess"])
[('1', 0.97...), ('0', 0.98...)]
"""

import json
import os
import shutil

import numpy as np

from mixvocab_tf.export.runtime import TFLiteRunner
from mixvocab_tf.file_io import write_directory_atomic
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.file_io import write_text_atomic
from mixvocab_tf.models.pretrained import pretrained_root

FORMAT = "mixvocab_tf.on_device_classifier/1"
MODEL_FILE = "model.tflite"
IDS_MODEL_FILE = "model_ids_mediapipe.tflite"
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"
REPORT_FILE = "export_report.json"
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"
MAX_FILE_BYTES = 10 * 1024 * 1024


class OnDeviceModelError(ValueError):
    """A name or folder that is not a published on-device classifier."""


def _is_classifier_dir(path):
    config = os.path.join(path, CONFIG_FILE)
    if not (os.path.isfile(config) and os.path.isfile(os.path.join(path, MODEL_FILE))):
        return False
    with open(config, encoding="utf-8") as f:
        return json.load(f).get("format") == FORMAT


def available_classifiers(root=None):
    """Names of the published on-device classifiers under `root` (default `pretrained/`)."""
    root = root or pretrained_root()
    if not os.path.isdir(root):
        return []
    return sorted(name for name in os.listdir(root)
                  if _is_classifier_dir(os.path.join(root, name)))


def resolve_classifier(name_or_path):
    """The folder of a published classifier: a folder as it is, else a name under the root.

    Raises:
      OnDeviceModelError: neither, naming the published classifiers.
    """
    path = os.fspath(name_or_path)
    if _is_classifier_dir(path):
        return path
    candidate = os.path.join(pretrained_root(), path)
    if os.sep not in path and _is_classifier_dir(candidate):
        return candidate
    names = ", ".join(available_classifiers()) or "none"
    raise OnDeviceModelError(
        f"{path!r} is neither an on-device classifier folder ({MODEL_FILE}, {CONFIG_FILE} of "
        f"format {FORMAT}) nor the name of one under {pretrained_root()} (published: "
        f"{names}). Fix: pass one of those names.")


class OnDeviceClassifier:
    """A published text-in TFLite classifier, run in LiteRT as a phone runs it.

    Args:
      directory: the classifier's folder.
      num_threads: interpreter threads.
    """

    def __init__(self, directory, num_threads=1):
        self.directory = directory
        with open(os.path.join(directory, CONFIG_FILE), encoding="utf-8") as f:
            self.config = json.load(f)
        with open(os.path.join(directory, LABELS_FILE), encoding="utf-8") as f:
            self.labels = [line.rstrip("\n") for line in f if line.strip()]
        self.runner = TFLiteRunner(os.path.join(directory, MODEL_FILE), num_threads)

    def predict(self, texts):
        """Class probabilities [N, C] of `texts` (one interpreter call a text)."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not one string.")
        return self.runner.run_text(list(texts))["probabilities"]

    def classify(self, texts):
        """`(label, probability)` of the top class of each text."""
        probabilities = self.predict(texts)
        top = np.argmax(probabilities, axis=-1)
        return [(self.labels[i], float(p[i])) for i, p in zip(top, probabilities)]


def load_classifier(name_or_path, num_threads=1):
    """Loads a published on-device classifier by name (e.g. "sst2_sentiment") or folder."""
    return OnDeviceClassifier(resolve_classifier(name_or_path), num_threads)


def publish_classifier(text_export_dir, output_dir, config, card, ids_export_dir=None):
    """Writes a published classifier folder (atomically) from a text-form export.

    Args:
      text_export_dir: `tools/export_tflite.py --input=text` output (model.tflite,
        labels.txt, vocab.txt, export_report.json).
      output_dir: the folder to write, e.g. `pretrained/sst2_sentiment`.
      config: what config.json records besides the format and the files (task, labels,
        scores, provenance).
      card: the MODEL_CARD.md text.
      ids_export_dir: optional ids-form export with MediaPipe metadata
        (`--input=ids --mediapipe_python=...`); its model.tflite is copied as
        model_ids_mediapipe.tflite.

    Raises:
      OnDeviceModelError: a file is missing or over 10 MB.
    """
    sources = {name: os.path.join(text_export_dir, name)
               for name in (MODEL_FILE, LABELS_FILE, VOCAB_FILE, REPORT_FILE)}
    if ids_export_dir:
        sources[IDS_MODEL_FILE] = os.path.join(ids_export_dir, MODEL_FILE)
    for name, path in sources.items():
        if not os.path.isfile(path):
            raise OnDeviceModelError(f"{path} is missing. Fix: export the model first "
                                     "(tools/export_tflite.py).")
        if os.path.getsize(path) > MAX_FILE_BYTES:
            raise OnDeviceModelError(f"{path} is {os.path.getsize(path) / 1e6:.1f} MB, over the "
                                     "10 MB a committed file may have.")

    def write(staging):
        for name, path in sources.items():
            shutil.copyfile(path, os.path.join(staging, name))
        write_json_atomic(os.path.join(staging, CONFIG_FILE), {
            "format": FORMAT, **config,
            "files": {name: os.path.getsize(path) for name, path in sources.items()}})
        write_text_atomic(os.path.join(staging, CARD_FILE), card)

    write_directory_atomic(output_dir, write)
    return output_dir
