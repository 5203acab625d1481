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

**Randomness.** Word choices, special tokens and masking draw from
independent streams of one Philox `tf.random.Generator` whose key is a hash of
`seed` (`random_streams.py`; TF's `from_seed(s + 1)` would repeat seed s's
draws shifted by four): the same seed on the same batches gives the same
outputs, and masking on or off mixes the words alike. In a parallel `tf.data`
map pass each batch's position, `layer(texts, draw_index=i)` (what
`text_line_dataset` does): the draws then depend on the seed and `i` alone,
not on the order in which the map's threads run. `p_sv` is a non-trainable
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
import numpy as np
import tensorflow as tf

from mixvocab_tf.preprocessing import masking as masking_lib
from mixvocab_tf.preprocessing.graph_ops import search
from mixvocab_tf.preprocessing.graph_ops import take
from mixvocab_tf.preprocessing.graph_ops import true_indices
from mixvocab_tf.preprocessing.normalization import TextNormalizer
from mixvocab_tf.preprocessing.normalization import WordPieceSegmenter
from mixvocab_tf.preprocessing.normalization import check_normalization
from mixvocab_tf.preprocessing.random_streams import UniformStreams
from mixvocab_tf.preprocessing.random_streams import seeded_generator
from mixvocab_tf.vocab.vocabulary import as_vocabulary


# Independent random streams a call (see `random_streams.py`): the masking
# draws do not shift the word choices, so masking on or off mixes alike.
_WORDS_STREAM, _SPECIALS_STREAM, _MASKING_STREAM = 0, 1, 2  # masking: 2 and 3
_NUM_STREAMS = 4
# Student pieces a table row holds (see `_build_student_table`).
_TABLE_WIDTH = 4


