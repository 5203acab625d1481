"""MixedVocabPreprocessor on real text, against real tensorflow-text tokenizers."""

import math
import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from mixvocab_tf.preprocessing import MixedVocabPreprocessor
from mixvocab_tf.preprocessing import SingleVocabPreprocessor
from mixvocab_tf.vocab import Vocabulary
from mixvocab_tf.vocab import learn_vocabulary


def _read(path, n=None):
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[:n] if n else lines


@pytest.fixture(scope="module")
def teacher(minilm_path):
    return Vocabulary.load(os.path.join(minilm_path, "vocab.txt"))


@pytest.fixture(scope="module")
def student(data_dir, embedded_data_dir):
    # A real learned vocabulary: SNIPS utterances and WordNet glosses (the repository's sample).
    lines = _read(os.path.join(data_dir, "tasks/snips/train/seq.in"), 3000)
    lines += _read(os.path.join(embedded_data_dir, "corpus/wordnet_glosses.txt"), 3000)
    return Vocabulary(learn_vocabulary(lines, vocab_size=1200, tolerance=0.05))


@pytest.fixture(scope="module")
def lines(data_dir, embedded_data_dir):
    snips = _read(os.path.join(data_dir, "tasks/snips/valid/seq.in"), 300)
    glosses = _read(os.path.join(embedded_data_dir, "corpus/wordnet_glosses.txt"))[-300:]
    python = _read(os.path.join(embedded_data_dir, "corpus/python_docs.txt"))[1000:1200]
    return snips + glosses + python


def _fast_bert(vocab):
    return tf_text.FastBertTokenizer(vocab.tokens, lower_case_nfd_strip_accents=True, token_out_type=tf.int32)


def _words(pieces, tokens):
    """Groups a list of ids into words (a word starts at a non-## piece)."""
    words = []
    for piece in pieces:
        token = tokens[piece]
        if token.startswith("##") and len(token) > 2 and words:
            words[-1].append(piece)
        else:
            words.append([piece])
    return words


def _unpad(out, i):
    n = int(np.sum(out["padding_mask"][i]))
    return out["token_ids"][i][:n].tolist(), out["student_token_mask"][i][:n].tolist()


def test_p_sv_0_is_the_teacher_tokenizer(teacher, student, lines):
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=64, p_sv=0.0, seed=1)
    out = {k: v.numpy() for k, v in layer(tf.constant(lines)).items()}
    reference = _fast_bert(teacher).tokenize(tf.constant(lines)).to_list()
    for i, ref in enumerate(reference):
        expected = [teacher.cls_id] + ref[:62] + [teacher.sep_id]
        ids, is_student = _unpad(out, i)
        assert ids == expected
        assert not any(is_student)
        assert (out["token_ids"][i][len(expected):] == 0).all()
    assert (out["segment_ids"] == 0).all()


def test_single_vocab_matches_keras_hub_on_pairs(teacher, embedded_data_dir):
    # keras-hub does not strip accents, so compare on ASCII pairs: a WordNet gloss and two
    # lines of the Python documentation (often over 48 tokens: the round-robin truncation).
    corpus = os.path.join(embedded_data_dir, "corpus")
    glosses = _read(os.path.join(corpus, "wordnet_glosses.txt"))[:200]
    docs = _read(os.path.join(corpus, "python_docs.txt"))[:400]
    pairs = [(x, y + " " + z) for x, y, z in zip(glosses, docs[0::2], docs[1::2])
             if x.isascii() and y.isascii() and z.isascii()]
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    layer = SingleVocabPreprocessor(teacher, sequence_length=48)
    ours = layer((tf.constant(a), tf.constant(b)))
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=teacher.tokens, lowercase=True)
    packer = keras_hub.layers.MultiSegmentPacker(
        sequence_length=48, start_value=teacher.cls_id, end_value=teacher.sep_id,
        truncate="round_robin")
    ids, segments = packer((tokenizer(tf.constant(a)), tokenizer(tf.constant(b))))
    np.testing.assert_array_equal(ours["token_ids"].numpy(), ids.numpy())
    np.testing.assert_array_equal(ours["segment_ids"].numpy(), segments.numpy())
    np.testing.assert_array_equal(ours["padding_mask"].numpy(), ids.numpy() != 0)
    assert set(ours) == {"token_ids", "segment_ids", "padding_mask"}


