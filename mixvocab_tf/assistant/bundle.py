"""The on-device dialogue assistant's logic, in Python: the reference the Android app's Java
core (`android_demo/core`, `Assistant.java`) is tested against.

From a text and the model's outputs to an answer:

1. Input validation: a text with nothing but spaces and control characters is "empty"; one of
   more than `MAX_CHARS` code points is "too_long" (neither reaches the model); a text whose
   word pieces are all `[UNK]` is "no_known_word".
2. The intent: the argmax of the intent logits; its softmax probability is the confidence.
   Below the calibrated `threshold` the answer is "out_of_scope".
3. The slots (joint models): each whitespace-separated word ([ \\t\\n\\f\\r], MediaPipe's
   `\\s`) is read at its first word piece, and the sentence takes the best valid BIO
   sequence (`bio_decoding.decode_words`: every I-x follows a B-x or I-x); a slot's value is
   the user's own text from its first word to its last, so WordPiece pieces are merged back
   and the case is kept.
4. The reply: the first template of the intent (file order in `replies.tsv`) whose `{slot}`
   placeholders are all filled; a slot found twice reads "a and b". Reserved keys hold the
   other answers: `<out_of_scope>`, `<empty>`, `<too_long>`, `<no_known_word>`.

Example:
>>> bundle = AssistantBundle.load("runs/demo/android")
>>> bundle.answer("play daft punk on spotify").reply
'Playing Daft Punk on Spotify.'
"""

import base64
import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata

import numpy as np

from mixvocab_tf.export import mediapipe_metadata
from mixvocab_tf.export.runtime import TFLiteRunner
from mixvocab_tf.export.test_vectors import EDGE_CASE_TEXTS
from mixvocab_tf.export.test_vectors import write_test_vectors
from mixvocab_tf.file_io import replace_directory
from mixvocab_tf.file_io import write_json_atomic
from mixvocab_tf.file_io import write_text_atomic
from mixvocab_tf.paths import REPO_ROOT
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.tasks.bio_decoding import decode_words
from mixvocab_tf.preprocessing.word_alignment import WordAligner
from mixvocab_tf.tasks.task_model import load_task_model

MAX_CHARS = 1000
OUT_OF_SCOPE, EMPTY, TOO_LONG, NO_KNOWN_WORD = "<out_of_scope>", "<empty>", "<too_long>", "<no_known_word>"
RESERVED = (OUT_OF_SCOPE, EMPTY, TOO_LONG, NO_KNOWN_WORD)
KINDS = ("intent", "out_of_scope", "empty", "too_long", "no_known_word")
# MediaPipe's tokenizer splits words on RE2's \s: ASCII space, tab, newline, form feed, CR.
_WORD = re.compile(r"[^ \t\n\f\r]+")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
CONFIG_FILE = "assistant.json"
REPLIES_FILE = "replies.tsv"
VECTORS_FILE = "assistant_vectors.tsv"

DEFAULT_REPLIES = os.path.join(REPO_ROOT, "android_demo", "app", "src", "main", "assets",
                               REPLIES_FILE)


def words_with_spans(text):
    """[(word, start, end)] of the whitespace-separated words (code point offsets)."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def is_blank(text):
    """Nothing but whitespace, separators and control / format characters."""
    return all(unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in text)


def read_replies(path):
    """{key: [templates in file order]} from `key<TAB>template` lines."""
    replies = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" not in line:
                raise ValueError(f"{path}:{number} has no tab. Fix: write intent<TAB>reply.")
            key, template = line.split("\t", 1)
            replies.setdefault(key.strip(), []).append(template.strip())
    return replies


def bio_spans(tags):
    """[(slot, first word, last word)] of word tags, conlleval's way (as `metrics.bio_spans`)."""
    spans, start, kind = [], None, None
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, _, name = tag.partition("-")
        if start is not None and (prefix in ("O", "B") or name != kind):
            spans.append((kind, start, index - 1))
            start, kind = None, None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = index, name
    return spans


def decode_slots(text, word_tags):
    """[(slot, value)] in text order; values are the user's words, as typed."""
    words = words_with_spans(text)
    return [(kind, text[words[first][1]:words[last][2]])
            for kind, first, last in bio_spans(word_tags)]


