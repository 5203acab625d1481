"""Corpus datasets: gzip by name, packing lines into sequences, mixing files, determinism."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from mixvocab_tf.corpora import iter_lines
from mixvocab_tf.preprocessing import MixedVocabPreprocessor
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.training.text_data import pack_lines
from mixvocab_tf.training.text_data import text_line_dataset
from mixvocab_tf.training.text_data import tokens_per_word


def _lines(items):
    return tf.data.Dataset.from_tensor_slices(items)


def _texts(dataset):
    return [x.decode() for x in dataset.as_numpy_iterator()]


@pytest.fixture(scope="module")
def prose_sample(embedded_data_dir, tmp_path_factory):
    """The first 1,500 lines of the repository's Python documentation sample (data/corpus,
    the embedded default's prose: every checkout has it) as a gzip file of their own."""
    lines = []
    for line in iter_lines([os.path.join(embedded_data_dir, "corpus", "python_docs.txt")]):
        lines.append(line)
        if len(lines) == 1500:
            break
    path = tmp_path_factory.mktemp("prose") / "prose.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return str(path), lines


@pytest.fixture(scope="module")
def uncased_vocab(data_dir):
    return os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt")


def test_pack_lines_fills_sequences_in_order():
    lines = _lines(["a b c", "d e", "f g h i j k l", "m", "n o p q"])
    assert _texts(pack_lines(lines, 4)) == ["a b c d", "e f g h", "i j k l", "m n o p", "q"]


def test_pack_lines_at_line_starts():
    lines = _lines(["a b c", "d e", "f g h i j k l", "m", "n o p q"])
    # "n o p q" fits a sequence: it starts one rather than continuing "l m".
    assert _texts(pack_lines(lines, 4, split_lines=False)) == [
        "a b c", "d e f g", "h i j k", "l m", "n o p q"]


def test_pack_lines_keeps_every_word_of_real_text(prose_sample):
    _, lines = prose_sample
    packed = _texts(pack_lines(_lines(lines[:200]), 50))
    assert " ".join(packed).split() == " ".join(lines[:200]).split()
    # Words are what tf.strings.split cuts at (ASCII whitespace), joined by one space.
    assert all(len(text.split(" ")) == 50 for text in packed[:-1])


def test_gzip_file_reads_like_its_text(prose_sample, uncased_vocab, tmp_path):
    path, lines = prose_sample
    plain = tmp_path / "prose.txt"
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    layer = SingleVocabPreprocessor(uncased_vocab, sequence_length=32)

    def first_ids(source):
        data = text_line_dataset([source], 4, layer, shuffle=False, repeat=False, pack=False)
        return next(iter(data))["token_ids"].numpy()

    np.testing.assert_array_equal(first_ids(path), first_ids(str(plain)))


def _real_token_share(files, layer, batches, **kwargs):
    data = text_line_dataset(files, 16, layer, shuffle=False, **kwargs)
    masks = [batch["padding_mask"].numpy() for batch in data.take(batches)]
    return float(np.mean(masks))


def test_packing_raises_real_tokens_per_sequence(prose_sample, data_dir, uncased_vocab, tmp_path):
    # Short lines (SNIPS utterances) and longer ones (documentation prose), at L=64.
    snips = os.path.join(data_dir, "tasks", "snips", "train", "seq.in")
    layer = SingleVocabPreprocessor(uncased_vocab, sequence_length=64)
    for files, floor in (([snips], 0.8), ([prose_sample[0]], 0.8)):
        unpacked = _real_token_share(files, layer, 4, pack=False)
        packed = _real_token_share(files, layer, 4)
        assert packed > unpacked and packed >= floor, (files, unpacked, packed)


def test_no_sequence_mixes_two_files(tmp_path, uncased_vocab):
    a = tmp_path / "a.txt"
    a.write_text("".join("apple pear plum\n" for _ in range(300)), encoding="utf-8")
    b = tmp_path / "b.txt.gz"
    with gzip.open(b, "wt", encoding="utf-8") as f:
        f.write("".join("red green blue\n" for _ in range(900)))
    layer = SingleVocabPreprocessor(uncased_vocab, sequence_length=24)
    vocab = layer.vocabulary.tokens
    data = text_line_dataset([str(a), str(b)], 32, layer, seed=1, shuffle_buffer=200)
    fruit, colour = {"apple", "pear", "plum"}, {"red", "green", "blue"}
    shares = []
    for batch in data.take(8):
        for ids, mask in zip(batch["token_ids"].numpy(), batch["padding_mask"].numpy()):
            words = {vocab[i] for i in ids[mask]} - {"[CLS]", "[SEP]"}
            assert words <= fruit or words <= colour, words
            shares.append(words <= colour)
    # Both files are drawn, the larger one (3x the text) about 3x as often.
    assert 0.55 < np.mean(shares) < 0.92


def test_packed_dataset_is_deterministic_with_a_seed(prose_sample, uncased_vocab):
    def first(seed):
        layer = SingleVocabPreprocessor(uncased_vocab, sequence_length=32)
        data = text_line_dataset([prose_sample[0]], 8, layer, seed=seed, words_per_sequence=20,
                                 shuffle_buffer=500)
        return next(iter(data))["token_ids"].numpy()

    np.testing.assert_array_equal(first(5), first(5))
    assert not np.array_equal(first(5), first(6))


def test_tokens_per_word_measures_the_student_segmentation(prose_sample, uncased_vocab, tmp_path):
    # A tiny student vocabulary: characters only, so many pieces per word.
    chars = sorted({c for line in prose_sample[1][:50] for c in line.lower() if c.isalpha()})
    student = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    layer = MixedVocabPreprocessor(uncased_vocab, student, sequence_length=64, p_sv=0.1)
    ratio = tokens_per_word([prose_sample[0]], layer, sample_lines=20)
    teacher_ratio = tokens_per_word(
        [prose_sample[0]], SingleVocabPreprocessor(uncased_vocab, sequence_length=64), 20)
    assert ratio > 3 * teacher_ratio > 3
    assert float(layer.p_sv.numpy()) == pytest.approx(0.1)


def test_draws_follow_the_batch_position_not_the_map_threads(prose_sample, uncased_vocab):
    # A parallel map calls the layer in whatever order its threads run; the draws (p_sv
    # word choices, masking) of batch k must be those of the seed and k alone.
    chars = sorted({c for line in prose_sample[1][:50] for c in line.lower() if c.isalpha()})
    student = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]

    def layer():
        return MixedVocabPreprocessor(uncased_vocab, student, sequence_length=32, p_sv=0.5,
                                      masking_rate=0.15, max_predictions=5, seed=11)

    settings = dict(seed=2, words_per_sequence=12, shuffle_buffer=200)
    batches = list(text_line_dataset([prose_sample[0]], 8, layer(), **settings).take(40))
    texts = list(text_line_dataset([prose_sample[0]], 8, lambda x: x, **settings).take(40))
    eager = layer()
    for index in reversed(range(40)):  # any call order gives the same batches
        expected = eager(texts[index], draw_index=index)
        for key in ("token_ids", "mask_positions", "mask_ids", "student_token_mask"):
            np.testing.assert_array_equal(batches[index][key].numpy(), expected[key].numpy())
    assert not np.array_equal(batches[0]["mask_positions"].numpy(),
                              batches[1]["mask_positions"].numpy())
