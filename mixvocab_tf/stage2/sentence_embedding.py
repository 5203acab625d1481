"""Sentence-embedding distillation: the student learns the teacher's own sentence vectors.

Stage II's losses compare the student with the Stage I teacher reading *student-segmented*
text, which a CPU-budget Stage I teaches poorly, so at those budgets Stage II leaves the
student below random weights. This stage asks the student for what the original teacher does
well on its *own* vocabulary: the masked mean of its last layer, the sentence vector
all-MiniLM-L6-v2 was trained to produce. Teacher and student each
tokenise the same sentence with their own vocabulary; no alignment is needed because the
target is one vector a sentence (Reimers & Gurevych 2020, "Making monolingual sentence
embeddings multilingual using knowledge distillation"). The student's mean-pooled output goes
through a trainable projection H -> D and is trained by cosine distance to the teacher's.

What it gives against random weights and against Stage II by masked LM: docs/RESULTS.md.

The teacher's vectors are computed once, in shards written atomically under
`model_dir/teacher_embeddings/` (a killed run keeps every finished shard), so each student
epoch costs only the student. The student trains under any `tf.distribute` strategy
(`SentenceEmbeddingConfig.strategy`) and mixed precision (`.mixed_precision`); the teacher pass
runs on one device.

Example:
```python
result = distill_sentence_embeddings(
    SentenceEmbeddingConfig(max_sentences=20_000, epochs=1),
    student_dir="runs/stage1_table", teacher_path=paths.minilm_teacher_path(),
    train_files=["corpora/wikipedia_en.txt.gz", "corpora/eltec_novels_en.txt.gz"],
    model_dir="runs/sentence_embeddings")
finetune(FinetuneConfig(task="banking77"), result["export_dir"], data_dir, "runs/banking77")
```
"""

import math
import os
import random
import re
import time

import keras
import numpy as np
import tensorflow as tf

from mixvocab_tf import corpora
from mixvocab_tf.stage2.config import SentenceEmbeddingConfig
from mixvocab_tf.stage2.config import Stage2Config
from mixvocab_tf.stage2.student_distillation import distill_student
from mixvocab_tf.models.student_directory import load_student_directory
from mixvocab_tf.models.student_directory import save_student_directory
from mixvocab_tf.file_io import write_npz_atomic
from mixvocab_tf.layers.pooling import MaskedMeanPooling
from mixvocab_tf.models.teacher_loading import load_teacher
from mixvocab_tf.preprocessing.single_vocab_preprocessor import ENCODER_INPUTS
from mixvocab_tf.preprocessing.single_vocab_preprocessor import SingleVocabPreprocessor
from mixvocab_tf.preprocessing.single_vocab_preprocessor import encode_texts
from mixvocab_tf.preprocessing.word_alignment import WordAligner
from mixvocab_tf.training.checkpointing import fit_and_export
from mixvocab_tf.training.config import accepts_keyword_settings
from mixvocab_tf.training.config import config_from_keywords
from mixvocab_tf.training.config import flatten_config
from mixvocab_tf.training.length_buckets import length_bucketed
from mixvocab_tf.training.length_buckets import predict_by_length
from mixvocab_tf.training.optimization import create_optimizer
from mixvocab_tf.training.optimization import unread_pooler_ignored
from mixvocab_tf.training.run_setup import prepare_model_dir
from mixvocab_tf.training.strategy import get_strategy

TEACHER_EMBEDDINGS_DIR = "teacher_embeddings"
SHARD_SIZE = 16384
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(paragraph, min_words=5, max_words=40):
    """The sentences of a paragraph (split after . ! ?), each cut to `max_words` words.

    Sentences shorter than `min_words` (headings, dialogue tags) are dropped.

    Example:
    >>> split_sentences("It rained all day. We stayed in and read old letters.", min_words=3)
    ['It rained all day.', 'We stayed in and read old letters.']
    """
    sentences = []
    for sentence in _SENTENCE_END.split(paragraph):
        words = sentence.split()
        if len(words) >= min_words:
            sentences.append(" ".join(words[:max_words]))
    return sentences