def fill_template(templates, slots):
    """The first template whose placeholders all have a value, filled; None if none fits."""
    values = {}
    for name, value in slots:
        values.setdefault(name, []).append(value)
    for template in templates:
        names = _PLACEHOLDER.findall(template)
        if all(n in values for n in names):
            return _PLACEHOLDER.sub(lambda m: " and ".join(values[m.group(1)]), template)
    return None


def softmax64(logits):
    """Softmax in float64 (the Java side computes it in double the same way)."""
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max())
    return e / e.sum()


def first_argmax(values):
    """Index of the first largest value (Java scans with a strict >)."""
    return int(np.argmax(np.asarray(values)))


@dataclasses.dataclass
class Answer:
    """What the assistant says, and why."""

    kind: str  # one of KINDS
    reply: str
    intent: str = ""
    confidence: float = 0.0
    slots: tuple = ()


class Assistant:
    """Turns a text and the model's outputs into an `Answer`.

    Args:
      intents: the intent labels (labels.txt), index = logit.
      slot_labels: the slot tags (slot_labels.txt) or None (an intent-only model).
      replies: {key: [templates]} (`read_replies`).
      threshold: the confidence below which an utterance is out of scope.
      max_chars: longer texts are refused before the model.
    """

    def __init__(self, intents, slot_labels, replies, threshold, max_chars=MAX_CHARS):
        self.intents = list(intents)
        self.slot_labels = list(slot_labels) if slot_labels else None
        self.replies = replies
        self.threshold = float(threshold)
        self.max_chars = int(max_chars)
        missing = [key for key in RESERVED if key not in replies]
        if missing:
            raise ValueError(f"the replies lack {missing}. Fix: add a line for each to "
                             f"{REPLIES_FILE}.")

    def _say(self, key, slots=()):
        return fill_template(self.replies.get(key, []), slots) or self.replies[OUT_OF_SCOPE][0]

    def check_input(self, text):
        """"empty", "too_long" or None (the text goes to the tokenizer)."""
        if is_blank(text):
            return "empty"
        if len(text) > self.max_chars:
            return "too_long"
        return None

    def answer(self, text, token_ids, padding_mask, unk_id, intent_logits, slot_logits=None,
               word_starts=None):
        """The answer to `text`, from its ids and the model's logits.

        Args:
          text: what the user typed.
          token_ids, padding_mask: its model inputs [L] ([CLS] pieces [SEP] padding).
          unk_id: the id of [UNK].
          intent_logits: [C].
          slot_logits: [L, T] (joint models), with `word_starts` [W]: each word's first piece
            position (-1: cut off by truncation).
        """
        problem = self.check_input(text)
        if problem:
            return Answer(problem, self._say(f"<{problem}>"))
        count = int(np.sum(padding_mask))
        pieces = list(token_ids[1:count - 1])
        if not pieces or all(p == unk_id for p in pieces):
            return Answer("no_known_word", self._say(NO_KNOWN_WORD))
        probabilities = softmax64(intent_logits)
        best = first_argmax(intent_logits)
        intent, confidence = self.intents[best], float(probabilities[best])
        if confidence < self.threshold:
            return Answer("out_of_scope", self._say(OUT_OF_SCOPE), intent, confidence)
        slots = ()
        if self.slot_labels is not None and slot_logits is not None:
            # Words cut off by truncation read "O".
            tags = [self.slot_labels[i] if i is not None else "O"
                    for i in decode_words(slot_logits, word_starts, self.slot_labels, None)]
            slots = tuple(decode_slots(text, tags))
        return Answer("intent", self._say(intent, slots), intent, confidence, slots)


def choose_threshold(in_scope_confidences, keep=0.98):
    """The largest threshold that still answers `keep` of the in-scope utterances.

    The (1 - keep) quantile of the in-scope confidences (top softmax probabilities); every
    in-scope utterance at or above it keeps its answer.
    """
    values = np.sort(np.asarray(in_scope_confidences, np.float64))
    if values.size == 0:
        raise ValueError("no in-scope confidences to choose a threshold from.")
    return float(values[int(np.floor((1.0 - keep) * values.size))])


def threshold_report(threshold, in_scope_confidences, in_scope_correct, oos_confidences):
    """Rates at a threshold: in-scope answered and answered right, out-of-scope refused."""
    in_conf = np.asarray(in_scope_confidences)
    answered = in_conf >= threshold
    oos = np.asarray(oos_confidences)
    return {
        "threshold": float(threshold),
        "in_scope_answered": float(answered.mean()),
        "in_scope_answered_correctly": float((answered & np.asarray(in_scope_correct)).mean()),
        # None, not NaN (invalid JSON), when there are no out-of-scope examples to refuse.
        "out_of_scope_refused": float((oos < threshold).mean()) if oos.size else None,
    }


