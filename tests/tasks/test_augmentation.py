"""Word-replacement augmentation on real SNIPS slot data: alignment, candidates, the rate."""

import os

import numpy as np
import pytest

from mixvocab_tf.tasks import augmentation
from mixvocab_tf.tasks import task_registry
from mixvocab_tf.models.student_directory import read_vocabulary


@pytest.fixture(scope="module")
def slots(data_dir):
    return task_registry.get_task("snips_slots").read(data_dir, "train").take(400)


@pytest.fixture(scope="module")
def bert_vocabulary(data_dir):
    return read_vocabulary(os.path.join(data_dir, "vocab", "bert-base-uncased-vocab.txt"))


@pytest.fixture(scope="module")
def neighbours(bert_vocabulary):
    # A random table: the neighbours mean nothing, but they are a fixed candidate set.
    table = np.random.RandomState(0).normal(size=(len(bert_vocabulary), 8))
    return augmentation.EmbeddingNeighbours(table, bert_vocabulary, num_neighbours=5)


def test_variants_keep_length_tags_and_labels(slots, neighbours):
    variants = augmentation.augment_examples(slots, count=2, rate=0.5, replacer=neighbours, seed=1)
    assert len(variants) == 2 * len(slots)
    changed = 0
    for k in range(2):
        for i in range(len(slots)):
            old, new = slots.texts[i].split(), variants.texts[k * len(slots) + i].split()
            assert len(new) == len(old) == len(variants.tags[k * len(slots) + i])
            assert variants.tags[k * len(slots) + i] == slots.tags[i]
            assert variants.labels[k * len(slots) + i] == slots.labels[i]
            for a, b in zip(old, new):
                if a != b:
                    changed += 1
                    # Every replacement is one of the old word's candidates, never the word.
                    assert b in neighbours.candidates(a) and b.lower() != a.lower()
    assert changed > 0.3 * sum(len(t.split()) for t in slots.texts)
    # Reproducible: the same seed gives the same variants (so the teacher cache hits).
    again = augmentation.augment_examples(slots, count=2, rate=0.5, replacer=neighbours, seed=1)
    assert again.texts == variants.texts


def test_candidates_are_whole_words_nearest_first(bert_vocabulary):
    table = np.random.RandomState(1).normal(size=(len(bert_vocabulary), 8))
    index = {t: i for i, t in enumerate(bert_vocabulary)}
    table[index["rock"]] = table[index["jazz"]] + 1e-3  # make "rock" jazz's nearest word
    replacer = augmentation.EmbeddingNeighbours(table, bert_vocabulary, num_neighbours=4)
    candidates = replacer.candidates("Jazz")
    assert candidates[0] == "rock" and len(candidates) == 4
    assert all(c.isalpha() and not c.startswith("##") for c in candidates)
    assert replacer.candidates("##ing") == [] and not replacer.eligible("2019")


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.7])
def test_replace_rate_is_respected(slots, neighbours, rate):
    words = [t.split() for t in slots.texts]
    rng = np.random.RandomState(0)
    total = expected = replaced = 0
    for _ in range(5):
        positions = augmentation.choose_positions(words, rate, neighbours, rng)
        for sentence, chosen in zip(words, positions):
            n = sum(neighbours.eligible(w) for w in sentence)
            total += n
            replaced += len(chosen)
            # Each eligible word with probability `rate`; one forced when none was drawn.
            expected += rate * n + (1 - rate) ** n if n else 0
    assert abs(replaced - expected) / total < 0.03, (replaced / total, expected / total)
    with pytest.raises(ValueError, match="replace_rate"):
        augmentation.augment_word_lists(words, 1, 0.0, neighbours)


def test_masked_lm_replacer_masks_the_chosen_words(bert_vocabulary):
    index = {t: i for i, t in enumerate(bert_vocabulary)}
    seen = {}
    favourites = np.full(len(bert_vocabulary), -5.0, np.float32)
    for rank, word in enumerate(["blues", "jazz", "rock", "##s", "[MASK]"]):
        favourites[index[word]] = 10.0 - rank

    def logits_fn(inputs, positions):
        seen["ids"], seen["positions"] = inputs["token_ids"].numpy(), positions.numpy()
        return np.broadcast_to(favourites, positions.shape + (len(bert_vocabulary),))

    replacer = augmentation.MaskedLMReplacer(logits_fn, bert_vocabulary, num_candidates=2,
                                             sequence_length=16)
    words = [["play", "some", "jazz", "music"]]
    new = replacer.propose(words, [[2]], np.random.RandomState(0))
    # The word was masked at its piece, and its guess is a top whole word other than itself.
    assert seen["ids"][0, seen["positions"][0, 0]] == index["[MASK]"]
    assert seen["positions"][0, 0] == 3  # [CLS] play some jazz
    assert new[0][0] in ("blues", "rock")
    assert not replacer.eligible("westbam")  # several pieces: not replaced


def test_masked_lm_replacer_from_a_teacher_with_a_head(tiny_stage_inputs, slots):
    from mixvocab_tf.models.teacher_loading import load_teacher

    teacher = load_teacher(tiny_stage_inputs["teacher_dir"])
    replacer = augmentation.MaskedLMReplacer.from_teacher(teacher, num_candidates=5,
                                                          sequence_length=32)
    examples = slots.take(16)
    variants = augmentation.augment_examples(examples, 1, 0.5, replacer, seed=0)
    changed = 0
    for old, new, tags in zip(examples.texts, variants.texts, variants.tags):
        assert len(new.split()) == len(old.split()) == len(tags)
        for a, b in zip(old.split(), new.split()):
            if a != b:
                changed += 1
                assert b in teacher.vocabulary and b.isalpha() and b != a.lower()
    assert changed >= 16


def test_slot_swaps_keep_context_words_intents_and_well_formed_tags(data_dir):
    from mixvocab_tf.tasks.metrics import bio_spans

    train = task_registry.get_task("snips_joint").read(data_dir, "train").take(300)
    values = augmentation.slot_values(train)
    variants = augmentation.swap_slot_values(train, 2, rate=0.5, seed=3)
    assert len(variants) == 600 and variants.labels == train.labels * 2
    assert variants.texts != train.texts * 2  # something was swapped
    swapped = 0
    for i, (text, tags) in enumerate(zip(variants.texts, variants.tags)):
        original = i % len(train)
        words, old_words = text.split(), train.texts[original].split()
        old_tags = train.tags[original]
        assert len(words) == len(tags)
        # The words outside slots are the original's, in order; the slot types too.
        assert [w for w, t in zip(words, tags) if t == "O"] == \
               [w for w, t in zip(old_words, old_tags) if t == "O"]
        spans, old_spans = bio_spans(tags), bio_spans(old_tags)
        assert [s[0] for s in spans] == [s[0] for s in old_spans]
        for (kind, begin, end), (_, old_begin, old_end) in zip(spans, old_spans):
            assert tags[begin] == f"B-{kind}"  # rebuilt BIO: B- first, I- after
            value = tuple(words[begin:end])
            assert value in values[kind]  # a value of the same type seen in training
            swapped += value != tuple(old_words[old_begin:old_end])
    assert swapped > 300
    again = augmentation.swap_slot_values(train, 2, rate=0.5, seed=3)
    assert again.texts == variants.texts  # seeded
    with pytest.raises(ValueError, match="needs slot-tagged examples"):
        augmentation.swap_slot_values(task_registry.get_task("snips").read(data_dir, "train"), 1)