def corpus_sentences(files, paragraphs_per_file=50_000, max_sentences=None, seed=0):
    """Sentences from an equal random sample of paragraphs of each corpus file, shuffled.

    Each file contributes the same number of paragraphs, so a small corpus (novels) is not
    drowned by a large one (Wikipedia).

    Args:
      files: corpus paths or globs (.txt or .txt.gz, one paragraph a line).
      paragraphs_per_file: paragraphs sampled from each file.
      max_sentences: keep at most this many (None: all).
      seed: sampling and shuffling seed.
    """
    sentences = []
    for path in corpora.resolve_text_files(files):
        for paragraph in corpora.sample_lines([path], paragraphs_per_file, seed=seed + 1):
            sentences.extend(split_sentences(paragraph))
    random.Random(seed).shuffle(sentences)
    return sentences[:max_sentences] if max_sentences else sentences


def sentence_embedder(backbone):
    """A model from encoder inputs to the masked mean of `sequence_output`: [B, H]."""
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in ENCODER_INPUTS}
    sequence = backbone(inputs)["sequence_output"]
    return keras.Model(inputs, MaskedMeanPooling()(sequence, inputs["padding_mask"]))


def _sharded(sentences, cache_dir, compute, log, what):
    """`compute(texts) -> {name: array}` over `sentences` in shards of `SHARD_SIZE`, each
    written atomically to `cache_dir/shardNNN.npz` with its texts (a last, shorter shard to
    `shardNNN_<count>.npz`, so that runs on prefixes of one sentence draw can share
    `cache_dir` without overwriting each other's shards); a shard whose texts match is read
    instead of recomputed. Arrays are stored and returned as float16 (a million sentences'
    word states are 18 GB as float32).

    Returns:
      ({name: float16 array [N, ...]}, the CPU seconds this call spent computing).
    """
    os.makedirs(cache_dir, exist_ok=True)
    parts, cpu = [], 0.0
    for index, begin in enumerate(range(0, len(sentences), SHARD_SIZE)):
        texts = sentences[begin:begin + SHARD_SIZE]
        name = f"shard{index:03d}" + ("" if len(texts) == SHARD_SIZE else f"_{len(texts)}")
        path = os.path.join(cache_dir, name + ".npz")
        if os.path.isfile(path):
            with np.load(path) as cached:
                if len(cached["texts"]) == len(texts) and list(cached["texts"]) == texts:
                    parts.append({k: cached[k] for k in cached.files if k != "texts"})
                    continue
        started = time.process_time()
        stored = {k: v.astype(np.float16) for k, v in compute(texts).items()}
        cpu += time.process_time() - started
        write_npz_atomic(path, texts=np.array(texts), **stored)
        parts.append(stored)
        log(f"teacher {what}: shard {index} ({len(texts)} sentences) written")
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}, cpu


def teacher_embeddings(teacher, sentences, cache_dir, sequence_length=96, batch_size=256,
                       log=print):
    """The teacher's sentence vectors of `sentences` [N, D] (float32), computed shard by shard
    in `cache_dir` (`_sharded`: resumable, shared by runs on prefixes of one draw).

    Returns:
      (embeddings, cpu_seconds): the vectors and the CPU seconds this call spent computing.
    """
    model = {}

    def compute(texts):
        if not model:
            model["embedder"] = sentence_embedder(teacher.backbone)
            model["preprocessor"] = SingleVocabPreprocessor(
                teacher.vocabulary, lower_case=teacher.lower_case, sequence_length=sequence_length)
        inputs = encode_texts(model["preprocessor"], texts)
        return {"emb": predict_by_length(model["embedder"], inputs, batch_size)}

    arrays, cpu = _sharded(sentences, cache_dir, compute, log, "sentence vectors")
    return arrays["emb"].astype(np.float32), cpu


def word_index(word_starts, sequence_length):
    """[N, W] first-piece positions (-1: none) -> [N, L]: the word's index at each first
    piece, -1 elsewhere (per token, so length bucketing cuts it with the ids).

    Example:
    >>> word_index(np.array([[1, 3, -1]]), 5).tolist()
    [[-1, 0, -1, 1, -1]]
    """
    index = np.full((len(word_starts), sequence_length), -1, np.int32)
    rows, words = np.nonzero(word_starts >= 0)
    index[rows, word_starts[rows, words]] = words
    return index