# ---- the Android bundle and its test vectors -------------------------------------------------

def _floats(values):
    return " ".join(f"{float(v):.9g}" for v in np.asarray(values, np.float32).ravel())


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def write_assistant_vectors(path, assistant, texts, features, intent_logits, slot_logits,
                            unk_id, sequence_length):
    """Writes the assistant's test vectors: inputs, the model's logits, the Python answer.

    One line a text, tab-separated: text (base64 UTF-8), token ids, padding mask, word starts
    (space-separated; "-" when none), intent logits, slot logits of the first `count` positions
    ([count, T] row-major; "-" for intent-only models), kind, intent, confidence, slots (base64
    of "slot<TAB>value" lines) and reply (base64). A first line `# key=value ...` gives L, T and
    the threshold. The Java test re-tokenises the text (ids must be equal), decodes the logits
    and must give the same kind, intent, slots and reply.
    """
    lines = [f"# sequence_length={sequence_length} num_intents={len(assistant.intents)} "
             f"num_tags={len(assistant.slot_labels or [])} threshold={assistant.threshold!r} "
             f"max_chars={assistant.max_chars}"]
    answers = []
    for i, text in enumerate(texts):
        ids, mask = features["token_ids"][i], features["padding_mask"][i]
        count = int(np.sum(mask))
        starts = [int(s) for s in features["word_starts"][i][:len(words_with_spans(text))]]
        intent = np.asarray(intent_logits[i], np.float32)
        slots = None if slot_logits is None else np.asarray(slot_logits[i][:count], np.float32)
        answer = assistant.answer(text, ids, mask, unk_id, intent, slots, starts)
        answers.append(answer)
        lines.append("\t".join([
            _b64(text), " ".join(map(str, ids)), " ".join(map(str, mask)),
            " ".join(map(str, starts)) or "-", _floats(intent),
            "-" if slots is None else _floats(slots), answer.kind, answer.intent or "-",
            f"{answer.confidence:.9g}",
            _b64("".join(f"{k}\t{v}\n" for k, v in answer.slots)), _b64(answer.reply)]))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return answers


