"""Weight subcloning: a student whose weights are the teacher's most important neurons.

Samragh et al. 2023, "Weight subcloning: direct initialization of transformers using larger
pretrained ones" (arXiv 2312.09299): a narrower, shallower transformer starts from a larger
pretrained one by keeping the neurons that carry most of its activity. Here the teacher is a
post-LayerNorm BERT (keras-hub `BertBackbone`) and the student a `StudentEncoder` with its own
WordPiece vocabulary; the result is a student directory that sentence-vector Stage II
(`tools/distill_embeddings.py --student=`) and fine-tuning read like any other.

1. Statistics (`teacher_statistics`): the teacher reads a sample of text with its own
   vocabulary; over the real tokens it sums the first and second moments of every
   LayerNorm's input and output, of each attention head's context vector and of the
   feed-forward activations.
2. Selection (`select_neurons`): one set of residual-stream dimensions for every layer (all
   layers read and write the same stream), those of largest root-mean-square over every
   LayerNorm output; per layer, the heads and feed-forward units that write the most (mean
   square over the sample) into those dimensions. A student of the teacher's depth keeps
   its layers one for one; a shallower one keeps evenly spaced layers, the first and the
   last among them.
3. Weights (`subclone`): each weight matrix sliced to the kept rows and columns, then three
   corrections measured on the sample so the student's activations keep the teacher's
   scale and mean: (a) a LayerNorm over fewer dimensions divides by their standard
   deviation, not the full one: its gain is multiplied by the measured ratio of the two
   and its bias takes the shift of the mean; (b) a projection reading the stream
   (query, key, value, feed-forward input, pooler) also gets the part of its output the
   dropped dimensions gave, predicted linearly from the kept ones (least squares on the
   sample); (c) the mean output of the dropped heads and units moves into the output
   biases. At the teacher's own size nothing is dropped and the student is the teacher.
4. Embeddings: a student token's row is the teacher's row of the same token, else the
   mean of the teacher's rows of its WordPiece pieces, else the teacher's `[UNK]` row (what
   the teacher reads for a word it cannot spell), sliced to the kept dimensions.

Heads keep the teacher's width (32 for all-MiniLM-L6-v2): a 128-wide student has 4 heads,
the same parameters as 2 heads of 64, and the student records its head count in its
config. A student may not have more layers, width or feed-forward units than the teacher:
there is nothing to clone them from.

Example:
```python
teacher = load_teacher(paths.minilm_teacher_path())
texts = corpus_sentences(["wikipedia_en.txt.gz"], 2000, max_sentences=2000)
statistics = teacher_statistics(teacher, texts)
student, report = subclone(teacher, vocabulary.tokens, "6x128", statistics)
# Or all of it, written as a student directory:
subclone_student_directory(teacher_path, "vocab.txt", "6x128", ["wikipedia_en.txt.gz"],
                           "runs/subclone_6x128", sample_sentences=2000)
```
"""

import dataclasses
import os

import numpy as np
from keras import ops

from mixvocab_tf.file_io import write_directory_atomic
from mixvocab_tf.models.bert_checkpoint import variable_map
from mixvocab_tf.models.mixed_vocab_teacher import teacher_rows
from mixvocab_tf.models.student_directory import save_student_directory
from mixvocab_tf.models.student_encoder import StudentEncoder
from mixvocab_tf.models.student_encoder import StudentSize
from mixvocab_tf.models.student_encoder import student_size as parse_student_size
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.preprocessing.single_vocab_preprocessor import SingleVocabPreprocessor
from mixvocab_tf.preprocessing.single_vocab_preprocessor import encode_texts
from mixvocab_tf.stage2.sentence_embedding import corpus_sentences
from mixvocab_tf.vocab.vocabulary import Vocabulary

SELECTIONS = ("importance", "random")