def encode_words(vocabulary, lower_case, sentences, sequence_length):
    """Encoder inputs of `sentences` plus "word_index" [N, L] (`word_index`); words are split
    on whitespace, and the ids equal `encode_texts`' (`WordAligner`)."""
    encoded = WordAligner(vocabulary, lower_case, sequence_length).encode(
        [sentence.split() for sentence in sentences])
    inputs = {k: encoded[k].astype(np.int32) for k in ENCODER_INPUTS}
    inputs["word_index"] = word_index(encoded["word_starts"], sequence_length)
    return inputs


def gather_words(sequence, word_index_tensor, max_words):
    """[B, L, H] -> [B, W, H]: each of the first `max_words` words' state at its first piece
    (zeros for a word the sentence lacks), and [B, W] whether the word is there."""
    one_hot = keras.ops.one_hot(word_index_tensor, max_words, dtype=sequence.dtype)  # -1: zeros
    words = keras.ops.einsum("blw,blh->bwh", one_hot, sequence)
    return words, keras.ops.sum(one_hot, axis=1) > 0


def teacher_word_states(teacher, sentences, cache_dir, sequence_length=96, max_words=24,
                        batch_size=256, log=print):
    """The teacher's sentence vectors [N, D] and its last hidden state at each of the first
    `max_words` words' first piece [N, W, D] (zeros where a sentence has fewer words), in
    resumable shards under `cache_dir` as `teacher_embeddings`.

    Returns:
      (embeddings float32, word_states float16, cpu_seconds).
    """
    model = {}

    def compute(texts):
        if not model:
            inputs = {name: keras.Input((None,), dtype="int32", name=name)
                      for name in (*ENCODER_INPUTS, "word_index")}
            sequence = teacher.backbone({k: inputs[k] for k in ENCODER_INPUTS})["sequence_output"]
            pooled = MaskedMeanPooling()(sequence, inputs["padding_mask"])
            words, _ = gather_words(sequence, inputs["word_index"], max_words)
            # One output a row, so `predict_by_length` can bucket it: [B, 1 + W, D].
            model["both"] = keras.Model(inputs, keras.ops.concatenate(
                [keras.ops.expand_dims(pooled, 1), words], axis=1))
        inputs = encode_words(teacher.vocabulary, teacher.lower_case, texts, sequence_length)
        both = predict_by_length(model["both"], inputs, batch_size)
        return {"emb": both[:, 0], "words": both[:, 1:]}

    arrays, cpu = _sharded(sentences, cache_dir, compute, log, "sentence and word vectors")
    return arrays["emb"].astype(np.float32), arrays["words"], cpu


def word_cosine_distance(y_true, y_pred):
    """Mean over the words both sides have (a zero row: a word one side lacks) of 1 - cosine;
    [B]. A sentence with no such word costs 0."""
    y_true = keras.ops.cast(y_true, y_pred.dtype)
    true_norm = keras.ops.norm(y_true, axis=-1)
    pred_norm = keras.ops.norm(y_pred, axis=-1)
    valid = keras.ops.cast((true_norm > 0) & (pred_norm > 0), y_pred.dtype)
    cosine = keras.ops.sum(y_true * y_pred, axis=-1) / keras.ops.maximum(
        true_norm * pred_norm, 1e-12)
    return keras.ops.sum((1.0 - cosine) * valid, axis=-1) / keras.ops.maximum(
        keras.ops.sum(valid, axis=-1), 1.0)


def with_dtype_policy(encoder, policy):
    """A copy of `encoder` (a Keras backbone) in the dtype `policy`, with equal weights.

    Its variables are created where this is called, so inside a strategy scope they are
    the strategy's.
    """
    copy = type(encoder).from_config(dict(encoder.get_config(), dtype=policy))
    copy.set_weights(encoder.get_weights())
    return copy