@dataclasses.dataclass
class AssistantBundle:
    """A loaded Android bundle: the assistant, its tokenizer and the ids-form model."""

    directory: str
    config: dict
    assistant: Assistant
    vocabulary: list

    @classmethod
    def load(cls, directory):
        with open(os.path.join(directory, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
        read = lambda name: [l.rstrip("\n") for l in open(os.path.join(directory, name),
                                                          encoding="utf-8") if l.strip()]
        slot_labels = read("slot_labels.txt") if config.get("slot_labels_file") else None
        assistant = Assistant(read("labels.txt"), slot_labels,
                              read_replies(os.path.join(directory, REPLIES_FILE)),
                              config["threshold"], config.get("max_chars", MAX_CHARS))
        return cls(directory, config, assistant, read("vocab.txt"))

    @classmethod
    def from_export(cls, model_dir, ids_export_dir, threshold=0.0, replies_path=DEFAULT_REPLIES):
        """The bundle `write_android_bundle` would write, read in place (nothing is written).

        For scoring the ids form as the app runs it before the bundle exists, e.g. to choose
        the out-of-scope threshold.
        """
        task_model = load_task_model(model_dir)
        export = _ids_export_report(ids_export_dir)
        slot_labels = task_model.config.get("slot_labels")
        assistant = Assistant(list(task_model.labels), slot_labels, read_replies(replies_path),
                              threshold, MAX_CHARS)
        return cls(ids_export_dir, bundle_config(task_model, export["sequence_length"], threshold),
                   assistant, list(task_model.vocabulary))

    def aligner(self):
        return WordAligner(self.vocabulary, self.config["lower_case"],
                           self.config["sequence_length"], self.config["normalization"])

    def encode(self, texts, aligner=None):
        """The model inputs and word starts of texts, as the app's tokenizer gives them."""
        aligner = aligner or self.aligner()
        return aligner.encode([[w for w, _, _ in words_with_spans(t)] for t in texts])

    def run(self, features):
        """LiteRT on the bundle's ids-form model: (intent logits [N, C], slot logits or None)."""
        runner = TFLiteRunner(os.path.join(self.directory, "model.tflite"))
        outputs = runner.run_ids(features)
        return outputs["logits"], outputs.get("slot_logits")

    def answer(self, text):
        features = self.encode([text])
        intent, slots = self.run(features)
        starts = [int(s) for s in features["word_starts"][0][:len(words_with_spans(text))]]
        return self.assistant.answer(
            text, features["token_ids"][0], features["padding_mask"][0],
            self.vocabulary.index("[UNK]"), intent[0], None if slots is None else slots[0],
            starts)


def bundle_config(task_model, sequence_length, threshold, calibration=None):
    """The content of `assistant.json`: what the app needs besides the model, labels, vocabulary."""
    joint = task_model.config.get("slot_labels") is not None
    return {
        "task": task_model.config["task"],
        "type": task_model.task_type,
        "sequence_length": int(sequence_length),
        "lower_case": task_model.lower_case,
        "normalization": task_model.normalization,
        "threshold": float(threshold),
        "max_chars": MAX_CHARS,
        "model_file": "model.tflite",
        "labels_file": "labels.txt",
        "vocab_file": "vocab.txt",
        "slot_labels_file": "slot_labels.txt" if joint else None,
        "replies_file": REPLIES_FILE,
        "signature": "serving_default",
        "inputs": ["token_ids", "segment_ids", "padding_mask"],
        "outputs": ["logits", "probabilities"] + (
            ["slot_logits", "slot_probabilities"] if joint else []),
        "calibration": calibration,
    }


def write_bundle_config(directory, task_model, sequence_length, threshold, calibration=None):
    """Writes `assistant.json` (`bundle_config`) into `directory`; returns it."""
    config = bundle_config(task_model, sequence_length, threshold, calibration)
    write_json_atomic(os.path.join(directory, CONFIG_FILE), config)
    return config


def _write_properties(path, config):
    """assistant.properties: the settings the app reads (java.util.Properties, no JSON parser)."""
    keys = ("task", "type", "sequence_length", "lower_case", "normalization", "threshold",
            "max_chars", "model_file", "labels_file", "vocab_file", "slot_labels_file",
            "replies_file", "signature")
    value = lambda v: "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
    write_text_atomic(path, "# Written by mixvocab-tf with assistant.json; read by the app.\n"
                      + "".join(f"{k}={value(config[k])}\n" for k in keys))


def _ids_export_report(ids_export_dir):
    with open(os.path.join(ids_export_dir, "export_report.json"), encoding="utf-8") as f:
        export = json.load(f)
    if export["input_form"] != "ids":
        raise ValueError(f"{ids_export_dir} is the {export['input_form']} form; the app runs "
                         "the ids form. Fix: pass the --input=ids export.")
    return export


def write_android_bundle(model_dir, ids_export_dir, output_dir, threshold, texts,
                         replies_path=DEFAULT_REPLIES, mediapipe_python=None, calibration=None):
    """Writes the folder the Android app's assets are copied from, with its test vectors.

    Args:
      model_dir: the task model directory (classification or joint intent + slots).
      ids_export_dir: its ids-form TFLite export (`export_tflite(..., input_form="ids")`).
      output_dir: the bundle folder (replaced atomically).
      threshold: the out-of-scope confidence threshold (`choose_threshold`).
      texts: the texts of the test vectors (the edge cases of `test_vectors` are added).
      replies_path: the reply templates (`replies.tsv`).
      mediapipe_python: `.venv-mediapipe/bin/python`: add MediaPipe's TextClassifier metadata
        to the model (classifiers only; the same file runs in LiteRT and MediaPipe).
      calibration: how the threshold was chosen, recorded in `assistant.json`.

    Returns:
      {"directory", "files", "vectors", "answers"} (answers: the Python answers by kind).
    """
    task_model = load_task_model(model_dir)
    export = _ids_export_report(ids_export_dir)
    sequence_length = export["sequence_length"]
    joint = task_model.task_type == task_registry.INTENT_AND_SLOTS
    output_dir = os.path.abspath(output_dir)
    os.makedirs(os.path.dirname(output_dir), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.tmp-",
                               dir=os.path.dirname(output_dir))
    try:
        names = ["model.tflite", "labels.txt", "vocab.txt"] + (["slot_labels.txt"] if joint else [])
        for name in names:
            shutil.copyfile(os.path.join(ids_export_dir, name), os.path.join(staging, name))
        shutil.copyfile(replies_path, os.path.join(staging, REPLIES_FILE))
        metadata = None
        if mediapipe_python and not joint:
            metadata = mediapipe_metadata.add_metadata_in(
                mediapipe_python, *(os.path.join(staging, n) for n in (
                    "model.tflite", "vocab.txt", "labels.txt")))
        config = write_bundle_config(staging, task_model, sequence_length, threshold,
                                     calibration)
        config["mediapipe_metadata"] = metadata is not None
        write_json_atomic(os.path.join(staging, CONFIG_FILE), config)
        _write_properties(os.path.join(staging, "assistant.properties"), config)
        texts = list(texts) + list(EDGE_CASE_TEXTS)
        write_test_vectors(os.path.join(staging, "test_vectors.tsv"), task_model.vocabulary,
                           texts, sequence_length, lower_case=task_model.lower_case,
                           normalization=task_model.normalization)
        bundle = AssistantBundle.load(staging)
        features = bundle.encode(texts)
        intent, slots = bundle.run(features)
        answers = write_assistant_vectors(
            os.path.join(staging, VECTORS_FILE), bundle.assistant, texts, features, intent,
            slots, task_model.vocabulary.index("[UNK]"), sequence_length)
        replace_directory(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    kinds = {}
    for answer in answers:
        kinds[answer.kind] = kinds.get(answer.kind, 0) + 1
    return {"directory": output_dir, "files": sorted(os.listdir(output_dir)),
            "vectors": len(texts), "answers": kinds, "mediapipe_metadata": metadata is not None}


def form_predictions(texts, text_model=None, ids_bundle=None, mediapipe_python=None,
                     work_dir=None):
    """Top-1 intent of each text in each runtime form of one exported model.

    Args:
      texts: one-line texts (MediaPipe's tool reads one a line).
      text_model: the text-form model.tflite (LiteRT; tokenizer in the graph).
      ids_bundle: an Android bundle folder (`write_android_bundle`): its ids-form model in
        LiteRT on the ids of the app's tokenizer (the Python reference the Java tokenizer
        equals on every vector), and, with `mediapipe_python`, the same file (with its
        metadata) in MediaPipe's TextClassifier, which tokenises on its own.
      work_dir: where MediaPipe's texts and scores go (default: a temporary folder).

    Returns:
      {form: int array [N]} for the forms given: "text_litert", "ids_litert", "mediapipe".
    """
    if any("\n" in t or "\r" in t for t in texts):
        raise ValueError("texts must be one line each (MediaPipe's tool reads a text a line).")
    predictions = {}
    if text_model:
        predictions["text_litert"] = TFLiteRunner(text_model).run_text(texts)["logits"].argmax(-1)
    if ids_bundle:
        bundle = AssistantBundle.load(ids_bundle)
        intent, _ = bundle.run(bundle.encode(texts))
        predictions["ids_litert"] = intent.argmax(-1)
        if mediapipe_python:
            tool = os.path.join(os.path.dirname(DEFAULT_REPLIES), "..", "..", "..", "..", "..",
                                "tools", "add_mediapipe_metadata.py")
            with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
                texts_path, scores_path = (os.path.join(tmp, n) for n in ("t.txt", "s.json"))
                with open(texts_path, "w", encoding="utf-8") as f:
                    f.write("".join(t + "\n" for t in texts))
                done = subprocess.run(
                    [mediapipe_python, os.path.normpath(tool),
                     f"--model={os.path.join(ids_bundle, 'model.tflite')}", "--noadd_metadata",
                     f"--texts={texts_path}", f"--scores_output={scores_path}"],
                    capture_output=True, text=True, timeout=1200, check=False)
                if done.returncode:
                    raise RuntimeError(f"MediaPipe scoring failed: {done.stderr[-1500:]}")
                with open(scores_path, encoding="utf-8") as f:
                    predictions["mediapipe"] = np.asarray(json.load(f)["scores"]).argmax(-1)
    return predictions


def agreement(predictions):
    """{"a vs b": fraction of equal top-1 predictions} for every pair of forms."""
    names = sorted(predictions)
    return {f"{a} vs {b}": float(np.mean(predictions[a] == predictions[b]))
            for i, a in enumerate(names) for b in names[i + 1:]}
