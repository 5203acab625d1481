"""`MixedVocabPreprocessor`: text -> ids mixing the teacher's and the student's WordPieces.

Stage I of mixed-vocabulary training (see `docs/METHOD.md`). The text is
normalised like the teacher (lower case, NFD, accents stripped for an uncased
teacher), split into words once, and each word, independently with
probability `p_sv`, is segmented with the student vocabulary, else with the
teacher's.

**Joint id space.** Teacher ids are `[0, V_t)`, student ids `V_t + [0, V_s)`
(`V_t`, `V_s` the vocabulary sizes), so one int32 tensor carries both and
`id >= V_t` means "student token". With `offset_student_ids=False` student
ids stay in `[0, V_s)` (only sensible with `p_sv=1`, e.g. Stage II input);
`student_token_mask` always tells which vocabulary a token came from.

**Special tokens.** `[CLS]` and every `[SEP]` of a sequence come from one
vocabulary, drawn per sequence: the student's with probability `p_sv`. So
`p_sv=0` gives exactly the teacher tokenizer's ids (tensorflow-text
`FastBertTokenizer`) and `p_sv=1` exactly the student's (offset by `V_t` or
not). Padding is id 0 (`[PAD]` in both vocabularies) with `padding_mask`
False; padding is never a student token.

**Truncation.** Pieces beyond `sequence_length` are dropped (round robin
between the two segments of a pair, like keras-hub's `MultiSegmentPacker`).

**Randomness.** Word choices and masking draw from a `tf.random.Generator`
seeded by `seed`: the same seed on the same batches gives the same outputs
(in a `tf.data` map keep the map deterministic). `p_sv` is a non-trainable
`tf.Variable` (`layer.p_sv.assign(0.8)`), read at every call, also inside an
already traced `tf.data` pipeline, so a callback can ramp it.

Outputs (keras-hub names): `token_ids` int32 [B, L], `segment_ids` int32
[B, L], `padding_mask` bool [B, L], `student_token_mask` bool [B, L]; with
`masking_rate` set also `mask_positions` int32 [B, P], `mask_ids` int32
[B, P] (original joint ids = labels) and `mask_weights` float32 [B, P]
(P = `max_predictions`); `token_ids` then holds the masked input.

Example:

>>> layer = MixedVocabPreprocessor("teacher/vocab.txt", "student/vocab.txt",
...                                sequence_length=64, p_sv=0.5, seed=1)
>>> out = layer(tf.constant(["The quick brown fox."]))
>>> out["token_ids"].shape
TensorShape([1, 64])
>>> ds = ds.map(layer)  # or with pairs: ds.map(lambda a, b: layer((a, b)))
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from mixvocab_tf.preprocessing import masking as masking_lib
from mixvocab_tf.preprocessing.normalization import TextNormalizer
from mixvocab_tf.preprocessing.normalization import WordPieceSegmenter
from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.vocab.vocabulary import as_vocabulary


def _check_rate(name, value, allow_none=False):
    if value is None and allow_none:
        return
    try:
        ok = 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class MixedVocabPreprocessor(keras.layers.Layer):
    """Tokenises text with a per-word mix of two WordPiece vocabularies.

    Args:
      teacher_vocabulary: a list of tokens, a vocab.txt path or a
        `mixvocab_tf.vocab.Vocabulary`.
      student_vocabulary: the same for the student vocabulary.
      lower_case: lower-case (and strip accents with "bert" normalisation).
      sequence_length: L, the padded length, `[CLS]`/`[SEP]` included.
      p_sv: probability that a word (and a sequence's special tokens) is
        segmented with the student vocabulary.
      offset_student_ids: add `V_t` to student ids (the joint id space).
      masking_rate: None for no masking, else the share of tokens to mask.
      max_predictions: P, the most masked tokens a sequence.
      whole_word_masking: mask all pieces of a selected word.
      mask_token_rate: share of masked tokens replaced by `[MASK]`.
      random_token_rate: share replaced by a random token (the rest stay).
      seed: an int for reproducible draws, None for non-deterministic ones.
      normalization: "bert" or "mediapipe" (see `normalization.py`).
    """

    def __init__(
        self,
        teacher_vocabulary,
        student_vocabulary,
        lower_case=True,
        sequence_length=128,
        p_sv=0.5,
        offset_student_ids=True,
        masking_rate=None,
        max_predictions=20,
        whole_word_masking=False,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        seed=None,
        normalization="bert",
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Strings in, ints out: keep Keras from converting inputs to floats.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        check_normalization(normalization)
        if int(sequence_length) < 3:
            raise ValueError(
                f"sequence_length must be >= 3 ([CLS] and two [SEP]), got {sequence_length}."
            )
        _check_rate("masking_rate", masking_rate, allow_none=True)
        _check_rate("mask_token_rate", mask_token_rate)
        _check_rate("random_token_rate", random_token_rate)
        if mask_token_rate + random_token_rate > 1.0:
            raise ValueError("mask_token_rate + random_token_rate must be <= 1.")
        if masking_rate is not None and int(max_predictions) < 1:
            raise ValueError(f"max_predictions must be >= 1, got {max_predictions}.")

        self.teacher_vocabulary = as_vocabulary(teacher_vocabulary, lower_case)
        self.student_vocabulary = (
            None if student_vocabulary is None else as_vocabulary(student_vocabulary, lower_case)
        )
        self.lower_case = bool(lower_case)
        self.sequence_length = int(sequence_length)
        self.offset_student_ids = bool(offset_student_ids)
        self.masking_rate = None if masking_rate is None else float(masking_rate)
        self.max_predictions = int(max_predictions)
        self.whole_word_masking = bool(whole_word_masking)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.seed = seed
        self.normalization = normalization

        self._normalizer = TextNormalizer(self.lower_case, normalization)
        self._teacher = WordPieceSegmenter(self.teacher_vocabulary.tokens, self.lower_case, normalization)
        self._student = None
        self.p_sv = None
        self._student_offset = 0
        if self.student_vocabulary is not None:
            _check_rate("p_sv", p_sv)
            self._student = WordPieceSegmenter(
                self.student_vocabulary.tokens, self.lower_case, normalization
            )
            self._student_offset = self.teacher_vocabulary.size if self.offset_student_ids else 0
            self.p_sv = tf.Variable(float(p_sv), trainable=False, dtype=tf.float32, name="p_sv")
        self._needs_random = self._student is not None or self.masking_rate is not None
        if self._needs_random:
            self._generator = (
                tf.random.Generator.from_seed(int(seed))
                if seed is not None
                else tf.random.Generator.from_non_deterministic_state()
            )
        self.built = True

    # ------------------------------------------------------------------ ids
    def _segment(self, text):
        """tf.string [B] -> (ids, is_student, word_of_piece) ragged [B, (T)].

        `word_of_piece` numbers the words of the batch 0..W-1 in order.
        """
        normalized = self._normalizer.normalize(text)
        teacher_ids = self._teacher.segment_normalized(normalized)
        t_flat = teacher_ids.flat_values
        t_starts = self._teacher.word_starts(t_flat)
        t_word = tf.cumsum(tf.cast(t_starts, tf.int32)) - 1
        if self._student is None:
            return teacher_ids, tf.zeros_like(teacher_ids, dtype=tf.bool), teacher_ids.with_flat_values(t_word)

        student_ids = self._student.segment_normalized(normalized)
        s_flat = student_ids.flat_values
        s_word = tf.cumsum(tf.cast(self._student.word_starts(s_flat), tf.int32)) - 1
        # Both tokenizers split the same normalised text into the same words,
        # so word k of the batch is the same word in both segmentations.
        n_words = tf.reduce_sum(tf.cast(t_starts, tf.int32))
        words_per_row = tf.reduce_sum(
            tf.cast(teacher_ids.with_flat_values(t_starts), tf.int32), axis=1
        )
        use_student = self._generator.uniform([n_words]) < self.p_sv.value()
        # Place each kept piece at (start of its word in the output) + (its
        # index within the word), then stitch both vocabularies' pieces.
        t_first = tf.cast(tf.where(t_starts)[:, 0], tf.int32)
        s_first = tf.cast(tf.where(self._student.word_starts(s_flat))[:, 0], tf.int32)
        t_count = tf.concat([t_first[1:], tf.shape(t_flat)], 0) - t_first
        s_count = tf.concat([s_first[1:], tf.shape(s_flat)], 0) - s_first
        chosen_count = tf.where(use_student, s_count, t_count)
        out_start = tf.cumsum(chosen_count, exclusive=True)

        def placed(flat, word, first, keep_student):
            keep = tf.gather(use_student, word) if keep_student else ~tf.gather(use_student, word)
            within = tf.range(tf.shape(flat)[0]) - tf.gather(first, word)
            position = tf.gather(out_start, word) + within
            return tf.boolean_mask(position, keep), tf.boolean_mask(flat, keep), tf.boolean_mask(word, keep)

        t_pos, t_val, t_w = placed(t_flat, t_word, t_first, False)
        s_pos, s_val, s_w = placed(s_flat + self._student_offset, s_word, s_first, True)
        flat_ids = tf.dynamic_stitch([t_pos, s_pos], [t_val, s_val])
        flat_word = tf.dynamic_stitch([t_pos, s_pos], [t_w, s_w])
        flat_student = tf.dynamic_stitch(
            [t_pos, s_pos], [tf.zeros_like(t_pos, tf.bool), tf.ones_like(s_pos, tf.bool)]
        )
        row_lengths = tf.reduce_sum(
            tf.RaggedTensor.from_row_lengths(chosen_count, tf.cast(words_per_row, tf.int64)), axis=1
        )
        ids = tf.RaggedTensor.from_row_lengths(flat_ids, tf.cast(row_lengths, tf.int64))
        return ids, ids.with_flat_values(flat_student), ids.with_flat_values(flat_word)

    def _specials(self, batch):
        """Per-sequence [CLS] and [SEP] ids and whether they are student tokens."""
        t = self.teacher_vocabulary
        if self._student is None:
            is_student = tf.zeros([batch], tf.bool)
            return tf.fill([batch], t.cls_id), tf.fill([batch], t.sep_id), is_student
        s = self.student_vocabulary
        is_student = self._generator.uniform([batch]) < self.p_sv.value()
        cls = tf.where(is_student, s.cls_id + self._student_offset, t.cls_id)
        sep = tf.where(is_student, s.sep_id + self._student_offset, t.sep_id)
        return cls, sep, is_student

    # ----------------------------------------------------------------- call
    @staticmethod
    def _to_strings(x, name):
        if isinstance(x, tf.RaggedTensor):
            raise ValueError(f"{name}: expected a dense batch of strings, got a RaggedTensor.")
        x = tf.convert_to_tensor(x)
        if x.dtype != tf.string:
            raise TypeError(
                f"{name}: expected tf.string text, got {x.dtype.name}. Fix: pass raw strings "
                "(the layer tokenises them)."
            )
        if x.shape.rank == 2 and x.shape[-1] == 1:
            x = tf.squeeze(x, axis=-1)
        if x.shape.rank not in (0, 1):
            raise ValueError(f"{name}: expected a string or a batch [B] of strings, got shape {x.shape}.")
        return x

    def call(self, inputs):
        if isinstance(inputs, dict):
            raise ValueError("Pass a batch of strings or a tuple (segment_a, segment_b), not a dict.")
        segments = list(inputs) if isinstance(inputs, (tuple, list)) and not _is_string_list(inputs) else [inputs]
        if len(segments) not in (1, 2):
            raise ValueError(f"Expected one or two text segments, got {len(segments)}.")
        segments = [self._to_strings(x, f"segment {i}") for i, x in enumerate(segments)]
        scalar = segments[0].shape.rank == 0
        if scalar:
            segments = [tf.reshape(x, [1]) for x in segments]
        outputs = self._call_batch(segments)
        if scalar:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def _call_batch(self, segments):
        if len(segments) == 1 and self._student is None and self.masking_rate is None:
            return self._pack_single_dense(segments[0])
        length = self.sequence_length
        batch = tf.shape(segments[0])[0]
        pieces = [self._segment(x) for x in segments]
        ids = [p[0] for p in pieces]
        # Segment b's words get ids after segment a's (unique in the batch).
        word_offset = 0
        words = []
        for p in pieces:
            words.append(p[2] + word_offset)
            word_offset = word_offset + tf.reduce_max(tf.concat([p[2].flat_values, [-1]], 0)) + 1
        student = [p[1] for p in pieces]

        budget = length - 1 - len(segments)
        if len(segments) == 1:
            keep = [tf.ragged.map_flat_values(tf.ones_like, ids[0], dtype=tf.bool)[:, :budget]]
            ids = [ids[0][:, :budget]]
            student = [student[0][:, :budget]]
            words = [words[0][:, :budget]]
        else:
            keep = tf_text_generate_mask(budget, ids)
            ids = [tf.ragged.boolean_mask(x, m) for x, m in zip(ids, keep)]
            student = [tf.ragged.boolean_mask(x, m) for x, m in zip(student, keep)]
            words = [tf.ragged.boolean_mask(x, m) for x, m in zip(words, keep)]

        cls, sep, special_student = self._specials(batch)
        col = lambda v: tf.expand_dims(v, 1)  # noqa: E731
        parts_ids, parts_student, parts_segment, parts_word, parts_cand = [col(cls)], [col(special_student)], [], [], []
        minus_one = col(tf.fill([batch], -1))
        parts_word.append(minus_one)
        for index, (x, s, w) in enumerate(zip(ids, student, words)):
            parts_ids += [x, col(sep)]
            parts_student += [s, col(special_student)]
            parts_word += [w, minus_one]
        packed_ids = tf.concat(parts_ids, axis=1)
        packed_student = tf.concat(parts_student, axis=1)
        packed_word = tf.concat(parts_word, axis=1)
        # Segment ids: 0 for [CLS] a [SEP], 1 for b [SEP].
        first_len = tf.cast(ids[0].row_lengths(), tf.int64) + 2
        row_len = tf.cast(packed_ids.row_lengths(), tf.int64)
        positions = tf.range(length, dtype=tf.int64)[None, :]
        padding_mask = positions < row_len[:, None]
        segment_ids = tf.cast(padding_mask & (positions >= first_len[:, None]), tf.int32)

        token_ids = packed_ids.to_tensor(default_value=0, shape=[None, length])
        student_mask = packed_student.to_tensor(default_value=False, shape=[None, length])
        word_ids = packed_word.to_tensor(default_value=-1, shape=[None, length])
        outputs = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
        }
        if self._student is not None:
            outputs["student_token_mask"] = student_mask
        if self.masking_rate is not None:
            masked, mask_outputs = masking_lib.mask_tokens(
                token_ids,
                candidates=word_ids >= 0,
                word_ids=word_ids,
                is_student=student_mask,
                generator=self._generator,
                teacher=self._vocabulary_ids(self.teacher_vocabulary, 0),
                student=(
                    None
                    if self._student is None
                    else self._vocabulary_ids(self.student_vocabulary, self._student_offset)
                ),
                masking_rate=self.masking_rate,
                max_predictions=self.max_predictions,
                whole_word_masking=self.whole_word_masking,
                mask_token_rate=self.mask_token_rate,
                random_token_rate=self.random_token_rate,
            )
            outputs["token_ids"] = masked
            outputs.update(mask_outputs)
        return outputs

    def _pack_single_dense(self, text):
        """`[CLS] a [SEP]` with dense ops only: the inference (and TFLite export) path.

        The same ids as the ragged packing below, without its ragged slicing and
        concatenation, whose ops (RaggedRange, ...) have no TFLite kernels.
        """
        length = self.sequence_length
        vocabulary = self.teacher_vocabulary
        ids = self._teacher.segment(text)
        # to_tensor with a shape truncates each row to L - 2 pieces.
        body = ids.to_tensor(default_value=0, shape=[None, length - 2])
        count = tf.minimum(tf.cast(ids.row_lengths(), tf.int32), length - 2)
        batch = tf.shape(body)[0]
        packed = tf.concat(
            [tf.fill([batch, 1], vocabulary.cls_id), body, tf.zeros([batch, 1], tf.int32)], 1)
        positions = tf.range(length, dtype=tf.int32)[None, :]
        sep_position = count[:, None] + 1
        token_ids = tf.where(positions == sep_position, vocabulary.sep_id, packed)
        return {
            "token_ids": token_ids,
            "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": positions <= sep_position,
        }

    @staticmethod
    def _vocabulary_ids(vocabulary, offset):
        special = set(vocabulary.special_ids)
        return masking_lib.VocabularyIds(
            mask_id=vocabulary.mask_id + offset,
            random_ids=tuple(i + offset for i in range(vocabulary.size) if i not in special),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "teacher_vocabulary": self.teacher_vocabulary.tokens,
                "student_vocabulary": self.student_vocabulary.tokens,
                "lower_case": self.lower_case,
                "sequence_length": self.sequence_length,
                "p_sv": float(self.p_sv.numpy()),
                "offset_student_ids": self.offset_student_ids,
                "masking_rate": self.masking_rate,
                "max_predictions": self.max_predictions,
                "whole_word_masking": self.whole_word_masking,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
                "seed": self.seed,
                "normalization": self.normalization,
            }
        )
        return config


def _is_string_list(inputs):
    """A python list of str is one batch of strings, not a list of segments."""
    return isinstance(inputs, list) and all(isinstance(x, (str, bytes)) for x in inputs)


def tf_text_generate_mask(budget, segments):
    """Round-robin truncation masks of a pair to `budget` pieces in all."""
    return tf_text.RoundRobinTrimmer(max_seq_length=budget).generate_mask(segments)