def _scatter_add(indices, values, size):
    """int32 [size]: `values` summed at `indices` (others 0).

    `Bincount` with weights: a plain loop, several times faster per update
    than `tensor_scatter_nd_update` / `scatter_nd` on CPU.
    """
    return tf.raw_ops.Bincount(arr=indices, size=size, weights=values)


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
            # The student only ever segments single words (cut words, table
            # entries): no pretokenization pass.
            self._student = WordPieceSegmenter(
                self.student_vocabulary.tokens, self.lower_case, normalization, words_only=True
            )
            self._student_offset = self.teacher_vocabulary.size if self.offset_student_ids else 0
            self.p_sv = tf.Variable(float(p_sv), trainable=False, dtype=tf.float32, name="p_sv")
        self._needs_random = self._student is not None or self.masking_rate is not None
        if self._needs_random:
            self._generator = (
                seeded_generator(int(seed))
                if seed is not None
                else tf.random.Generator.from_non_deterministic_state()
            )
        if self._student is not None:
            self._build_student_table()
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
        """Single vocabulary: tf.string [N] -> (flat fields, row_splits).

        Fields: `ids` int32 [T] flat pieces and, if `need_words`, `word` int32
        [T] numbering the words of the batch 0..W-1 in order; `row_splits`
        [N + 1]. Flat tensors, not `tf.RaggedTensor`s: a ragged op is many
        graph ops, and in a `tf.data` map the per-op cost dominates. Only ops
        with TFLite kernels (the text-in export uses this path).
        """
        normalized = self._normalizer.normalize(text)
        t_ids, t_splits = self._teacher.pieces(normalized)
        fields = {"ids": t_ids}
        if need_words:
            fields["word"] = tf.cumsum(tf.cast(self._teacher.word_starts(t_ids), tf.int32)) - 1
        return fields, tf.cast(t_splits, tf.int32)

    def _build_student_table(self):
        """The student's pieces of every teacher token, as a dense table.

        A word the teacher segments as one piece t (not [UNK]) is the string of
        t, so its student pieces are those of t: looked up, not tokenised.
        Rows hold up to `_TABLE_WIDTH` pieces (99.6% of WordNet's word
        occurrences); longer ones are tokenised like other student words.
        """
        tokens = self.teacher_vocabulary.tokens
        with tf.init_scope():
            pieces = self._student.tokenize_words(tf.constant(tokens))
            values = pieces.flat_values.numpy()
            splits = pieces.row_splits.numpy()
        length = splits[1:] - splits[:-1]
        usable = np.array(self._teacher.word_start_list) & (length <= _TABLE_WIDTH)
        usable[self.teacher_vocabulary.unk_id] = False
        table = np.zeros([len(tokens), _TABLE_WIDTH], np.int32)
        for i in np.flatnonzero(usable):
            table[i, : length[i]] = values[splits[i] : splits[i + 1]]
        # Per teacher token: -1 for a "##" continuation, else its number of
        # student pieces if in the table, 0 if not. One lookup a piece gives
        # word starts and table use; int8 keeps the 30K entries in cache.
        info = np.where(self._teacher.word_start_list, np.where(usable, length, 0), -1)
        self._teacher_info = tf.constant(info.astype(np.int8), tf.int8)
        self._table = tf.constant(table + self._student_offset, tf.int32)

    def _mixed_body(self, text, need_words, streams, p_sv):
        """tf.string [N] -> the mixed pieces of each row, flat.

        Returns (fields, row_splits): `ids` int32 [T], `is_student` int32 [T]
        (1 for a student piece; only without `offset_student_ids`) and, if
        `need_words`, `word` int32 [T] (a batch-unique word number);
        `row_splits` int32 [N + 1]. A row with more than L - 2 words may lack
        the pieces of its words past the (L - 2)-th: truncation drops them
        anyway.

        The text is tokenised once, with the teacher vocabulary. A word drawn
        for the student that the teacher keeps whole gets its student pieces
        from a table; only the other student words (several teacher pieces or
        [UNK]) are cut out and tokenised with the student vocabulary, at most
        the first L - 2 words of a row (the rest are cut off anyway). Each
        word is then a range of one source array (teacher pieces, student
        pieces, table pieces) and one `RaggedRange` + gather emits the mix.
        In a `tf.data` map an op's cost grows with its size: few ops touch
        all T pieces or W words.
        """
        width = self.sequence_length - 2
        normalized = self._normalizer.normalize(text)
        t_ids, t_splits, word_text = self._teacher.pieces_with_words(normalized)
        t_splits = tf.cast(t_splits, tf.int32)
        n_pieces = t_splits[-1]
        info = take(self._teacher_info, t_ids)  # [T]
        t_first = true_indices(info >= 0)  # [W] first piece of each word
        n_words = tf.size(t_first)
        # Words before each row: [N + 1].
        word_splits = search(t_first, t_splits, "left")
        t_next = tf.concat([t_first[1:], [n_pieces]], 0)  # end of each word's teacher pieces
        use_student = streams.uniform(_WORDS_STREAM, [n_words]) < p_sv
        # A one-piece word with student pieces in the table.
        table_length = take(info, t_first)
        in_table = use_student & (t_next - t_first == 1) & (table_length > 0)
        # The other student words are cut out of the text, but only among the
        # first L - 2 words of a row (the rest are never seen: they keep the
        # teacher's pieces), so a 100K-character row costs little.
        cut_index = true_indices(use_student != in_table)  # in_table implies use_student
        cut_row = search(word_splits[1:], cut_index, "right")
        keep = true_indices(cut_index - take(word_splits, cut_row) < width)
        cut_index, cut_row = take(cut_index, keep), take(cut_row, keep)
        cut_first = take(t_first, cut_index)
        cut_text = word_text(cut_row, cut_first, take(t_next, cut_index) - 1, cut_index)
        s_pieces = self._student.tokenize_words(cut_text)
        s_splits = tf.cast(s_pieces.row_splits, tf.int32)
        # The table words' pieces, gathered (not the whole table: copying it
        # a call costs more).
        table_index = true_indices(in_table)
        table_pieces = take(self._table, take(t_ids, take(t_first, table_index)))
        n_cut_pieces = s_splits[-1]
        source = tf.concat([t_ids, s_pieces.flat_values + self._student_offset,
                            tf.reshape(table_pieces, [-1])], 0)
        # Each word's range of `source`: its teacher pieces, unless a student
        # word: the k-th cut word's are s_splits[k:k+2], the k-th table
        # word's start at row k of the table part.
        table_begin = tf.range(tf.size(table_index)) * _TABLE_WIDTH + (n_pieces + n_cut_pieces)
        student_words = tf.concat([cut_index, table_index], 0)
        new_begin = tf.concat([s_splits[:-1] + n_pieces, table_begin], 0)
        new_end = tf.concat(
            [s_splits[1:] + n_pieces, table_begin + tf.cast(take(table_length, table_index), tf.int32)],
            0)
        begin = t_first + _scatter_add(student_words, new_begin - take(t_first, student_words), n_words)
        end = t_next + _scatter_add(student_words, new_end - take(t_next, student_words), n_words)
        word_piece_splits, index = tf.raw_ops.RaggedRange(
            starts=begin, limits=end, deltas=1, Tsplits=tf.int32)
        fields = {"ids": take(source, index)}
        if need_words or not self.offset_student_ids:
            # The word of each mixed piece: count word starts, then cumsum (a
            # binary search a piece costs several times more).
            starts = tf.raw_ops.Bincount(
                arr=word_piece_splits[:-1], size=tf.size(index) + 1, weights=tf.constant([], tf.int32))
            word = tf.cumsum(starts[:-1]) - 1
            if not self.offset_student_ids:
                # In the joint space `id >= V_t` already says it (no field to carry).
                is_student = _scatter_add(student_words, tf.ones_like(student_words), n_words)
                fields["is_student"] = take(is_student, word)
            if need_words:
                fields["word"] = word
        return fields, take(word_piece_splits, word_splits)

    def _pack_flat(self, fields, row_splits, counts, first_special, last_special):
        """Flat pieces -> flat packed rows `[CLS] a [SEP]` / `[CLS] a [SEP] b [SEP]`.

        Args:
          fields: dict of flat int32 [T] fields of N = B or 2B rows.
          row_splits: int32 [N + 1].
          counts: [count_a] or [count_a, count_b], int32 [B] pieces kept of
            each segment (truncation).
          first_special, last_special: per field, the value at the first
            column and at each [SEP]: a Python int / bool or a [B] tensor.

        Returns:
          (dict of flat int32 [T'] packed fields, int32 [B + 1] row splits of
          the B sequences, bool [T'] whether each value is a special token).

        One `RaggedRange` builds every packed row's gather index into the
        pieces followed by the B first and B last specials, and `_to_dense`
        pads once: in a `tf.data` map an op over [B, L] costs several over
        the pieces, so no [B, L] op places or shifts columns.
        """
        batch = tf.size(counts[0])
        n_pieces = row_splits[-1]
        first = n_pieces + tf.range(batch)  # where the first specials go
        last = first + batch
        ones = tf.ones_like(counts[0])
        # Each sequence: first, a, sep (, b, sep) as ranges of the values.
        starts, sizes = [first, row_splits[:batch], last], [ones, counts[0], ones]
        if len(counts) == 2:
            starts += [row_splits[batch:-1], last]
            sizes += [counts[1], ones]
        starts = tf.reshape(tf.stack(starts, 1), [-1])
        splits, index = tf.raw_ops.RaggedRange(
            starts=starts, limits=starts + tf.reshape(tf.stack(sizes, 1), [-1]), deltas=1,
            Tsplits=tf.int32)
        packed = {}
        for name, values in fields.items():
            specials = [
                tf.cast(tf.broadcast_to(x, [batch]), tf.int32)
                for x in (first_special[name], last_special[name])
            ]
            packed[name] = take(tf.concat([values] + specials, 0), index)
        return packed, splits[:: len(sizes)], index >= n_pieces

    def _to_dense(self, flat, splits):
        """Flat packed fields -> dense int32 [B, L], padded with 0."""
        return {
            name: tf.raw_ops.RaggedTensorToTensor(
                shape=[-1, self.sequence_length], values=values, default_value=0,
                row_partition_tensors=[splits], row_partition_types=["ROW_SPLITS"])
            for name, values in flat.items()
        }

    def _pack_dense(self, fields, row_splits, counts, first_special, last_special):
        """Dense packing with ops TFLite has kernels for: pad the pieces, then place.

        Same arguments as `_pack_flat`; returns `_to_dense`'s dict of int32
        [B, L] fields.
        """
        length = self.sequence_length
        batch = tf.shape(counts[0])[0]
        columns = tf.range(length, dtype=tf.int32)[None, :]
        sep_a = counts[0][:, None] + 1
        is_sep = columns == sep_a
        if len(counts) == 2:
            start_b = sep_a + 1
            sep_b = start_b + counts[1][:, None]
            in_b = (columns >= start_b) & (columns < sep_b)
            # Column c of the output reads column c - start_b of b's pieces.
            from_b = tf.clip_by_value(columns - start_b, 0, length - 3)
            is_sep |= columns == sep_b
        packed = {}
        for name, values in fields.items():
            body = tf.RaggedTensor.from_row_splits(values, row_splits, validate=False).to_tensor(
                default_value=0, shape=[None, length - 2])
            first, sep = first_special[name], last_special[name]
            first = tf.fill([batch, 1], first) if isinstance(first, int) else tf.cast(first, tf.int32)[:, None]
            sep = sep if isinstance(sep, int) else tf.cast(sep, tf.int32)[:, None]
            row = tf.concat([first, body[:batch], tf.zeros([batch, 1], tf.int32)], 1)
            if len(counts) == 2:
                row = tf.where(columns <= counts[0][:, None], row, 0)
                row = tf.where(in_b, tf.gather(body[batch:], from_b, batch_dims=1), row)
            packed[name] = tf.where(is_sep, sep, row)
        return packed

    def _masking_args(self, streams):
        """The arguments both masking functions share."""
        return dict(uniform=lambda k, shape: streams.uniform(_MASKING_STREAM + k, shape),
                    teacher=self._teacher_ids, student=self._student_ids,
                    masking_rate=self.masking_rate,
                    max_predictions=self.max_predictions, mask_token_rate=self.mask_token_rate,
                    random_token_rate=self.random_token_rate)

    def _is_student(self, fields):
        """Which flat pieces are student pieces, in `mask_pieces`' form."""
        if self._student is None:
            return None
        if self.offset_student_ids:
            return self.teacher_vocabulary.size  # ids >= V_t
        return fields["is_student"] > 0

    def _specials(self, batch, streams, p_sv):
        """Per-sequence [CLS] and [SEP] ids and whether they are student tokens."""
        t = self.teacher_vocabulary
        if self._student is None:
            # Python constants: the packing fills them in.
            return t.cls_id, t.sep_id, False
        s = self.student_vocabulary
        is_student = streams.uniform(_SPECIALS_STREAM, [batch]) < p_sv
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

    def call(self, inputs, draw_index=None):
        """Segments, packs (and masks) a batch of strings or a pair of batches.

        `draw_index`: `None` draws from the layer's generator in call order; an integer
        scalar (a batch's position in a dataset) makes the draws a function of the seed
        and the index alone.
        """
        if isinstance(inputs, dict):
            raise ValueError("Pass a batch of strings or a tuple (segment_a, segment_b), not a dict.")
        segments = list(inputs) if isinstance(inputs, (tuple, list)) and not _is_string_list(inputs) else [inputs]
        if len(segments) not in (1, 2):
            raise ValueError(f"Expected one or two text segments, got {len(segments)}.")
        segments = [self._to_strings(x, f"segment {i}") for i, x in enumerate(segments)]
        scalar = segments[0].shape.rank == 0
        if scalar:
            segments = [tf.reshape(x, [1]) for x in segments]
        outputs = self._call_batch(segments, draw_index)
        if scalar:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def _call_batch(self, segments, draw_index=None):
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
        streams = (UniformStreams(self._generator, _NUM_STREAMS, index=draw_index)
                   if self._needs_random else None)
        p_sv = None if self._student is None else self.p_sv.value()  # read once a call
        if self._student is None:
            fields, row_splits = self._segment(text, need_words)
        else:
            fields, row_splits = self._mixed_body(text, need_words, streams, p_sv)
        cls, sep, special_student = self._specials(batch, streams, p_sv)
        counts = row_splits[1:] - row_splits[:-1]
        if pair:
            # Round-robin truncation (keras-hub's MultiSegmentPacker): a gets
            # ceil(n / 2) or what b leaves, b the rest.
            budget = length - 3
            count_a, count_b = counts[:batch], counts[batch:]
            count_a = tf.minimum(count_a, tf.maximum((budget + 1) // 2, budget - count_b))
            count_b = tf.minimum(count_b, budget - count_a)
        else:
            count_a = tf.minimum(counts, length - 2)
        first_special = {"ids": cls, "is_student": special_student, "word": -1}
        last_special = {"ids": sep, "is_student": special_student, "word": -1}
        counts = [count_a, count_b] if pair else [count_a]
        mask_outputs = {}
        if self._student is None and self.masking_rate is None:
            # The export path: TFLite has no RaggedRange kernel, so this one
            # packs with dense ops.
            packed = self._pack_dense(fields, row_splits, counts, first_special, last_special)
        else:
            flat, splits, is_special = self._pack_flat(
                fields, row_splits, counts, first_special, last_special)
            if self.masking_rate is not None and not self.whole_word_masking:
                # Token masking on the flat packed rows, before padding.
                flat["ids"], mask_outputs = masking_lib.mask_pieces(
                    flat["ids"], splits, is_special=is_special,
                    is_student=self._is_student(flat), **self._masking_args(streams))
            packed = self._to_dense(flat, splits)
        columns = tf.range(length, dtype=tf.int32)[None, :]
        sep_a = count_a[:, None] + 1
        token_ids = packed["ids"]
        padding_mask = columns <= (sep_a + count_b[:, None] + 1 if pair else sep_a)
        outputs = {
            "token_ids": token_ids,
            "segment_ids": (
                tf.cast(padding_mask & (columns > sep_a), tf.int32) if pair else tf.zeros_like(token_ids)
            ),
            "padding_mask": padding_mask,
        }
        student_mask = None
        if self._student is not None:
            if self.offset_student_ids:
                # Masking replaces a piece within its own vocabulary: still exact.
                student_mask = token_ids >= self.teacher_vocabulary.size
            else:
                student_mask = packed["is_student"] > 0
            outputs["student_token_mask"] = student_mask
        if self.masking_rate is not None and self.whole_word_masking:
            candidates = (columns >= 1) & (columns < sep_a)
            if pair:
                start_b = sep_a + 1
                candidates |= (columns >= start_b) & (columns < start_b + count_b[:, None])
            outputs["token_ids"], mask_outputs = masking_lib.mask_whole_words(
                token_ids,
                candidates=candidates,
                word_ids=packed["word"],
                is_student=student_mask,
                **self._masking_args(streams),
            )
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
