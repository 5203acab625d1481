"""Shared fixtures: the real teacher, the real development data, the Android core's JVM tests."""

import os
import shutil
import subprocess

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from mixvocab_tf import paths

JUNIT_JARS = ("/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar")
ANDROID_CORE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "android_demo", "core")


@pytest.fixture(scope="session")
def data_dir():
    """The development data set (`../shared/data`, or `$MIXVOCAB_DATA`).

    A fresh clone has no such folder beside it: the tests that read it are skipped with this
    reason (CI and development machines have it, and run them).
    """
    path = paths.shared_data_dir()
    if not os.path.isdir(path):
        pytest.skip(f"needs the development data set, not found at {path}: set MIXVOCAB_DATA "
                    "to a copy of shared/data to run this test")
    return path


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
