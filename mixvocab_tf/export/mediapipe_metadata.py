"""TFLite model metadata for MediaPipe's `TextClassifier`, written with MediaPipe's writer.

An ids-form export (`token_ids`, `segment_ids`, `padding_mask` int32 [1, L]; outputs
`logits`, `probabilities`) gets: the vocabulary and a BERT tokenizer unit (MediaPipe then
tokenises on the device), the input roles ids / mask / segment_ids, and one classification
head per output with the labels, so `TextClassifier.create_from_model_path(path)` runs the
file as it is. The "probabilities" head holds the softmax scores.

`mediapipe` needs absl-py 2.x, which the core install (tensorflow-model-optimization
0.8.1) forbids, so it lives in its own environment (`make setup-mediapipe`, see
docs/EXPORT.md). The functions that use mediapipe (`add_metadata`, `classify`) run there: this
module imports nothing from the rest of `mixvocab_tf` (whose package imports TensorFlow)
and mediapipe only inside functions; `tools/add_mediapipe_metadata.py` loads it by file
path. From the core environment, `add_metadata_in` runs it in a subprocess.

Example:
>>> add_metadata("export/snips_ids/model.tflite", "export/snips_ids/vocab.txt",
...              "export/snips_ids/labels.txt")
'export/snips_ids/model.tflite'
"""

import os
import subprocess
import sys
import tempfile
import types

# The special tokens MediaPipe's BertTokenizer hard-codes (literal strings, [PAD] = id 0).
REQUIRED_TOKENS = ("[CLS]", "[SEP]", "[UNK]")
PAD_TOKEN = "[PAD]"
# Our ids-form input names (serving.ID_INPUTS) in MediaPipe's roles.
IDS_INPUT, MASK_INPUT, SEGMENT_INPUT = "token_ids", "padding_mask", "segment_ids"
OUTPUT_HEADS = ("logits", "probabilities")
SCORES_HEAD = "probabilities"


class MetadataError(ValueError):
    """The model, vocabulary or labels cannot be described for MediaPipe."""


def _version_tuple(text):
    return tuple(int(p) for p in text.split("."))


def minimum_parser_version(metadata_buffer):
    """The lowest metadata parser version that understands every field in the buffer.

    A Python port of MediaPipe's C++ `GetMinimumMetadataParserVersion`
    (mediapipe/tasks/cc/metadata/metadata_version.cc): each schema member added after
    1.0.0 raises the minimum to the release that introduced it.
    """
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb  # pylint: disable=import-outside-toplevel

    minimum = [(1, 0, 0)]

    def need(version):
        minimum[0] = max(minimum[0], _version_tuple(version))

    def files(items):
        for item in items or ():
            if item.type == fb.AssociatedFileType.VOCABULARY:
                need("1.0.1")
            if item.type == fb.AssociatedFileType.SCANN_INDEX_FILE:
                need("1.4.0")
            if item.version is not None:
                need("1.4.1")

    def units(items):
        for item in items or ():
            need({fb.ProcessUnitOptions.BertTokenizerOptions: "1.1.0",
                  fb.ProcessUnitOptions.SentencePieceTokenizerOptions: "1.1.0",
                  fb.ProcessUnitOptions.RegexTokenizerOptions: "1.2.1"}.get(
                      item.optionsType, "1.0.0"))

    def tensors(items):
        for item in items or ():
            files(item.associatedFiles)
            units(item.processUnits)
            if (item.content is not None and item.content.contentPropertiesType
                    == fb.ContentProperties.AudioProperties):
                need("1.3.0")

    root = fb.ModelMetadataT.InitFromObj(
        fb.ModelMetadata.GetRootAsModelMetadata(bytes(metadata_buffer), 0))
    for subgraph in root.subgraphMetadata or ():
        tensors(subgraph.inputTensorMetadata)
        tensors(subgraph.outputTensorMetadata)
        files(subgraph.associatedFiles)
        for present, version in ((subgraph.inputProcessUnits, "1.1.0"),
                                 (subgraph.outputProcessUnits, "1.1.0")):
            if present is not None:
                need(version)
                units(present)
        if subgraph.inputTensorGroups is not None or subgraph.outputTensorGroups is not None:
            need("1.2.0")
        if subgraph.customMetadata is not None:
            need("1.5.0")
    files(root.associatedFiles)
    return ".".join(str(p) for p in minimum[0])


