"""Transfer text: sentence cutting, filters, the seeded draw and the refusals."""

import gzip

import pytest

from mixvocab_tf.corpora import CorpusError
from mixvocab_tf.tasks.transfer_text import TransferTextConfig
from mixvocab_tf.tasks.transfer_text import comparison_key
from mixvocab_tf.tasks.transfer_text import read_transfer_texts
from mixvocab_tf.tasks.transfer_text import split_into_sentences

REVIEWS = [
    "A fine film. Mr. Smith was great in it! I would see it again tomorrow.",
    "Dull from start to end. The plot goes nowhere at all. Too long by far.",
    "A fine film. What a waste of two good hours of my life.",
]


def _write(path, lines, gz=False):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return str(path)


def test_sentences_end_at_capitalised_starts_not_at_abbreviations():
    assert split_into_sentences('He said "Wow." Then J. R. Smith left. Dr. No is 2 hours. Ok') == [
        'He said "Wow."', "Then J. R. Smith left.", "Dr. No is 2 hours.", "Ok"]
    assert split_into_sentences("no capital. so one sentence") == ["no capital. so one sentence"]


def test_documents_become_filtered_deduplicated_sentences(tmp_path):
    path = _write(tmp_path / "reviews.txt.gz", REVIEWS, gz=True)
    texts, pairs, stats = read_transfer_texts([path], "classification",
                                              TransferTextConfig(min_words=4, max_words=8))
    assert pairs is None
    assert sorted(texts) == sorted([
        "Mr. Smith was great in it!", "I would see it again tomorrow.",
        "The plot goes nowhere at all.", "Dull from start to end.",
        "What a waste of two good hours of my life."][:4] + ["Too long by far."])
    # "A fine film." (3 words) twice, the 9-word sentence once; no duplicate survives.
    assert stats["dropped_length"] == 3 and stats["documents"] == 3
    assert stats["sampled"] == stats["candidates"] == len(texts) == 5
    whole, _, whole_stats = read_transfer_texts(
        [path], "classification", TransferTextConfig(split_sentences=False, max_words=0))
    assert sorted(whole) == sorted(REVIEWS) and whole_stats["dropped_length"] == 0


def test_the_draw_is_seeded_and_a_smaller_draw_is_a_prefix(tmp_path):
    lines = [f"line number {i} of the corpus" for i in range(200)] * 2  # each line twice
    path = _write(tmp_path / "corpus.txt", lines)
    config = TransferTextConfig(max_lines=50, seed=3)
    first, _, stats = read_transfer_texts([path], "classification", config)
    again, _, _ = read_transfer_texts([path], "classification", config)
    larger, _, _ = read_transfer_texts([path], "classification",
                                       TransferTextConfig(max_lines=120, seed=3))
    other, _, _ = read_transfer_texts([path], "classification",
                                      TransferTextConfig(max_lines=50, seed=4))
    assert first == again and larger[:50] == first and other != first
    assert stats["dropped_duplicates"] == 200 and stats["candidates"] == 200
    assert len(set(first)) == 50


def test_per_document_cap(tmp_path):
    path = _write(tmp_path / "reviews.txt", REVIEWS[:2])
    texts, _, stats = read_transfer_texts(
        [path], "classification", TransferTextConfig(min_words=1, max_per_document=1))
    assert len(texts) == 2 and stats["dropped_per_document"] == 4


def test_evaluation_examples_are_dropped_and_an_evaluation_split_is_refused(tmp_path):
    path = _write(tmp_path / "reviews.txt", REVIEWS)
    dev = ["mr. smith was great in it !", "an unrelated dev sentence", "another one here"] + [
        f"dev sentence {i}" for i in range(37)]
    assert comparison_key("It 's great , really .") == comparison_key("It's great, really.")
    with pytest.raises(ValueError, match="contain 1 of the 40 examples of sst2 dev"):
        read_transfer_texts([path], "classification", TransferTextConfig(),
                            evaluation_texts=dev, evaluation_name="sst2 dev")
    texts, _, stats = read_transfer_texts(
        [path], "classification", TransferTextConfig(max_evaluation_overlap=0.05),
        evaluation_texts=dev)
    assert "Mr. Smith was great in it!" not in texts
    assert stats["dropped_evaluation_matches"] == 1
    # The evaluated split's own file is refused by name.
    with pytest.raises(ValueError, match="must not read as transfer text"):
        read_transfer_texts([path], "classification", protected=[path])


def test_lines_that_are_not_utf8_are_skipped_and_counted(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"a good clean line of text\n\xff\xfe broken bytes here\n"
                     b"another good line of text\n")
    texts, _, stats = read_transfer_texts([str(path)], "classification")
    assert texts and stats["skipped_not_utf8"] == 1 and len(texts) == 2


@pytest.mark.parametrize("content, message", [
    (None, "No text files match"),
    (b"", "no non-empty line"),
    (b"short\nto\n", "left no example"),
])
def test_bad_transfer_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "transfer.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_transfer_texts([str(path)], "classification")


def test_a_corrupt_gzip_is_refused_with_the_line_reached(tmp_path):
    good = tmp_path / "good.txt.gz"
    _write(good, [f"line {i} of a long enough text" for i in range(5000)], gz=True)
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    with pytest.raises(CorpusError, match="could not be read past line"):
        read_transfer_texts([str(broken)], "classification")
    not_gzip = tmp_path / "plain.txt.gz"
    not_gzip.write_text("plain text in a .gz name\n")
    with pytest.raises(CorpusError, match="not readable as gzip"):
        read_transfer_texts([str(not_gzip)], "classification")


def test_config_refuses_bad_settings():
    with pytest.raises(ValueError, match="max_words"):
        TransferTextConfig(min_words=10, max_words=5)
    with pytest.raises(ValueError, match="max_lines"):
        TransferTextConfig(max_lines=-1)
