"""Shared fixtures: the real teacher, the real development data (or what a clone has of it),
the Android core's JVM tests."""

import importlib.util
import os
import shutil
import signal
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from mixvocab_tf import paths

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JUNIT_JARS = ("/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar")
ANDROID_CORE = os.path.join(REPO, "android_demo", "core")
# The repository's embedded default data (data/README.md).
EMBEDDED_DATA = os.path.join(REPO, "data")


@pytest.fixture(scope="session")
def load_script():
    """`load_script("tools/learn_vocab.py")`: a script of the repository as a module, loaded
    once a session (a tool defines its absl flags when loaded, and twice is an error)."""
    loaded = {}

    def load(relative_path):
        if relative_path not in loaded:
            name = os.path.splitext(os.path.basename(relative_path))[0] + "_script"
            spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relative_path))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[relative_path] = module
        return loaded[relative_path]

    return load


# What a clone has of the development data set, byte for byte: its path in the set -> a function
# returning the file or folder a clone holds (None when absent). The repository ships SNIPS
# (data/tasks/snips, the same train and valid files); the MiniLM teacher package that `make setup`
# installs carries BERT's uncased vocabulary (the same 30,522 lines).
def _teacher_vocabulary():
    try:
        return os.path.join(paths.minilm_teacher_path(), "vocab.txt")
    except FileNotFoundError:
        return None


CLONE_DATA = {
    "tasks/snips": lambda: os.path.join(EMBEDDED_DATA, "tasks", "snips"),
    "vocab/bert-base-uncased-vocab.txt": _teacher_vocabulary,
}


def _clone_source(relative):
    """The clone's copy of `relative` (a path in the development data set), or None."""
    relative = relative.strip("/")
    for key, source in CLONE_DATA.items():
        if key.startswith(relative + "/"):  # a folder above what the clone has: tasks, vocab
            if source() is not None:
                return source()
            continue
        if relative == key or relative.startswith(key + "/"):
            root = source()
            if root is None:
                return None
            rest = relative[len(key):].lstrip("/")
            path = os.path.join(root, rest) if rest else root
            return path if os.path.exists(path) else None
    return None