def test_accents_are_stripped_like_original_bert(teacher):
    text = tf.constant(["Café naïve RÉSUMÉ Ångström façade"])
    ours = SingleVocabPreprocessor(teacher, sequence_length=32)(text)["token_ids"].numpy()[0]
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(teacher.tokens, tf.range(teacher.size, dtype=tf.int64)), 1)
    ref = tf_text.BertTokenizer(table, lower_case=True).tokenize(text).merge_dims(1, 2).to_list()[0]
    assert ours[1:len(ref) + 1].tolist() == ref
    assert teacher.token_to_id("cafe") in ref


@pytest.mark.parametrize("offset", [True, False])
def test_p_sv_1_is_the_student_tokenizer(teacher, student, lines, offset):
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=64, p_sv=1.0,
                                   offset_student_ids=offset, seed=2)
    out = {k: v.numpy() for k, v in layer(tf.constant(lines)).items()}
    shift = teacher.size if offset else 0
    reference = _fast_bert(student).tokenize(tf.constant(lines)).to_list()
    for i, ref in enumerate(reference):
        expected = [t + shift for t in [student.cls_id] + ref[:62] + [student.sep_id]]
        ids, is_student = _unpad(out, i)
        assert ids == expected
        assert all(is_student)


def test_each_word_has_one_tokenizers_pieces_and_share_matches_p_sv(teacher, student, lines):
    p_sv = 0.3
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=512, p_sv=p_sv, seed=3)
    out = {k: v.numpy() for k, v in layer(tf.constant(lines)).items()}
    t_ref = _fast_bert(teacher).tokenize(tf.constant(lines)).to_list()
    s_ref = _fast_bert(student).tokenize(tf.constant(lines)).to_list()
    joint = teacher.tokens + student.tokens
    n_words = n_student = 0
    for i in range(len(lines)):
        ids, is_student = _unpad(out, i)
        ids, is_student = ids[1:-1], is_student[1:-1]
        assert all((t >= teacher.size) == s for t, s in zip(ids, is_student))
        mixed = _words(ids, joint)
        t_words, s_words = _words(t_ref[i], teacher.tokens), _words(s_ref[i], student.tokens)
        assert len(mixed) == len(t_words) == len(s_words)
        for word, t_word, s_word in zip(mixed, t_words, s_words):
            if word[0] >= teacher.size:
                assert word == [x + teacher.size for x in s_word]
                n_student += 1
            else:
                assert word == t_word
            n_words += 1
    share = n_student / n_words
    assert n_words > 5000
    assert abs(share - p_sv) < 4 * math.sqrt(p_sv * (1 - p_sv) / n_words), share


def test_special_tokens_drawn_per_sequence(teacher, student, lines):
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=32, p_sv=0.5, seed=4)
    out = layer((tf.constant(lines), tf.constant(lines[::-1])))
    ids = out["token_ids"].numpy()
    student_cls = ids[:, 0] == teacher.size + student.cls_id
    assert set(np.unique(ids[:, 0])) == {teacher.cls_id, teacher.size + student.cls_id}
    # Both [SEP]s of a pair follow the [CLS]'s vocabulary.
    sep = np.where(student_cls, teacher.size + student.sep_id, teacher.sep_id)
    for i in range(len(lines)):
        n = int(out["padding_mask"][i].numpy().sum())
        assert ids[i, n - 1] == sep[i]
        assert (ids[i, :n] == sep[i]).sum() == 2
    n = len(lines)
    assert abs(student_cls.mean() - 0.5) < 4 * math.sqrt(0.25 / n)


def test_seeded_runs_reproduce(teacher, student, lines):
    make = lambda seed: MixedVocabPreprocessor(  # noqa: E731
        teacher, student, sequence_length=32, p_sv=0.5, masking_rate=0.15, seed=seed)
    a, b, c = make(7)(tf.constant(lines)), make(7)(tf.constant(lines)), make(8)(tf.constant(lines))
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    assert not np.array_equal(a["token_ids"].numpy(), c["token_ids"].numpy())