@keras.saving.register_keras_serializable(package="mixvocab_tf")
class SentenceEmbeddingDistiller(keras.Model):
    """A student whose mean-pooled output, projected H -> D, predicts a teacher's sentence vector.

    Train with `keras.losses.CosineSimilarity()` against the teacher's vectors; only the
    student is kept afterwards.

    Args:
      student: a `StudentEncoder` (any encoder returning "sequence_output").
      teacher_dim: D, the teacher's hidden size.
      max_words: > 0: also output {"words": [B, W, D]}, the student's state at each of the
        first W words' first piece (input "word_index", `word_index`) through the same
        projection, for `word_cosine_distance` against the teacher's; outputs are then
        {"sentence", "words"}.

    Example:
    >>> distiller = SentenceEmbeddingDistiller(student, teacher_dim=384)
    >>> distiller.compile(optimizer="adam", loss=keras.losses.CosineSimilarity())
    >>> distiller.fit(student_inputs_and_teacher_vectors, epochs=1)
    """

    def __init__(self, student, teacher_dim, max_words=0, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.teacher_dim = teacher_dim
        self.max_words = max_words
        self.pooling = MaskedMeanPooling(name="mean_pooling")
        # float32 under mixed precision too: the cosine to the teacher is taken in float32.
        self.projection = keras.layers.Dense(
            teacher_dim, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype="float32", name="sentence_projection")

    def call(self, inputs, training=False):
        sequence = self.student({k: inputs[k] for k in ENCODER_INPUTS},
                                training=training)["sequence_output"]
        sentence = self.projection(self.pooling(sequence, inputs["padding_mask"]))
        if not self.max_words:
            return sentence
        words, present = gather_words(sequence, inputs["word_index"], self.max_words)
        # A word the student's sentence lacks (cut by its length) is a zero row: not compared.
        words = self.projection(words) * keras.ops.cast(
            keras.ops.expand_dims(present, -1), "float32")
        return {"sentence": sentence, "words": words}

    def get_config(self):
        config = super().get_config()
        config.update({"student": keras.saving.serialize_keras_object(self.student),
                       "teacher_dim": self.teacher_dim, "max_words": self.max_words})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        return cls(**config)


@accepts_keyword_settings(SentenceEmbeddingConfig)
def distill_sentence_embeddings(config, student_dir, teacher_path, train_files, model_dir, *,
                                teacher_cache_dir=None, verbose="auto"):
    """Trains a student on the teacher's sentence vectors; writes `model_dir/export`.

    Args:
      config: a `SentenceEmbeddingConfig`: the sentence sample, lengths and training. (The
        0.1 call, every setting a keyword argument after the inputs, still works for one
        release and warns: `accepts_keyword_settings`.)
      student_dir: the student to start from: a Stage II student directory, or the Stage I
        table with random layers (`tools/distill_student.py --train_steps=0`).
      teacher_path: the original teacher (any directory `load_teacher` reads), not the
        Stage I export: its vectors on its own vocabulary are the target.
      train_files: corpus files or globs (natural prose: Wikipedia, novels).
      model_dir: the run directory (`flags.json`, `teacher_embeddings/`, `checkpoints/`,
        `logs/`, `export/`); rerunning resumes, and a rerun with other settings is refused.
      teacher_cache_dir: where the teacher's vectors are kept (default
        `model_dir/teacher_embeddings`). Runs whose sentences are prefixes of one draw (the
        same files, `paragraphs_per_file` and `seed`, another `max_sentences`) can share one,
        so a budget curve pays the teacher once for its largest run.
      verbose: `fit` verbosity.

    Returns:
      A dict: `export_dir`, `metrics`, `history`, `held_out_cosine_start`, `sentences`,
      `teacher_cpu_seconds`.
    """
    train_files = list(corpora.resolve_text_files(train_files))
    record = dict(student_dir=student_dir, teacher_path=teacher_path, train_files=train_files,
                  model_dir=model_dir, **flatten_config(config))
    if not config.word_weight:  # runs made before the word term was added still resume
        del record["word_weight"], record["max_words"]
    max_words = config.max_words if config.word_weight else 0
    # Multi-worker collectives must be configured before any TensorFlow op runs.
    distribution = get_strategy(config.strategy)
    student, vocabulary, student_config = load_student_directory(student_dir)
    teacher = load_teacher(teacher_path)
    if config.teacher_sequence_length > teacher.backbone.max_sequence_length:
        raise ValueError(
            f"teacher_sequence_length={config.teacher_sequence_length} is longer than the "
            f"teacher's {teacher.backbone.max_sequence_length} positions. Fix: pass "
            f"--teacher_sequence_length={teacher.backbone.max_sequence_length} or less.")
    prepare_model_dir(model_dir, record)
    keras.utils.set_random_seed(config.seed)
    sentences = corpus_sentences(train_files, config.paragraphs_per_file, config.max_sentences,
                                 config.seed)
    if len(sentences) <= config.held_out_sentences:
        raise ValueError(
            f"The corpus gave {len(sentences)} sentences, no more than the "
            f"{config.held_out_sentences} held out. Fix: more --paragraphs_per_file or a larger "
            "corpus.")
    cache_dir = teacher_cache_dir or os.path.join(model_dir, TEACHER_EMBEDDINGS_DIR)
    if max_words:
        vectors, word_states, teacher_cpu = teacher_word_states(
            teacher, sentences, os.path.join(cache_dir, f"words{max_words}"),
            config.teacher_sequence_length, max_words)
        targets = {"sentence": vectors, "words": word_states}  # float16: cast in the loss
        features = encode_words(vocabulary, student_config["lower_case"], sentences,
                                config.sequence_length)
    else:
        targets, teacher_cpu = teacher_embeddings(teacher, sentences, cache_dir,
                                                  config.teacher_sequence_length)
        preprocessor = SingleVocabPreprocessor(
            vocabulary, lower_case=student_config["lower_case"],
            sequence_length=config.sequence_length)
        features = encode_texts(preprocessor, sentences)
    train_count = len(sentences) - config.held_out_sentences
    head = lambda value: tf.nest.map_structure(lambda array: array[:train_count], value)
    tail = lambda value: tf.nest.map_structure(lambda array: array[train_count:], value)
    train = tf.data.Dataset.from_tensor_slices((head(features), head(targets)))
    train = length_bucketed(train.shuffle(train_count, seed=config.seed).repeat(),
                            config.batch_size, config.sequence_length,
                            sequence_targets=False).prefetch(tf.data.AUTOTUNE)
    held_out = tf.data.Dataset.from_tensor_slices((tail(features), tail(targets)))
    held_out = held_out.batch(config.batch_size).repeat()
    eval_steps = math.ceil(config.held_out_sentences / config.batch_size)
    train_steps = max(int(config.epochs * train_count / config.batch_size), 1)

    policy = config.mixed_precision or "float32"
    with distribution.scope():
        # The loaded student's variables live outside the scope (and in its saved policy):
        # a copy made here trains under the strategy and the precision asked for. The
        # policy is the models', not Keras' global one, which this leaves as it was; the
        # distiller's mixed_float16 policy makes `compile` scale the loss.
        student = with_dtype_policy(student, policy)
        distiller = SentenceEmbeddingDistiller(student, teacher.hidden_dim, max_words,
                                               dtype=policy)
        cosine = keras.metrics.CosineSimilarity(name="cosine")
        losses = ({"loss": {"sentence": keras.losses.CosineSimilarity(),
                            "words": word_cosine_distance},
                   "loss_weights": {"sentence": 1.0, "words": config.word_weight},
                   "metrics": {"sentence": [cosine]}} if max_words else
                  {"loss": keras.losses.CosineSimilarity(), "metrics": [cosine]})
        distiller.compile(optimizer=create_optimizer(config.learning_rate, train_steps,
                                                     config.warmup_fraction), **losses)
        distiller(next(iter(held_out))[0])
        distiller.optimizer.build(distiller.trainable_variables)
    start = _cosine_named(distiller.evaluate(held_out, steps=eval_steps, verbose=0,
                                             return_dict=True))
    print(f"held-out cosine to the teacher before training: {start['cosine']:.4f} "
          f"({config.held_out_sentences} sentences)")

    def write(directory, metrics):
        saved = student if not config.mixed_precision else with_dtype_policy(student, "float32")
        save_student_directory(directory, saved, vocabulary, dict(
            student_config,
            sequence_length=config.sequence_length,
            sentence_embedding_distillation={
                "teacher": str(teacher_path),
                "start_student": str(student_dir),
                "train_files": train_files,
                "sentences": train_count,
                "held_out_sentences": config.held_out_sentences,
                "epochs": config.epochs,
                "train_steps": int(distiller.optimizer.iterations.numpy()),
                "held_out_cosine_start": float(start["cosine"]),
                "final_metrics": _cosine_named(metrics),
                **({"word_weight": config.word_weight, "max_words": max_words}
                   if max_words else {}),
            }))

    with unread_pooler_ignored():
        result = fit_and_export(distiller, train, train_steps, model_dir, write,
                                steps_per_loop=config.steps_per_loop, eval_dataset=held_out,
                                eval_steps=eval_steps, verbose=verbose)
    result["metrics"] = _cosine_named(result["metrics"])
    result.update(held_out_cosine_start=float(start["cosine"]), sentences=train_count,
                  teacher_cpu_seconds=teacher_cpu)
    return result


def _cosine_named(metrics):
    """With the word term Keras names the sentence cosine after its output
    ("sentence_cosine"); the records keep one name for it: "cosine" / "val_cosine"."""
    return {re.sub(r"^(val_)?sentence_cosine$", r"\1cosine", k): v for k, v in metrics.items()}


STAGE1_TABLE_DIR = "stage1_table"


def distill_from_stage1_table(stage1_dir, teacher_path, train_files, model_dir, sentences,
                              held_out_sentences, student_size=Stage2Config.student_size,
                              epochs=SentenceEmbeddingConfig.epochs,
                              batch_size=SentenceEmbeddingConfig.batch_size,
                              learning_rate=SentenceEmbeddingConfig.learning_rate,
                              sequence_length=SentenceEmbeddingConfig.sequence_length,
                              steps_per_loop=SentenceEmbeddingConfig.steps_per_loop,
                              strategy=SentenceEmbeddingConfig.strategy,
                              seed=SentenceEmbeddingConfig.seed, verbose="auto",
                              table_settings=None):
    """Stage II by sentence vectors: the Stage I table with random layers
    (`model_dir/stage1_table/`, a zero-step `distill_student`) learns the original teacher's
    mean-pooled vectors on `sentences` corpus sentences (`held_out_sentences` more held out).
    The teacher reads 1.5x the student's length: its vocabulary splits words less, but every
    sentence must fit.

    `strategy`: the sentence distillation's (`distill_sentence_embeddings`).
    `table_settings`: flat settings of the zero-step `distill_student` (`Stage2Config`'s,
    e.g. `sequence_length`, `batch_size`, `strategy`, and its input `eval_files`; its own
    defaults otherwise). Returns `distill_sentence_embeddings`' result.

    Example:
    >>> distill_from_stage1_table("runs/stage1", paths.minilm_teacher_path(),
    ...                           ["corpus.txt.gz"], "runs/stage2", sentences=16_384,
    ...                           held_out_sentences=2048)
    """
    table = os.path.join(model_dir, STAGE1_TABLE_DIR)
    settings = dict(table_settings or {})
    eval_files = settings.pop("eval_files", None)
    table_config = config_from_keywords(Stage2Config, student_size=student_size, train_steps=0,
                                        **settings)
    distill_student(table_config, stage1_dir, train_files, table, eval_files=eval_files,
                    verbose=verbose)
    config = SentenceEmbeddingConfig(
        max_sentences=sentences + held_out_sentences, held_out_sentences=held_out_sentences,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        sequence_length=sequence_length, teacher_sequence_length=sequence_length * 3 // 2,
        steps_per_loop=steps_per_loop, strategy=strategy, seed=seed)
    return distill_sentence_embeddings(config, os.path.join(table, "export"), teacher_path,
                                       train_files, model_dir, verbose=verbose)