def missing_data(*relative_paths):
    """The skip reason for the first of `relative_paths` (paths in the development data set,
    e.g. "tasks/sst2" or "corpora/wikipedia_en.txt.gz") that the data in use lacks, or None."""
    shared = paths.shared_data_dir()
    have_shared = os.path.isdir(shared)
    for relative in relative_paths:
        if have_shared:
            if os.path.exists(os.path.join(shared, relative)):
                continue
        elif _clone_source(relative) is not None:
            continue
        where = (f"not in {shared}" if have_shared else
                 f"a clone's data has only tasks/snips and the vocabulary; none at {shared}")
        return (f"needs {relative} of the development data set ({where}): set MIXVOCAB_DATA "
                "to a copy of shared/data to run this test")
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_data(*relative_paths): skip unless the development data set holds "
        "these paths (a clone's data_dir has only tasks/snips and the uncased vocabulary)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker in item.iter_markers("needs_data"):
            reason = missing_data(*marker.args)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
                break


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """The development data set (`../shared/data`, or `$MIXVOCAB_DATA`), or on a clone without
    it, a folder laid out like it holding what the clone has of it (`CLONE_DATA`: SNIPS and the
    uncased vocabulary, copies of identical files).

    A test that reads anything else marks itself `@pytest.mark.needs_data("tasks/sst2", ...)`
    or calls `require_data(...)`: it is skipped, naming the path and MIXVOCAB_DATA, where the
    data lacks it.
    """
    path = paths.shared_data_dir()
    if os.path.isdir(path):
        return path
    root = tmp_path_factory.mktemp("clone_data")
    for relative, source in CLONE_DATA.items():
        source = source()
        if source is None:
            continue
        target = os.path.join(root, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    return str(root)


@pytest.fixture(scope="session")
def require_data():
    """`require(*relative_paths)`: skips the calling test (or fixture) unless the data set holds
    them; for paths known only at run time (else use the `needs_data` mark)."""
    def require(*relative_paths):
        reason = missing_data(*relative_paths)
        if reason:
            pytest.skip(reason)

    return require


@pytest.fixture(scope="session")
def embedded_data_dir():
    """The repository's own data/ (corpus/*.txt, tasks/snips; see data/README.md): real text
    that every checkout has, the same for every run."""
    return EMBEDDED_DATA


@pytest.fixture(scope="session")
def minilm_path():
    return paths.minilm_teacher_path()


@pytest.fixture(scope="session")
def tiny_stage_inputs(tmp_path_factory, data_dir):
    """A tiny random teacher (the real uncased vocabulary, a pretraining head)
    as a keras-hub preset, a student vocabulary learned from real SNIPS text,
    and train / held-out corpus files: fast inputs for Stage I and II runs."""
    import keras
    import keras_hub

    from mixvocab_tf.models.teacher import Teacher
    from mixvocab_tf.models.teacher import build_masked_lm_head
    from mixvocab_tf.vocab import learn_vocabulary

    root = tmp_path_factory.mktemp("tiny_stage")
    with open(os.path.join(data_dir, "tasks", "snips", "train", "seq.in"), encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    train_file, eval_file = root / "train.txt", root / "eval.txt"
    train_file.write_text("\n".join(lines[:3000]) + "\n", encoding="utf-8")
    eval_file.write_text("\n".join(lines[-300:]) + "\n", encoding="utf-8")
    with open(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"), encoding="utf-8") as f:
        teacher_vocabulary = [line.rstrip("\n") for line in f]
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(teacher_vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=64,
    )
    head = build_masked_lm_head(backbone, "gelu", 1e-12)
    teacher = Teacher(backbone, teacher_vocabulary, True, head, "keras_hub")
    teacher_dir = str(root / "teacher")
    teacher.save_to_preset(teacher_dir)
    student_vocab = root / "student_vocab.txt"
    tokens = learn_vocabulary(lines[:3000], vocab_size=400, lower_case=True)
    student_vocab.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return {
        "teacher_dir": teacher_dir,
        "student_vocab": str(student_vocab),
        "train_file": str(train_file),
        "eval_file": str(eval_file),
        "root": str(root),
    }


@pytest.fixture(scope="session")
def write_tiny_student():
    """A function writing a Stage II-shaped student directory (student.keras, vocab.txt,
    config.json) of a random 1-layer, 32-wide `StudentEncoder`: fast fine-tuning inputs.

    `write(path, vocabulary, seed=1, sequence_length=None) -> path`.
    """
    import json

    import keras

    from mixvocab_tf.models.student_encoder import StudentEncoder

    def write(path, vocabulary, seed=1, sequence_length=None):
        path = str(path)
        os.makedirs(path)
        keras.utils.set_random_seed(seed)
        StudentEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=32, num_heads=2,
                       intermediate_dim=64, max_sequence_length=64).save(
                           os.path.join(path, "student.keras"))
        with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in vocabulary))
        config = {"lower_case": True}
        if sequence_length is not None:
            config["sequence_length"] = sequence_length
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f)
        return path

    return write


@pytest.fixture
def run_java_core(tmp_path):
    """Compiles the Android demo's plain-Java core with its JUnit tests and runs them.

    `run(properties) -> CompletedProcess`: `properties` become `-Dname=value` (the vectors
    and bundle the Java tests read). Skips without javac or Debian's junit4.
    """
    if shutil.which("javac") is None or not all(map(os.path.exists, JUNIT_JARS)):
        pytest.skip("needs javac and Debian's junit4 (apt-get install junit4)")
    classes = tmp_path / "classes"
    sources = [os.path.join(root, name) for sub in ("main", "test")
               for root, _, names in os.walk(os.path.join(ANDROID_CORE, "src", sub))
               for name in names if name.endswith(".java")]
    classpath = ":".join(JUNIT_JARS)
    subprocess.run(["javac", "-d", str(classes), "-cp", classpath] + sources, check=True)

    def run(properties):
        return subprocess.run(
            ["java", *[f"-D{k}={v}" for k, v in properties.items()],
             "-cp", f"{classes}:{classpath}", "org.junit.runner.JUnitCore",
             "org.mixvocab.demo.BertTokenizerTest", "org.mixvocab.demo.AssistantTest"],
            capture_output=True, text=True)

    return run


@pytest.fixture
def sigkill_after_first_checkpoint():
    """Runs a training command and SIGKILLs it once its first checkpoint is written.

    `kill(command, model_dir, timeout=180) -> step`: the step of the newest checkpoint in
    `model_dir/checkpoints` (a run killed mid-write resumes from the last complete one).
    """
    import tensorflow as tf

    def kill(command, model_dir, timeout=180):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
        index = os.path.join(model_dir, "checkpoints", "checkpoint")
        deadline = time.time() + timeout
        while not os.path.exists(index) and time.time() < deadline and run.poll() is None:
            time.sleep(0.2)
        run.send_signal(signal.SIGKILL)
        run.communicate()
        return int(tf.train.latest_checkpoint(os.path.dirname(index)).rsplit("-", 1)[1])

    return kill