def test_masking_rate_split_and_labels(teacher, student, lines):
    kwargs = dict(sequence_length=128, p_sv=0.5, seed=11)
    plain = MixedVocabPreprocessor(teacher, student, **kwargs)(tf.constant(lines * 3))
    layer = MixedVocabPreprocessor(teacher, student, masking_rate=0.15, max_predictions=32, **kwargs)
    out = {k: v.numpy() for k, v in layer(tf.constant(lines * 3)).items()}
    original = plain["token_ids"].numpy()
    # Same seed, same draws before masking: the unmasked input is `original`.
    np.testing.assert_array_equal(out["student_token_mask"], plain["student_token_mask"].numpy())
    weights = out["mask_weights"] > 0
    pos = out["mask_positions"]
    rows = np.repeat(np.arange(len(pos))[:, None], pos.shape[1], axis=1)
    assert (weights[:, :-1] >= weights[:, 1:]).all()  # predictions first, padding slots last
    assert (np.diff(np.where(weights, pos, 10**6), axis=1)[weights[:, 1:]] > 0).all()
    # Labels point at real tokens, never at [CLS], [SEP] or padding.
    np.testing.assert_array_equal(out["mask_ids"][weights], original[rows[weights], pos[weights]])
    lengths = out["padding_mask"].sum(axis=1)
    assert (pos[weights] >= 1).all() and (pos[weights] < lengths[rows[weights]] - 1).all()
    specials = {teacher.cls_id, teacher.sep_id, teacher.size + student.cls_id, teacher.size + student.sep_id}
    assert not set(out["mask_ids"][weights].tolist()) & specials
    # Outside the masked positions nothing changed.
    changed = out["token_ids"] != original
    selected = np.zeros_like(changed)
    selected[rows[weights], pos[weights]] = True
    assert not (changed & ~selected).any()
    # Rate: 15% of the real tokens (per-row rounding, so loose by 0.5/row).
    candidates = lengths - 2
    assert abs(weights.sum() / candidates.sum() - 0.15) < 0.01
    # 80/10/10 within binomial bounds, replacements in the token's own vocabulary.
    n = weights.sum()
    new = out["token_ids"][rows[weights], pos[weights]]
    old = out["mask_ids"][weights]
    is_student = out["student_token_mask"][rows[weights], pos[weights]]
    mask_value = np.where(is_student, teacher.size + student.mask_id, teacher.mask_id)
    share_mask = (new == mask_value).mean()
    share_keep = (new == old).mean()
    sigma = lambda p: 4 * math.sqrt(p * (1 - p) / n)  # noqa: E731
    assert abs(share_mask - 0.8) < sigma(0.8)
    assert abs(share_keep - 0.1) < sigma(0.1) + 0.01  # + a random draw equal to the original
    assert ((new >= teacher.size) == is_student).all()


def test_whole_word_masking_masks_whole_words(teacher, student, lines):
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=128, p_sv=0.5, seed=5,
                                   masking_rate=0.15, max_predictions=40, whole_word_masking=True)
    plain = MixedVocabPreprocessor(teacher, student, sequence_length=128, p_sv=0.5, seed=5)
    out = {k: v.numpy() for k, v in layer(tf.constant(lines)).items()}
    original = plain(tf.constant(lines))["token_ids"].numpy()
    joint = teacher.tokens + student.tokens
    n_multi = 0
    for i in range(len(lines)):
        selected = set(out["mask_positions"][i][out["mask_weights"][i] > 0].tolist())
        n = int(out["padding_mask"][i].sum())
        start = 1
        for j in range(2, n):  # word boundaries in the unmasked row
            token = joint[original[i, j]] if j < n - 1 else "[SEP]"
            if not (token.startswith("##") and len(token) > 2):
                word = set(range(start, j))
                assert word <= selected or not (word & selected)
                n_multi += len(word) > 1 and word <= selected
                start = j
    assert n_multi > 10