def install_version_module():
    """Makes `mediapipe.tasks.python.metadata` importable from the pip wheel.

    mediapipe 1.2.x still imports the pybind module
    `mediapipe.tasks.cc.metadata.python._pywrap_metadata_version`, which its wheel no
    longer ships, so the metadata writer fails at import. Its one function is pure
    flatbuffer bookkeeping: register `minimum_parser_version` under that name (a no-op
    where a wheel does ship the module).
    """
    name = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    if name in sys.modules:
        return
    try:
        __import__(name)
        return
    except ImportError:
        pass
    parts = name.split(".")
    for depth in range(3, len(parts)):  # mediapipe.tasks.cc ... .python: empty packages.
        package = ".".join(parts[:depth])
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = []
            sys.modules[package] = module
    version = types.ModuleType(name)
    version.GetMinimumMetadataParserVersion = minimum_parser_version
    sys.modules[name] = version


def _read_lines(path, what):
    if not os.path.isfile(path):
        raise MetadataError(f"{what} {path} not found. Fix: pass the export directory's "
                            f"{os.path.basename(path) or what}.")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def check_vocabulary(tokens):
    """MediaPipe's BertTokenizer needs [PAD] at id 0 and the literal [CLS] [SEP] [UNK]."""
    if not tokens or tokens[0] != PAD_TOKEN:
        raise MetadataError(
            f"MediaPipe pads with id 0, so the vocabulary must start with {PAD_TOKEN} "
            f"(found {tokens[0] if tokens else 'an empty file'!r}). Fix: export a model "
            "whose vocabulary has [PAD] first.")
    missing = [t for t in REQUIRED_TOKENS if t not in set(tokens)]
    if missing:
        raise MetadataError(
            f"MediaPipe's BertTokenizer looks up the literal tokens {REQUIRED_TOKENS}; the "
            f"vocabulary lacks {missing}. Fix: add them to the vocabulary before training.")


def has_metadata(model_buffer):
    """Whether a `.tflite` already has a "TFLITE_METADATA" entry."""
    from mediapipe.tasks.metadata import schema_py_generated as schema  # pylint: disable=import-outside-toplevel
    model = schema.Model.GetRootAs(bytes(model_buffer), 0)
    return any(model.Metadata(i).Name() == b"TFLITE_METADATA"
               for i in range(model.MetadataLength()))


def signature_names(model_buffer):
    """(inputs, outputs): each a list of (signature name, TFLite tensor name), graph order.

    The converter names output tensors "StatefulPartitionedCall:N"; the "serving_default"
    SignatureDef maps them back to `logits` / `probabilities`. A tensor outside the
    signature keeps its TFLite name.
    """
    from mediapipe.tasks.metadata import schema_py_generated as schema  # pylint: disable=import-outside-toplevel
    model = schema.Model.GetRootAs(bytes(model_buffer), 0)
    graph = model.Subgraphs(0)
    named = {}
    for s in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(s)
        if signature.SubgraphIndex() != 0:
            continue
        for entries, count in ((signature.Inputs, signature.InputsLength()),
                               (signature.Outputs, signature.OutputsLength())):
            for i in range(count):
                named[entries(i).TensorIndex()] = entries(i).Name().decode()

    def names(indices, count):
        pairs = []
        for i in range(count):
            tensor_name = graph.Tensors(indices(i)).Name().decode()
            pairs.append((named.get(indices(i), tensor_name), tensor_name))
        return pairs

    return (names(graph.Inputs, graph.InputsLength()),
            names(graph.Outputs, graph.OutputsLength()))


