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
        # Ids masking draws from, built once (tuples of V ints).
        self._teacher_ids = self._vocabulary_ids(self.teacher_vocabulary, 0)
        self._student_ids = (
            None
            if self._student is None
            else self._vocabulary_ids(self.student_vocabulary, self._student_offset)
        )
        self.built = True

    # ------------------------------------------------------------------ ids
    def _segment(self, text, need_words):
        """tf.string [N] -> flat pieces of each row: (ids, is_student, word, row_splits).

        `ids` int32 [T] in the joint space, `is_student` bool [T] (None without
        a student vocabulary), `word` int32 [T] numbers the words of the batch
        0..W-1 in order (None unless `need_words`), `row_splits` int64 [N + 1].
        Flat tensors, not `tf.RaggedTensor`s: a ragged op is many graph ops,
        and in a `tf.data` map the per-op cost dominates.
        """
        normalized = self._normalizer.normalize(text)
        t_ids, t_splits = self._teacher.pieces(normalized)
        if self._student is None:
            word = None
            if need_words:
                word = tf.cumsum(tf.cast(self._teacher.word_starts(t_ids), tf.int32)) - 1
            return t_ids, None, word, t_splits

        s_ids, s_splits = self._student.pieces(normalized)
        t_start = self._teacher.word_starts(t_ids)
        s_start = self._student.word_starts(s_ids)
        # Both tokenizers split the same normalised text into the same words,
        # so word k of the batch is the same word in both segmentations.
        t_word = tf.cumsum(tf.cast(t_start, tf.int32)) - 1
        s_word = tf.cumsum(tf.cast(s_start, tf.int32)) - 1
        t_first = tf.where(t_start)[:, 0]  # first piece of each word
        s_first = tf.where(s_start)[:, 0]
        use_student = self._generator.uniform(tf.shape(t_first)) < self.p_sv.value()
        keep_s = tf.gather(use_student, s_word)
        keep_t = tf.gather(~use_student, t_word)

        def kept_before(keep):
            # [T + 1]: kept pieces before each piece of one stream; last = total.
            return tf.cumsum(tf.concat([tf.cast(keep, tf.int32), [0]], 0), exclusive=True)

        c_t, c_s = kept_before(keep_t), kept_before(keep_s)
        # Both streams are in word order: a kept piece's place in the merged
        # stream is the kept pieces before it in its own stream plus the other
        # stream's kept pieces of the earlier words.
        t_pos = c_t[:-1] + tf.gather(c_s, tf.gather(s_first, t_word))
        s_pos = c_s[:-1] + tf.gather(c_t, tf.gather(t_first, s_word))
        total = c_t[-1] + c_s[-1]
        # Dropped pieces all go to one extra slot, cut off below.
        # (DynamicStitch: ScatterNd is several times slower on CPU.)
        t_index = tf.where(keep_t, t_pos, total)
        s_index = tf.where(keep_s, s_pos, total)

        def merge(t_values, s_values):
            return tf.dynamic_stitch([t_index, s_index], [t_values, s_values])[:-1]

        ids = merge(t_ids, s_ids + self._student_offset)
        is_student = merge(tf.zeros_like(t_ids, tf.bool), tf.ones_like(s_ids, tf.bool))
        word = merge(t_word, s_word) if need_words else None
        row_splits = tf.gather(c_t, t_splits) + tf.gather(c_s, s_splits)
        return ids, is_student, word, tf.cast(row_splits, tf.int64)

    def _specials(self, batch):
        """Per-sequence [CLS] and [SEP] ids and whether they are student tokens."""
        t = self.teacher_vocabulary
        if self._student is None:
            # Python constants: `place` fills them in.
            return t.cls_id, t.sep_id, False
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
        """Packs `[CLS] a [SEP] (b [SEP])` with dense [B, L] ops.

        Both segments of a pair are tokenised as one batch of 2B strings. A
        single-vocabulary, unmasked call uses only ops with TFLite kernels
        (builtins + tensorflow-text's), so the layer converts without Flex.
        """
        length = self.sequence_length
        pair = len(segments) == 2
        batch = tf.shape(segments[0])[0]
        need_words = self.masking_rate is not None and self.whole_word_masking
        text = tf.concat(segments, 0) if pair else segments[0]
        ids, is_student, word, row_splits = self._segment(text, need_words)
        counts = tf.cast(row_splits[1:] - row_splits[:-1], tf.int32)
        if pair:
            # Round-robin truncation (keras-hub's MultiSegmentPacker): a gets
            # ceil(n / 2) or what b leaves, b the rest.
            budget = length - 3
            count_a, count_b = counts[:batch], counts[batch:]
            count_a = tf.minimum(count_a, tf.maximum((budget + 1) // 2, budget - count_b))
            count_b = tf.minimum(count_b, budget - count_a)
        else:
            count_a = tf.minimum(counts, length - 2)

        columns = tf.range(length, dtype=tf.int32)[None, :]
        sep_a = count_a[:, None] + 1
        if pair:
            start_b = sep_a + 1
            sep_b = start_b + count_b[:, None]
            in_b = (columns >= start_b) & (columns < sep_b)
            # Column c of the output reads column c - start_b of b's pieces.
            from_b = tf.clip_by_value(columns - start_b, 0, length - 3)
            is_sep = (columns == sep_a) | (columns == sep_b)
            last = sep_b
        else:
            is_sep = columns == sep_a
            last = sep_a

        def place(values, default, first, sep):
            # to_tensor with a shape truncates each row to L - 2 pieces.
            body = tf.RaggedTensor.from_row_splits(values, row_splits, validate=False).to_tensor(
                default_value=default, shape=[None, length - 2])
            body_a = body[:batch] if pair else body
            rows = tf.shape(body_a)[0]
            first = tf.fill([rows, 1], first) if isinstance(first, (int, bool)) else first[:, None]
            sep = sep if isinstance(sep, (int, bool)) else sep[:, None]
            packed = tf.concat([first, body_a, tf.fill([rows, 1], default)], 1)
            if pair:
                packed = tf.where(columns <= count_a[:, None], packed, default)
                packed = tf.where(in_b, tf.gather(body[batch:], from_b, batch_dims=1), packed)
            return tf.where(is_sep, sep, packed)

        cls, sep, special_student = self._specials(batch)
        token_ids = place(ids, 0, cls, sep)
        padding_mask = columns <= last
        outputs = {
            "token_ids": token_ids,
            "segment_ids": (
                tf.cast(padding_mask & (columns > sep_a), tf.int32) if pair else tf.zeros_like(token_ids)
            ),
            "padding_mask": padding_mask,
        }
        student_mask = None
        if self._student is not None:
            student_mask = place(is_student, False, special_student, special_student)
            outputs["student_token_mask"] = student_mask
        if self.masking_rate is not None:
            candidates = (columns >= 1) & (columns < sep_a)
            if pair:
                candidates |= in_b
            masked, mask_outputs = masking_lib.mask_tokens(
                token_ids,
                candidates=candidates,
                word_ids=place(word, -1, -1, -1) if need_words else None,
                is_student=student_mask,
                generator=self._generator,
                teacher=self._teacher_ids,
                student=self._student_ids,
                masking_rate=self.masking_rate,
                max_predictions=self.max_predictions,
                whole_word_masking=self.whole_word_masking,
                mask_token_rate=self.mask_token_rate,
                random_token_rate=self.random_token_rate,
            )
            outputs["token_ids"] = masked
            outputs.update(mask_outputs)
        return outputs

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