@pytest.mark.parametrize("pair", [False, True])
def test_bad_input_gives_well_formed_outputs(teacher, student, pair):
    text = ["", "   \t\n ", "x" * 100_000, "word " * 50_000, b"\xff\xfe\xc3 broken \x80",
            "\x00\x01\x1b[31m ctrl \x7f", "😀🚀 emoji 👍🏽", "日本語のテキスト 中文", "ok"]
    batch = tf.constant(text)
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=16, p_sv=0.5, seed=0,
                                   masking_rate=0.15, max_predictions=3)
    out = layer((batch, batch) if pair else batch)
    ids, mask = out["token_ids"].numpy(), out["padding_mask"].numpy()
    assert ids.shape == (len(text), 16) and out["mask_positions"].shape == (len(text), 3)
    lengths = mask.sum(axis=1)
    assert (lengths >= (3 if pair else 2)).all()
    assert mask[3].all()  # long input truncated in place to the full length
    cls = {teacher.cls_id, teacher.size + student.cls_id}
    sep = {teacher.sep_id, teacher.size + student.sep_id}
    assert all(ids[i, 0] in cls and ids[i, lengths[i] - 1] in sep for i in range(len(text)))
    assert ((ids >= 0) & (ids < teacher.size + student.size)).all()
    assert (ids[~mask] == 0).all()


def test_tf_data_map_and_p_sv_ramp(teacher, student, lines):
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=32, p_sv=0.0, seed=6)
    ds = tf.data.Dataset.from_tensor_slices(lines).batch(64).map(layer)
    first = next(iter(ds))
    assert not first["student_token_mask"].numpy().any()
    layer.p_sv.assign(1.0)  # as a ramp callback would, after the map was traced
    second = next(iter(ds))
    assert second["student_token_mask"].numpy()[second["padding_mask"].numpy()].all()
    assert second["token_ids"].shape == (64, 32)


def test_config_round_trip_and_errors(teacher, student, tmp_path):
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=24, p_sv=0.25, seed=3,
                                   masking_rate=0.2, max_predictions=5, whole_word_masking=True)
    clone = MixedVocabPreprocessor.from_config(layer.get_config())
    text = tf.constant(["find a movie schedule", "play some jazz"])
    cloned = clone(text)
    for key, value in layer(text).items():
        np.testing.assert_array_equal(value.numpy(), cloned[key].numpy())
    single = SingleVocabPreprocessor(student, sequence_length=8)
    path = tmp_path / "vocab.txt"
    student.save(path)
    reloaded = keras.layers.deserialize(keras.layers.serialize(single))
    from_path = SingleVocabPreprocessor(str(path), sequence_length=8)
    np.testing.assert_array_equal(reloaded(text)["token_ids"].numpy(), from_path(text)["token_ids"].numpy())

    with pytest.raises(TypeError, match="tf.string"):
        single(tf.constant([1, 2]))
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        SingleVocabPreprocessor(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="sequence_length"):
        SingleVocabPreprocessor(student, sequence_length=2)
    with pytest.raises(ValueError, match="normalization"):
        SingleVocabPreprocessor(student, normalization="nfkc")
    with pytest.raises(ValueError, match="p_sv"):
        MixedVocabPreprocessor(teacher, student, p_sv=1.5)


def test_scalar_and_graph_inputs(teacher):
    layer = SingleVocabPreprocessor(teacher, sequence_length=8)
    scalar = layer(tf.constant("Hello world"))
    assert scalar["token_ids"].shape == (8,)
    graph = tf.function(lambda x: layer(x)["token_ids"])(tf.constant(["Hello world"]))
    np.testing.assert_array_equal(graph.numpy()[0], scalar["token_ids"].numpy())


def test_mediapipe_normalization_keeps_accents(teacher):
    text = tf.constant(["Café, HELLO!"])
    mp = SingleVocabPreprocessor(teacher, sequence_length=12, normalization="mediapipe")
    bert = SingleVocabPreprocessor(teacher, sequence_length=12)
    mp_ids = mp(text)["token_ids"].numpy()[0]
    bert_ids = bert(text)["token_ids"].numpy()[0]
    assert teacher.token_to_id("cafe") in bert_ids and teacher.token_to_id("cafe") not in mp_ids
    assert teacher.token_to_id("hello") in mp_ids and teacher.token_to_id("!") in mp_ids