def metadata_model(model_buffer, vocabulary_path, labels_path):
    """Returns (model bytes with metadata, metadata JSON) for an ids-form classifier.

    Args:
      model_buffer: the `.tflite` bytes of an ids-form classification export.
      vocabulary_path: its `vocab.txt` (one token a line, index = id).
      labels_path: its `labels.txt` (one class a line, index = output unit).

    Raises:
      MetadataError: the model is not an ids-form classifier or the vocabulary lacks
        what MediaPipe needs.
    """
    install_version_module()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer  # pylint: disable=import-outside-toplevel
    from mediapipe.tasks.python.metadata.metadata_writers import text_classifier  # pylint: disable=import-outside-toplevel

    check_vocabulary(_read_lines(vocabulary_path, "vocabulary"))
    labels = _read_lines(labels_path, "labels file")
    if not labels or any(not label for label in labels):
        raise MetadataError(f"labels file {labels_path} has an empty line or no label.")

    model_buffer = bytearray(model_buffer)
    if has_metadata(model_buffer):
        raise MetadataError(
            "the model already carries TFLite metadata (and packed files). Fix: add it to "
            "the model.tflite that tools/export_tflite.py wrote, not to a file that has it.")
    inputs, outputs = signature_names(model_buffer)
    roles = dict(inputs)  # signature name -> TFLite tensor name (the writer wants those)
    if len(inputs) != 3 or any(r not in roles for r in (IDS_INPUT, MASK_INPUT, SEGMENT_INPUT)):
        raise MetadataError(
            f"MediaPipe's TextClassifier needs exactly the three int32 inputs "
            f"{(IDS_INPUT, MASK_INPUT, SEGMENT_INPUT)}; the model has {[n for n, _ in inputs]}. "
            "Fix: export with --input=ids (text-form models tokenise in the graph and carry "
            "no tokenizer metadata).")
    heads = [name for name, _ in outputs]
    if sorted(heads) != sorted(OUTPUT_HEADS):
        raise MetadataError(
            f"expected classification outputs {OUTPUT_HEADS}, the model has {heads}. "
            "Fix: only classification exports (not tagging or response selection) run in "
            "MediaPipe's TextClassifier.")

    writer = metadata_writer.MetadataWriter(model_buffer)
    writer.add_general_info(
        "TextClassifier", "mixvocab-tf student: a text classifier with a BERT WordPiece "
        f"tokenizer; the '{SCORES_HEAD}' head holds softmax scores.")
    writer.add_bert_text_input(
        metadata_writer.BertTokenizer(vocab_file_path=os.path.abspath(vocabulary_path)),
        ids_name=roles[IDS_INPUT], mask_name=roles[MASK_INPUT],
        segment_name=roles[SEGMENT_INPUT])
    # One head per output tensor, in the model's output order (MediaPipe reads them so).
    for head in heads:
        writer.add_classification_output(
            metadata_writer.Labels().add(
                labels, exported_filename=("labels.txt" if head == SCORES_HEAD
                                           else f"{head}_labels.txt")), name=head,
            description=("Softmax scores of the classes." if head == SCORES_HEAD else
                         "Unnormalised class logits."))
    result = text_classifier.MetadataWriter(writer).populate()
    # Drop the writer now: its __del__ removes a temporary folder and fails when it only
    # runs at interpreter exit.
    del writer
    return result