@dataclasses.dataclass
class TeacherStatistics:
    """Sums over the real tokens of a text sample, float64 (`teacher_statistics`).

    LayerNorm points are numbered 0 (embeddings), then `2 i + 1` (layer i's attention
    LayerNorm) and `2 i + 2` (its feed-forward LayerNorm, the layer's output).

    Attributes:
      tokens: N, the real (non-padding) tokens summed over.
      norm_input_sum, norm_input_outer: [P, D] and [P, D, D]: sums of each LayerNorm's
        input z and of z z^T.
      norm_output_sum, norm_output_outer: the same of each LayerNorm's output.
      context_sum, context_outer: [L, heads, head_dim] and [L, heads, head_dim, head_dim]:
        each head's attention-weighted values (before the output projection).
      activation_sum, activation_square: [L, F]: the feed-forward activations and squares.
    """

    tokens: int
    norm_input_sum: np.ndarray
    norm_input_outer: np.ndarray
    norm_output_sum: np.ndarray
    norm_output_outer: np.ndarray
    context_sum: np.ndarray
    context_outer: np.ndarray
    activation_sum: np.ndarray
    activation_square: np.ndarray


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a student keeps of the teacher, each index list sorted (teacher order).

    Attributes:
      layers: the teacher layer behind each student layer.
      dims: the residual-stream dimensions kept (the student's hidden dimensions).
      heads: per student layer, the teacher heads kept.
      units: per student layer, the teacher feed-forward units kept.
    """

    layers: tuple
    dims: np.ndarray
    heads: tuple
    units: tuple


def _attention_mask(padding_mask):
    """[B, T] -> [B, T, T]: each query sees the real keys, as keras-hub's encoder does."""
    mask = ops.cast(padding_mask, "bool")[:, None, :]
    return ops.broadcast_to(mask, (mask.shape[0], mask.shape[2], mask.shape[2]))


def encoder_internals(backbone, inputs):
    """The teacher's forward pass, one LayerNorm at a time, from its own keras-hub layers.

    Args:
      backbone: a `BertBackbone` or `StudentEncoder` (no factorised embedding).
      inputs: a dict of `token_ids`, `segment_ids`, `padding_mask` [B, T].

    Yields:
      `("norm", index, z, x)` for each LayerNorm (input z, output x, [B, T, D]), and per
      layer `("context", i, context)` ([B, T, heads, head_dim]) and
      `("activation", i, a)` ([B, T, F]). The last `x` is the backbone's
      `sequence_output`.
    """
    tokens = backbone.token_embedding(inputs["token_ids"])
    z = backbone.embeddings_add((tokens, backbone.position_embedding(tokens),
                                 backbone.segment_embedding(inputs["segment_ids"])))
    x = backbone.embeddings_layer_norm(z)
    yield "norm", 0, z, x
    mask = _attention_mask(inputs["padding_mask"])
    for i, block in enumerate(backbone.transformer_layers):
        attention = block._self_attention_layer
        query, key, value = (attention.query_dense(x), attention.key_dense(x),
                             attention.value_dense(x))
        # keras' own attention (the scaling and masked softmax the layer uses).
        context, _ = attention._compute_attention(query, key, value, attention_mask=mask)
        yield "context", i, context
        z = x + attention.output_dense(context)
        x = block._self_attention_layer_norm(z)
        yield "norm", 2 * i + 1, z, x
        activation = block._feedforward_intermediate_dense(x)
        yield "activation", i, activation
        z = x + block._feedforward_output_dense(activation)
        x = block._feedforward_layer_norm(z)
        yield "norm", 2 * i + 2, z, x


def teacher_statistics(teacher, texts, sequence_length=128, batch_size=64):
    """Moments of the teacher's activations on `texts`, read with its own vocabulary.

    Args:
      teacher: a `Teacher` (`load_teacher`).
      texts: sentences or short paragraphs (a few thousand are plenty).
      sequence_length: the teacher's input length (longer texts are cut).
      batch_size: sentences a forward pass.

    Returns:
      A `TeacherStatistics`.

    Raises:
      ValueError: `texts` is empty.
    """
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("No sample text to measure the teacher on. Fix: pass sample files "
                         "with text (one sentence or paragraph a line).")
    backbone = teacher.backbone
    num_layers, heads = backbone.num_layers, backbone.num_heads
    hidden, head_dim = backbone.hidden_dim, backbone.hidden_dim // backbone.num_heads
    points = 2 * num_layers + 1
    statistics = TeacherStatistics(
        tokens=0,
        norm_input_sum=np.zeros((points, hidden)),
        norm_input_outer=np.zeros((points, hidden, hidden)),
        norm_output_sum=np.zeros((points, hidden)),
        norm_output_outer=np.zeros((points, hidden, hidden)),
        context_sum=np.zeros((num_layers, heads, head_dim)),
        context_outer=np.zeros((num_layers, heads, head_dim, head_dim)),
        activation_sum=np.zeros((num_layers, backbone.intermediate_dim)),
        activation_square=np.zeros((num_layers, backbone.intermediate_dim)),
    )
    preprocessor = SingleVocabPreprocessor(teacher.vocabulary, lower_case=teacher.lower_case,
                                           sequence_length=sequence_length)
    features = encode_texts(preprocessor, texts)
    lengths = features["padding_mask"].sum(1)
    order = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
    for begin in range(0, len(order), batch_size):
        rows = order[begin:begin + batch_size]
        width = int(lengths[rows].max())
        batch = {k: v[rows, :width] for k, v in features.items()}
        real = batch["padding_mask"].astype(bool)
        statistics.tokens += int(real.sum())

        def tokens_of(value):
            # [n, ...], the real tokens only; float32 sums within a batch, float64 across.
            return np.asarray(value, np.float32)[real]

        for kind, index, *values in encoder_internals(backbone, batch):
            if kind == "norm":
                z, x = tokens_of(values[0]), tokens_of(values[1])
                statistics.norm_input_sum[index] += z.sum(0)
                statistics.norm_input_outer[index] += z.T @ z
                statistics.norm_output_sum[index] += x.sum(0)
                statistics.norm_output_outer[index] += x.T @ x
            elif kind == "context":
                context = tokens_of(values[0])
                statistics.context_sum[index] += context.sum(0)
                statistics.context_outer[index] += np.einsum("nhk,nhl->hkl", context, context)
            else:
                activation = tokens_of(values[0])
                statistics.activation_sum[index] += activation.sum(0)
                statistics.activation_square[index] += (activation ** 2).sum(0)
    return statistics


def subclone_shape(backbone, student_size):
    """The `StudentSize` a subclone of `backbone` at `student_size` gets.

    Args:
      backbone: the teacher's `BertBackbone`.
      student_size: a name (`STUDENT_SIZES`), `"<layers>x<hidden>"` or a `StudentSize`; its
        layers, width and feed-forward width are kept, its head count is not: heads keep
        the teacher's width.

    Raises:
      ValueError: the student would be larger than the teacher anywhere, or its width is not
        a multiple of the teacher's head width; the message names the fix.
    """
    size = (student_size if isinstance(student_size, StudentSize)
            else parse_student_size(student_size))
    head_dim = backbone.hidden_dim // backbone.num_heads
    teacher = (f"the teacher ({backbone.num_layers} layers, width {backbone.hidden_dim}, "
               f"feed-forward {backbone.intermediate_dim})")
    if size.num_layers > backbone.num_layers:
        raise ValueError(
            f"Student size {student_size!r} has {size.num_layers} layers, more than {teacher}: "
            f"subcloning keeps teacher layers and cannot make new ones. Fix: choose at most "
            f"{backbone.num_layers} layers (e.g. '{backbone.num_layers}x{size.hidden_dim}'), or "
            "start a deeper student from the Stage I table (tools/distill_student.py "
            "--train_steps=0).")
    if size.hidden_dim > backbone.hidden_dim:
        raise ValueError(
            f"Student size {student_size!r} is {size.hidden_dim} wide, wider than {teacher}. "
            f"Fix: choose a width of at most {backbone.hidden_dim}.")
    if size.intermediate_dim > backbone.intermediate_dim:
        raise ValueError(
            f"Student size {student_size!r} has a feed-forward width of "
            f"{size.intermediate_dim}, wider than {teacher}. Fix: pass a StudentSize with "
            f"intermediate_dim <= {backbone.intermediate_dim}.")
    if size.hidden_dim % head_dim:
        raise ValueError(
            f"Student width {size.hidden_dim} is not a multiple of the teacher's head width "
            f"{head_dim}: subcloned heads keep their width. Fix: choose a width that is a "
            f"multiple of {head_dim} (e.g. {4 * head_dim}).")
    return StudentSize(size.num_layers, size.hidden_dim, size.hidden_dim // head_dim,
                       size.intermediate_dim)


def _moments(total, outer, count):
    mean = total / count
    return mean, outer / count - np.outer(mean, mean)


def _top(scores, count):
    """The indices of the `count` largest scores, in increasing index order."""
    return np.sort(np.argsort(-np.asarray(scores), kind="stable")[:count])


def _layer_map(teacher_layers, student_layers):
    """Evenly spaced teacher layers, the first and the last kept (one for one when equal)."""
    return tuple(int(round(i)) for i in np.linspace(0, teacher_layers - 1, student_layers))


def select_neurons(backbone, statistics, shape, selection="importance", seed=0):
    """Which layers, residual dimensions, heads and feed-forward units a student keeps.

    Args:
      backbone: the teacher's `BertBackbone`.
      statistics: its `TeacherStatistics`.
      shape: the student's `StudentSize` (`subclone_shape`).
      selection: `"importance"` (the method) or `"random"` (a uniformly random choice of the
        same sizes: the comparison that shows what the importance order is worth).
      seed: the random choice's seed.

    Returns:
      A `Selection`.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection={selection!r}; expected one of {SELECTIONS}.")
    layers = _layer_map(backbone.num_layers, shape.num_layers)
    if selection == "random":
        rng = np.random.default_rng(seed)

        def pick(total, count):
            return np.sort(rng.choice(total, count, replace=False))

        return Selection(layers, pick(backbone.hidden_dim, shape.hidden_dim),
                         tuple(pick(backbone.num_heads, shape.num_heads) for _ in layers),
                         tuple(pick(backbone.intermediate_dim, shape.intermediate_dim)
                               for _ in layers))
    n = statistics.tokens
    # The residual stream: the dimensions of largest RMS, summed over every LayerNorm output.
    square = np.diagonal(statistics.norm_output_outer, axis1=1, axis2=2) / n
    dims = _top(np.sqrt(square).sum(0), shape.hidden_dim)
    heads, units = [], []
    for t in layers:
        block = backbone.transformer_layers[t]
        # A head's worth: the mean square of what it writes into the kept dimensions.
        output = np.asarray(block._self_attention_layer.output_dense.kernel)[:, :, dims]
        written = np.einsum("hkl,hld,hkd->h", statistics.context_outer[t] / n, output, output)
        heads.append(_top(written, shape.num_heads))
        # A unit's likewise: its mean square activation times its output row's squared norm.
        down = np.asarray(block._feedforward_output_dense.kernel)[:, dims]
        written = statistics.activation_square[t] / n * (down ** 2).sum(1)
        units.append(_top(written, shape.intermediate_dim))
    return Selection(layers, dims, tuple(heads), tuple(units))


def _complement(kept, total):
    return np.setdiff1d(np.arange(total), kept)


def _read_kept(kernel, bias, statistics, point, dims):
    """A projection reading the stream at LayerNorm `point`, from the kept `dims` only.

    The dropped dimensions' part of its output, predicted linearly from the kept ones
    (least squares over the sample), folds into the kept rows and the bias.
    """
    shape = kernel.shape
    kernel, bias = kernel.reshape(shape[0], -1), bias.reshape(-1)
    dropped = _complement(dims, shape[0])
    kept_kernel, new_bias = kernel[dims], bias.copy()
    if len(dropped):
        mean, covariance = _moments(statistics.norm_output_sum[point],
                                    statistics.norm_output_outer[point], statistics.tokens)
        kept_cov = covariance[np.ix_(dims, dims)]
        ridge = 1e-4 * np.trace(kept_cov) / len(dims) * np.eye(len(dims))
        # x_dropped ~ A x_kept + a; A = C_dk C_kk^-1.
        fit = np.linalg.solve(kept_cov + ridge, covariance[np.ix_(dims, dropped)]).T
        offset = mean[dropped] - fit @ mean[dims]
        kept_kernel = kept_kernel + fit.T @ kernel[dropped]
        new_bias = new_bias + offset @ kernel[dropped]
    return kept_kernel.reshape((len(dims),) + shape[1:]), new_bias.reshape(shape[1:])


def _norm(gamma, beta, statistics, point, dims):
    """A LayerNorm over the kept `dims`, rescaled to the full LayerNorm's scale and mean.

    Over fewer dimensions the LayerNorm divides by their standard deviation `s_S`, not the
    full `s`, and subtracts their mean `m_S`, not `m`: the gain is multiplied by
    `sqrt(E[s_S^2] / E[s^2])` and the bias takes `gamma (E[m_S] - E[m]) / sqrt(E[s^2])`,
    both measured on the teacher's inputs to this LayerNorm.
    """
    total = gamma.shape[0]
    second = statistics.norm_input_outer[point] / statistics.tokens
    mean = statistics.norm_input_sum[point] / statistics.tokens

    def variance(index):
        block = second[np.ix_(index, index)]
        return np.trace(block) / len(index) - block.sum() / len(index) ** 2

    full = variance(np.arange(total))
    scale = np.sqrt(variance(dims) / full)
    shift = (mean[dims].mean() - mean.mean()) / np.sqrt(full)
    return gamma[dims] * scale, beta[dims] + gamma[dims] * shift


def subclone_weights(backbone, statistics, selection, token_rows):
    """The student's weights under `bert_checkpoint.variable_map` names.

    Args:
      backbone: the teacher's `BertBackbone`.
      statistics: its `TeacherStatistics`.
      selection: a `Selection`.
      token_rows: per student token, the teacher rows it is the mean of (`teacher_rows`,
        with `[UNK]`'s row for a token the teacher cannot spell).

    Returns:
      A dict {variable name: float32 array} for a `StudentEncoder`.
    """
    teacher = {name: np.asarray(v, np.float64) for name, v in variable_map(backbone).items()}
    dims = selection.dims
    # Each student row: the mean of its teacher rows (sums by token, then counts).
    flat = np.concatenate([np.asarray(rows, np.int64) for rows in token_rows])
    owner = np.repeat(np.arange(len(token_rows)), [len(rows) for rows in token_rows])
    table = np.zeros((len(token_rows), len(dims)))
    np.add.at(table, owner, teacher["bert/embeddings/word_embeddings"][flat][:, dims])
    weights = {
        "bert/embeddings/word_embeddings": table / np.bincount(owner)[:, None],
        "bert/embeddings/position_embeddings":
            teacher["bert/embeddings/position_embeddings"][:, dims],
        "bert/embeddings/token_type_embeddings":
            teacher["bert/embeddings/token_type_embeddings"][:, dims],
    }
    gamma, beta = _norm(teacher["bert/embeddings/LayerNorm/gamma"],
                        teacher["bert/embeddings/LayerNorm/beta"], statistics, 0, dims)
    weights["bert/embeddings/LayerNorm/gamma"], weights["bert/embeddings/LayerNorm/beta"] = \
        gamma, beta
    n = statistics.tokens
    previous = 0  # the LayerNorm point whose output the student layer reads
    for i, t in enumerate(selection.layers):
        source, target = f"bert/encoder/layer_{t}/", f"bert/encoder/layer_{i}/"
        heads, units = selection.heads[i], selection.units[i]
        for part in ("query", "key", "value"):
            name = f"attention/self/{part}/"
            kernel, bias = _read_kept(teacher[source + name + "kernel"],
                                      teacher[source + name + "bias"], statistics, previous,
                                      dims)
            weights[target + name + "kernel"] = kernel[:, heads]
            weights[target + name + "bias"] = bias[heads]
        # The attention output: kept heads into kept dims, the dropped heads' mean in the bias.
        output = teacher[source + "attention/output/dense/kernel"]
        dropped = _complement(heads, output.shape[0])
        mean_context = statistics.context_sum[t] / n
        weights[target + "attention/output/dense/kernel"] = output[heads][:, :, dims]
        weights[target + "attention/output/dense/bias"] = (
            teacher[source + "attention/output/dense/bias"][dims]
            + np.einsum("hk,hkd->d", mean_context[dropped], output[dropped][:, :, dims]))
        name = "attention/output/LayerNorm/"
        weights[target + name + "gamma"], weights[target + name + "beta"] = _norm(
            teacher[source + name + "gamma"], teacher[source + name + "beta"], statistics,
            2 * t + 1, dims)
        kernel, bias = _read_kept(teacher[source + "intermediate/dense/kernel"],
                                  teacher[source + "intermediate/dense/bias"], statistics,
                                  2 * t + 1, dims)
        weights[target + "intermediate/dense/kernel"] = kernel[:, units]
        weights[target + "intermediate/dense/bias"] = bias[units]
        down = teacher[source + "output/dense/kernel"]
        dropped = _complement(units, down.shape[0])
        mean_activation = statistics.activation_sum[t] / n
        weights[target + "output/dense/kernel"] = down[units][:, dims]
        weights[target + "output/dense/bias"] = (
            teacher[source + "output/dense/bias"][dims]
            + mean_activation[dropped] @ down[dropped][:, dims])
        name = "output/LayerNorm/"
        weights[target + name + "gamma"], weights[target + name + "beta"] = _norm(
            teacher[source + name + "gamma"], teacher[source + name + "beta"], statistics,
            2 * t + 2, dims)
        previous = 2 * t + 2
    # The pooler reads [CLS] only; the statistics of every token stand in for it.
    kernel, bias = _read_kept(teacher["bert/pooler/dense/kernel"],
                              teacher["bert/pooler/dense/bias"], statistics, previous, dims)
    weights["bert/pooler/dense/kernel"], weights["bert/pooler/dense/bias"] = \
        kernel[:, dims], bias[dims]
    return {name: value.astype(np.float32) for name, value in weights.items()}


def student_token_rows(teacher_vocabulary, student_vocabulary):
    """Per student token, the teacher rows its embedding is the mean of, and the counts.

    Returns:
      `(rows, counts)`: `rows` as `teacher_rows`, with the teacher's `[UNK]` row for a
      token the teacher cannot spell; `counts` a dict of `same_token`, `pieces`, `unknown`.
    """
    teacher_vocabulary = list(teacher_vocabulary)
    if "[UNK]" not in teacher_vocabulary:
        raise ValueError("The teacher's vocabulary has no [UNK] token. Fix: use a BERT "
                         "teacher whose vocab.txt has [UNK].")
    unknown = teacher_vocabulary.index("[UNK]")
    present = set(teacher_vocabulary)
    rows, counts = [], {"same_token": 0, "pieces": 0, "unknown": 0}
    for token, found in zip(student_vocabulary, teacher_rows(teacher_vocabulary,
                                                               student_vocabulary)):
        kind = "same_token" if token in present else "pieces" if found else "unknown"
        counts[kind] += 1
        rows.append(found or [unknown])
    return rows, counts


def subclone(teacher, student_vocabulary, student_size, statistics, selection="importance",
             seed=0, dropout=0.1):
    """A `StudentEncoder` subcloned from `teacher` (see the module docstring).

    Args:
      teacher: a `Teacher` (`load_teacher`).
      student_vocabulary: the student's tokens (its vocab.txt lines).
      student_size: a name (`STUDENT_SIZES`) or `"<layers>x<hidden>"` (`subclone_shape`).
      statistics: the teacher's `TeacherStatistics` (`teacher_statistics`).
      selection: `"importance"`, or `"random"` for a random choice of the same sizes.
      seed: the random choice's seed.
      dropout: the student's dropout rate.

    Returns:
      `(student, report)`: the `StudentEncoder` and a dict of what was kept.

    Raises:
      ValueError: the size does not fit the teacher (`subclone_shape`).
    """
    backbone = teacher.backbone
    shape = subclone_shape(backbone, student_size)
    chosen = select_neurons(backbone, statistics, shape, selection, seed)
    rows, counts = student_token_rows(teacher.vocabulary, list(student_vocabulary))
    student = StudentEncoder(
        vocabulary_size=len(rows), num_layers=shape.num_layers, hidden_dim=shape.hidden_dim,
        num_heads=shape.num_heads, intermediate_dim=shape.intermediate_dim,
        max_sequence_length=backbone.max_sequence_length,
        num_segments=backbone.num_segments, dropout=dropout)
    values = subclone_weights(backbone, statistics, chosen, rows)
    variables = variable_map(student)
    assert set(variables) == set(values), set(variables) ^ set(values)
    for name, variable in variables.items():
        variable.assign(values[name])
    report = {
        "selection": selection,
        "teacher_layers": list(chosen.layers),
        "residual_dims": chosen.dims.tolist(),
        "heads": [h.tolist() for h in chosen.heads],
        "head_dim": backbone.hidden_dim // backbone.num_heads,
        "sample_tokens": int(statistics.tokens),
        "student_tokens": counts,
    }
    return student, report


def subclone_student_directory(teacher_path, vocab_file, student_size, sample_files,
                               output_dir, sample_sentences=2000, sequence_length=128,
                               lower_case=None, selection="importance", seed=0,
                               overwrite=False, log=print):
    """Subclones a teacher into a student directory, written atomically.

    The directory (`student.keras`, `vocab.txt`, `config.json`) is what
    `tools/distill_embeddings.py --student=`, `tools/finetune.py --model=` and
    `load_encoder` read.

    Args:
      teacher_path: any teacher directory `load_teacher` reads.
      vocab_file: the student's vocab.txt.
      student_size: a name or `"<layers>x<hidden>"` (`subclone_shape`).
      sample_files: corpus files or globs (.txt or .txt.gz, one paragraph a line).
      output_dir: the student directory to write.
      sample_sentences: sentences the teacher's statistics are taken on
        (`corpus_sentences` of `sample_files`).
      sequence_length: the teacher's input length on the sample.
      lower_case: the student's casing (`None`: the teacher's).
      selection, seed: as in `subclone`.
      overwrite: replace an existing `output_dir`.
      log: progress messages.

    Returns:
      The directory's config dict.

    Raises:
      FileExistsError: `output_dir` exists and `overwrite` is False.
      ValueError: a bad size, vocabulary or sample (the message names the fix).
    """
    if os.path.exists(output_dir) and not overwrite:
        raise FileExistsError(f"{output_dir} already exists. Fix: choose a new output "
                              "directory, or pass --overwrite to replace it.")
    if sample_sentences < 1:
        raise ValueError(f"sample_sentences={sample_sentences}. Fix: pass a positive number "
                         "(a few thousand sentences are plenty).")
    teacher = load_teacher(teacher_path)
    lower_case = teacher.lower_case if lower_case is None else bool(lower_case)
    vocabulary = Vocabulary.load(vocab_file, lower_case)
    subclone_shape(teacher.backbone, student_size)  # a bad size fails before the teacher pass
    texts = corpus_sentences(sample_files, paragraphs_per_file=sample_sentences,
                             max_sentences=sample_sentences, seed=seed)
    if not texts:
        raise ValueError(f"{sample_files} gave no sentence of 5 words or more. Fix: pass "
                         "prose (one paragraph a line).")
    fewer = " (the sample has no more of 5 words or more)" if len(texts) < sample_sentences else ""
    log(f"teacher statistics on {len(texts)} sentences{fewer}")
    statistics = teacher_statistics(teacher, texts, sequence_length)
    student, report = subclone(teacher, vocabulary.tokens, student_size, statistics,
                               selection, seed)
    config = {
        "lower_case": lower_case,
        "sequence_length": sequence_length,
        "student_size": student_size,
        "num_layers": student.num_layers,
        "hidden_dim": student.hidden_dim,
        "num_heads": student.num_heads,
        "intermediate_dim": student.intermediate_dim,
        "parameters": int(student.count_params()),
        "subcloning": dict(report, teacher=str(teacher_path),
                           sample_files=[str(f) for f in sample_files],
                           sample_sentences=len(texts)),
    }
    write_directory_atomic(
        output_dir, lambda directory: save_student_directory(directory, student, vocabulary,
                                                             config))
    return config
