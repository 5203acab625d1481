"""A tiny real SNIPS task model, trained once for the export tests."""

import os

import pytest

from mixvocab_tf.tasks import finetuning
from mixvocab_tf.tasks.configs import DataSelectionConfig
from mixvocab_tf.tasks.configs import FinetuneConfig
from mixvocab_tf.tasks.configs import SentenceHeadConfig
from mixvocab_tf.tasks.configs import TaskTrainingConfig
from mixvocab_tf.models.student_directory import read_vocabulary

SNIPS_SEQUENCE_LENGTH = 32
@pytest.fixture(scope="session")
def snips_model_dir(tmp_path_factory, data_dir, write_tiny_student):
    """A 1-layer, 32-wide student with BERT's uncased vocabulary, fine-tuned on 3,000 SNIPS
    utterances at L=32 (about 15 s; ~93% on valid), with the mean head: the attention-mask
    test needs a classifier that reads the encoder alone (the n-gram head's convolutions
    hide the -1e9 mask's int8 error: 0.05 against 0.83). The default ngram head exports in
    test_exporter's ngram test and the pipeline's run."""
    root = tmp_path_factory.mktemp("export")
    vocabulary = read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))
    student = write_tiny_student(root / "student", vocabulary)
    output = str(root / "snips")
    config = finetuning.finetune(
        FinetuneConfig(task="snips",
                       training=TaskTrainingConfig(epochs=2, batch_size=32, learning_rate=5e-3,
                                                   sequence_length=SNIPS_SEQUENCE_LENGTH),
                       head=SentenceHeadConfig(pooling="mean"),
                       data=DataSelectionConfig(max_train_examples=3000)),
        student, os.path.join(data_dir, "tasks"), output, verbose=0)
    assert config["eval"]["metrics"]["accuracy"] > 0.85, config["eval"]
    return output