def add_metadata(model_path, vocabulary_path, labels_path, output_path=None):
    """Writes `model_path` with MediaPipe metadata to `output_path` (default: in place).

    The file is replaced atomically (a temporary file in the same directory, then
    `os.replace`). Returns the path written.
    """
    if not os.path.isfile(model_path):
        raise MetadataError(f"model {model_path} not found. Fix: pass an ids-form export's "
                            "model.tflite (tools/export_tflite.py --input=ids).")
    with open(model_path, "rb") as f:
        blob, _ = metadata_model(f.read(), vocabulary_path, labels_path)
    output_path = output_path or model_path
    directory = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".model-", suffix=".tflite.tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(bytes(blob))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would hide it from others
        os.replace(temporary, output_path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return output_path


def classify(model_path, texts, head=SCORES_HEAD):
    """Runs MediaPipe's `TextClassifier` on `texts`; returns each text's `head` scores.

    Args:
      model_path: a `.tflite` with MediaPipe metadata (`add_metadata`).
      texts: strings.
      head: the output head to report ("probabilities" or "logits").

    Returns:
      A list (one per text) of lists of floats, indexed by class (labels.txt order).
    """
    install_version_module()
    from mediapipe.tasks.python.core import base_options  # pylint: disable=import-outside-toplevel
    from mediapipe.tasks.python.text import text_classifier  # pylint: disable=import-outside-toplevel

    options = text_classifier.TextClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=os.path.abspath(model_path)),
        max_results=-1)  # every class, not the top few
    scores = []
    with text_classifier.TextClassifier.create_from_options(options) as classifier:
        for text in texts:
            result = classifier.classify(text)
            heads = [c for c in result.classifications if c.head_name == head]
            if len(heads) != 1:
                raise MetadataError(
                    f"{model_path} has no '{head}' head (heads: "
                    f"{[c.head_name for c in result.classifications]}). Fix: add the metadata "
                    "with tools/add_mediapipe_metadata.py.")
            row = [0.0] * len(heads[0].categories)
            for category in heads[0].categories:
                row[category.index] = float(category.score)
            scores.append(row)
    return scores


def check_exportable(input_form, task_type, lower_case):
    """Raises `MetadataError` unless MediaPipe's TextClassifier can run such an export.

    Args:
      input_form: the export's input form ("ids" is needed: MediaPipe tokenises).
      task_type: the task type ("classification": one text, one label).
      lower_case: the vocabulary's casing (MediaPipe's BertTokenizer lower-cases).
    """
    if input_form != "ids":
        raise MetadataError(
            "MediaPipe metadata needs the ids form (MediaPipe tokenises on the device). "
            "Fix: export with --input=ids.")
    if task_type != "classification":
        raise MetadataError(
            f"MediaPipe's TextClassifier runs one-text classifiers, not {task_type} models. "
            "Fix: drop --mediapipe_python for this task.")
    if not lower_case:
        raise MetadataError(
            "MediaPipe's BertTokenizer lower-cases its input, so a cased model would see "
            "other ids than in training. Fix: use an uncased (lower_case) model.")


def add_metadata_in(python, model_path, vocabulary_path, labels_path, timeout=300):
    """`add_metadata` run by another interpreter: the MediaPipe environment's `python`.

    How the core environment (absl-py 1.x, no mediapipe) adds the metadata, e.g.
    `export_tflite(..., mediapipe_python=".venv-mediapipe/bin/python")`. Returns a summary
    for the export report.
    """
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise MetadataError(
            f"MediaPipe's Python {python} not found. Fix: make setup-mediapipe and pass "
            ".venv-mediapipe/bin/python (mediapipe needs absl-py 2.x, so it has its own "
            "environment).")
    command = [python, os.path.abspath(__file__), model_path, vocabulary_path, labels_path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as error:
        raise MetadataError(f"adding MediaPipe metadata with {python} took over {timeout} s."
                            ) from error
    if done.returncode:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise MetadataError(f"adding MediaPipe metadata with {python} failed: "
                            f"{lines[-1] if lines else f'exit code {done.returncode}'}")
    return {"python": python, "file_size_bytes": os.path.getsize(model_path),
            "scores_head": SCORES_HEAD}


if __name__ == "__main__":
    # `add_metadata_in`'s entry point: MODEL VOCAB LABELS (the model is rewritten in place).
    try:
        add_metadata(*sys.argv[1:4])
    except MetadataError as error:
        sys.exit(f"error: {error}")