@pytest.mark.parametrize("p_sv", [0.0, 1.0])
def test_mediapipe_mixing_matches_each_tokenizer(teacher, student, lines, p_sv):
    # Student words are looked up (one teacher piece) or cut out of the
    # regex-split words: both must give the student tokenizer's pieces.
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=48, p_sv=p_sv, seed=1,
                                   offset_student_ids=False, normalization="mediapipe")
    vocab = student if p_sv else teacher
    single = SingleVocabPreprocessor(vocab, sequence_length=48, normalization="mediapipe")
    text = tf.constant(lines + ["Café, HELLO! naïve 😀 日本"])
    out, ref = layer(text), single(text)
    np.testing.assert_array_equal(out["token_ids"].numpy(), ref["token_ids"].numpy())
    np.testing.assert_array_equal(out["student_token_mask"].numpy(),
                                  ref["padding_mask"].numpy() & bool(p_sv))


def test_capped_masking_favours_no_position(teacher, student, lines):
    # Long rows select ~19 pieces for 5 slots: the kept window must start at a
    # random selected piece, not at the row's start.
    text = " ".join(lines)
    rows = 1000
    layer = MixedVocabPreprocessor(teacher, student, sequence_length=128, p_sv=0.5, seed=3,
                                   masking_rate=0.15, max_predictions=5)
    out = layer(tf.constant([text] * rows))
    weights = out["mask_weights"].numpy() > 0
    positions = out["mask_positions"].numpy()
    assert weights.all()  # every row is over budget
    assert (np.diff(positions, axis=1) > 0).all()  # increasing
    # Columns 1..126 are candidates. A row's 5 positions are correlated (one
    # window), rows are independent: bound with the spread of row statistics.
    quarters = np.stack([(positions >= lo) & (positions < hi) for lo, hi in
                         [(1, 32), (32, 64), (64, 96), (96, 127)]], -1).mean(1)  # [rows, 4]
    expected = np.array([31, 32, 32, 31]) / 126
    bound = 4 * quarters.std(0) / math.sqrt(rows)
    assert (abs(quarters.mean(0) - expected) < bound).all(), (quarters.mean(0), bound)
    row_mean = positions.mean(1)
    assert abs(row_mean.mean() - 63.5) < 4 * row_mean.std() / math.sqrt(rows)


def test_pair_masking_labels_and_positions(teacher, student, lines):
    kwargs = dict(sequence_length=48, p_sv=0.5, seed=21)
    a, b = tf.constant(lines[:200]), tf.constant(lines[200:400])
    original = MixedVocabPreprocessor(teacher, student, **kwargs)((a, b))["token_ids"].numpy()
    out = MixedVocabPreprocessor(teacher, student, masking_rate=0.15, max_predictions=6,
                                 **kwargs)((a, b))
    out = {k: v.numpy() for k, v in out.items()}
    weights = out["mask_weights"] > 0
    rows = np.repeat(np.arange(len(original))[:, None], weights.shape[1], axis=1)
    pos = out["mask_positions"]
    np.testing.assert_array_equal(out["mask_ids"][weights], original[rows[weights], pos[weights]])
    specials = {teacher.cls_id, teacher.sep_id, teacher.size + student.cls_id,
                teacher.size + student.sep_id}
    assert not set(original[rows[weights], pos[weights]].tolist()) & specials
    assert out["padding_mask"][rows[weights], pos[weights]].all()
    # Both segments get predictions, slots are filled in increasing column order.
    assert (out["segment_ids"][rows[weights], pos[weights]] == 1).mean() > 0.3
    assert (weights[:, :-1] >= weights[:, 1:]).all()  # padding slots last
    filled = np.where(weights, pos, 10**6)
    assert (np.diff(filled, axis=1)[weights[:, 1:]] > 0).all()
    changed = out["token_ids"] != original
    selected = np.zeros_like(changed)
    selected[rows[weights], pos[weights]] = True
    assert not (changed & ~selected).any()
