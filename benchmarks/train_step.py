"""Training throughput of Stage I and Stage II against keras-hub baselines, same run.

- Stage I: `MixedVocabTeacher` on mixed-vocabulary batches (p_sv=0.5) against
  keras-hub's `BertMaskedLM` training the same backbone on teacher-only batches.
- Stage II: `Distiller` (a `12x128` student, every loss on) against
  `BertMaskedLM` training a keras-hub `BertBackbone` of the student's shape
  plus a forward pass of the teacher on the same batch, timed separately.
- Stage II by sentence vectors (the pipeline's default; row `sentence`):
  `SentenceEmbeddingDistiller` on the same `12x128` student against a keras-hub
  `BertBackbone` of its shape with a masked average and a dense projection,
  both fit by cosine to fixed 384-wide targets (the teacher's vectors are
  cached before training, so neither side runs the teacher).

Both sides train on the same in-memory batch, so only the step is timed.
Prints examples per second and the ratio (target >= 0.8), per wall second
and per CPU second of this process (the CPU figure hardly moves when other
processes share the machine; wall ratios then swing by 2x), and real
(non-pad) tokens per second: examples/s times the batch's real tokens per
example, which packing raises (Stage I's baseline reads teacher-only
segmentation, fewer tokens a text than the mixed batch).

The batch is SNIPS utterances joined six at a time, or with --corpus the
first batch of the training pipeline's packed sequences of that corpus
(`text_line_dataset`; --nopack: one line a sequence).

Example:
  python benchmarks/train_step.py --batch_size=16 --sequence_length=128 --steps=10
  python benchmarks/train_step.py --corpus=../shared/data/corpora/wikipedia_en.txt.gz
"""

import json
import os
import time

from absl import app
from absl import flags

flags.DEFINE_integer("batch_size", 16, "Global batch size.")
flags.DEFINE_integer("sequence_length", 128, "Tokens per sequence.")
flags.DEFINE_integer("steps", 10, "Timed steps per measurement.")
flags.DEFINE_integer("warmup", 3, "Untimed steps (tracing) before timing.")
flags.DEFINE_integer("repeats", 3, "Measurements per model; the median is reported.")
flags.DEFINE_string("student_vocab", None, "Student vocab.txt; default: learned from SNIPS.")
flags.DEFINE_string("mixed_precision", None, "e.g. mixed_float16 on a GPU.")
flags.DEFINE_string("corpus", None, "Corpus files (globs, .gz read as gzip) for the batch; "
                    "default: SNIPS utterances joined six at a time.")
flags.DEFINE_bool("pack", True, "With --corpus: pack lines into sequences of about L tokens.")
FLAGS = flags.FLAGS


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def examples_per_second(model, x, y=None, sample_weight=None):
    """Median (wall, CPU) examples/s of `model.fit` steps on one cached batch."""
    import tensorflow as tf

    items = x if y is None else (x, y, sample_weight)
    data = tf.data.Dataset.from_tensors(items).repeat()
    model.fit(data, steps_per_epoch=FLAGS.warmup, epochs=1, verbose=0)
    rates, cpu_rates = [], []
    for _ in range(FLAGS.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(data, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0)
        rates.append(FLAGS.steps * FLAGS.batch_size / (time.perf_counter() - start))
        cpu_rates.append(FLAGS.steps * FLAGS.batch_size / (time.process_time() - cpu))
    return _median(rates), _median(cpu_rates)


def forward_seconds(fn, x):
    for _ in range(FLAGS.warmup):
        fn(x)
    times, cpu_times = [], []
    for _ in range(FLAGS.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(FLAGS.steps):
            fn(x)
        times.append((time.perf_counter() - start) / FLAGS.steps)
        cpu_times.append((time.process_time() - cpu) / FLAGS.steps)
    return _median(times), _median(cpu_times)


def _result(ours, base, ours_tokens, base_tokens):
    """(wall, CPU) example rates of both sides and their real tokens per example ->
    the printed record."""
    return {"ours": ours[0], "baseline": base[0], "ratio": ours[0] / base[0],
            "cpu": {"ours": ours[1], "baseline": base[1], "ratio": ours[1] / base[1]},
            "tokens_per_s": {"ours": ours[0] * ours_tokens, "baseline": base[0] * base_tokens},
            "tokens_per_cpu_s": {"ours": ours[1] * ours_tokens,
                                 "baseline": base[1] * base_tokens},
            "real_tokens_per_example": {"ours": ours_tokens, "baseline": base_tokens}}


def _real_tokens(batch):
    """Mean non-pad tokens per example of a preprocessed batch."""
    import numpy as np

    return float(np.mean(np.sum(batch["padding_mask"], axis=1)))


def _corpus_text(student_vocab, teacher):
    """The first batch of packed (or one-line) sequences of --corpus, as strings."""
    from mixvocab_tf.corpora import resolve_text_files
    from mixvocab_tf.preprocessing import SingleVocabPreprocessor
    from mixvocab_tf.training import text_data

    files = resolve_text_files(FLAGS.corpus)
    budget = None
    if FLAGS.pack:
        # Stage II's segmentation (the student vocabulary) sets the word budget, as in training.
        layer = SingleVocabPreprocessor(student_vocab, lower_case=teacher.lower_case,
                                        sequence_length=FLAGS.sequence_length)
        budget = text_data.word_budget(FLAGS.sequence_length,
                                       text_data.tokens_per_word(files, layer))
    data = text_data.text_line_dataset(files, FLAGS.batch_size, lambda x: x, seed=0,
                                       pack=FLAGS.pack, words_per_sequence=budget,
                                       shuffle_buffer=1000)
    return [t.decode("utf-8") for t in next(iter(data)).numpy()]


def main(argv):
    del argv
    import keras
    import keras_hub
    import tensorflow as tf

    from mixvocab_tf import paths
    from mixvocab_tf.stage2.distiller import Distiller
    from mixvocab_tf.stage2.sentence_embedding import SentenceEmbeddingDistiller
    from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
    from mixvocab_tf.models.student_encoder import STUDENT_SIZES
    from mixvocab_tf.models.student_encoder import StudentEncoder
    from mixvocab_tf.models.teacher_loading import load_teacher
    from mixvocab_tf.preprocessing import MixedVocabPreprocessor
    from mixvocab_tf.preprocessing import SingleVocabPreprocessor
    from mixvocab_tf.preprocessing.single_vocab_preprocessor import ENCODER_INPUTS
    from mixvocab_tf.vocab import learn_vocabulary

    if FLAGS.mixed_precision:
        keras.mixed_precision.set_global_policy(FLAGS.mixed_precision)

    snips = os.path.join(paths.shared_data_dir(), "tasks", "snips", "train", "seq.in")
    with open(snips, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    teacher = load_teacher(paths.minilm_teacher_path())
    student_vocab = FLAGS.student_vocab or learn_vocabulary(lines[:5000], 2000, teacher.lower_case)
    if FLAGS.corpus:
        text = _corpus_text(student_vocab, teacher)
    else:
        # Longer inputs: join utterances so sequences fill the length.
        text = [" ".join(lines[i : i + 6]) for i in range(0, 6 * FLAGS.batch_size, 6)]
    common = dict(sequence_length=FLAGS.sequence_length, masking_rate=0.15, max_predictions=20, seed=0)
    mixed = MixedVocabPreprocessor(teacher.vocabulary, student_vocab, p_sv=0.5, **common)
    teacher_only = MixedVocabPreprocessor(teacher.vocabulary, student_vocab, p_sv=0.0, **common)
    student_pre = SingleVocabPreprocessor(student_vocab, **common)
    mixed_batch = mixed(tf.constant(text))
    teacher_batch = teacher_only(tf.constant(text))
    student_batch = student_pre(tf.constant(text))
    v_s = student_pre.teacher_vocabulary.size

    def mlm_baseline(backbone, batch):
        model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
        model.compile(optimizer=keras.optimizers.AdamW(1e-4), weighted_metrics=[])
        x = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
        return examples_per_second(model, x, batch["mask_ids"], batch["mask_weights"])

    results = {}
    # Stage I.
    stage1 = MixedVocabTeacher(teacher.backbone, v_s, student_embedding_dim=128)
    stage1.compile(optimizer=keras.optimizers.AdamW(1e-4))
    ours = examples_per_second(stage1, dict(mixed_batch))
    baseline_backbone = keras_hub.models.BertBackbone.from_config(teacher.backbone.get_config())
    baseline_backbone.set_weights(teacher.backbone.get_weights())
    base = mlm_baseline(baseline_backbone, teacher_batch)
    results["stage1"] = _result(ours, base, _real_tokens(mixed_batch), _real_tokens(teacher_batch))

    # Stage II.
    size = STUDENT_SIZES["12x128"]
    student = StudentEncoder.from_size("12x128", vocabulary_size=v_s)
    distiller = Distiller(stage1, student, attention_weight=0.0)
    distiller.compile(optimizer=keras.optimizers.AdamW(1e-4))
    ours = examples_per_second(distiller, dict(student_batch))
    student_backbone = keras_hub.models.BertBackbone(
        vocabulary_size=v_s, num_layers=size.num_layers, num_heads=size.num_heads,
        hidden_dim=size.hidden_dim, intermediate_dim=size.intermediate_dim,
    )
    student_rate = mlm_baseline(student_backbone, student_batch)
    teacher_inputs = distiller.teacher_inputs(student_batch)
    forward = tf.function(
        lambda x: stage1(x, training=False, student_logits_only=True)["student_logits"]
    )
    teacher_seconds = forward_seconds(forward, teacher_inputs)
    base = tuple(FLAGS.batch_size / (FLAGS.batch_size / rate + seconds)
                 for rate, seconds in zip(student_rate, teacher_seconds))
    results["stage2"] = _result(ours, base, _real_tokens(student_batch),
                                _real_tokens(student_batch))

    # Stage II by sentence vectors: int32 inputs, as `encode_texts` gives them.
    x = {k: tf.cast(student_batch[k], tf.int32) for k in ENCODER_INPUTS}
    targets = tf.random.stateless_normal((FLAGS.batch_size, teacher.hidden_dim), seed=(0, 0))
    sentence = SentenceEmbeddingDistiller(
        StudentEncoder.from_size("12x128", vocabulary_size=v_s), teacher.hidden_dim)
    sentence.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=keras.losses.CosineSimilarity())
    ours = examples_per_second(sentence, x, targets)
    backbone = keras_hub.models.BertBackbone.from_config(student_backbone.get_config())
    inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in x}
    pooled = keras.layers.GlobalAveragePooling1D()(
        backbone(inputs)["sequence_output"], mask=keras.ops.cast(inputs["padding_mask"], "bool"))
    baseline = keras.Model(inputs, keras.layers.Dense(teacher.hidden_dim)(pooled))
    baseline.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=keras.losses.CosineSimilarity())
    base = examples_per_second(baseline, x, targets)
    results["sentence"] = _result(ours, base, _real_tokens(student_batch),
                                  _real_tokens(student_batch))

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    source = FLAGS.corpus and f"{FLAGS.corpus} ({'packed' if FLAGS.pack else 'one line each'})"
    print(f"device: {device}, batch {FLAGS.batch_size}, length {FLAGS.sequence_length}, "
          f"text: {source or 'SNIPS x6'}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'stage':8} {'ours ex/s':>10} {'baseline ex/s':>14} {'ratio':>6}"
          f" | {'per CPU-s: ours':>16} {'baseline':>9} {'ratio':>6}"
          f" | {'ours tok/s':>10} {'baseline tok/s':>14} {'ours tok/CPU-s':>14}"
          f" {'baseline tok/CPU-s':>18}")
    for stage, r in results.items():
        tok, cpu_tok = r["tokens_per_s"], r["tokens_per_cpu_s"]
        print(f"{stage:8} {r['ours']:10.1f} {r['baseline']:14.1f} {r['ratio']:6.2f}"
              f" | {r['cpu']['ours']:16.1f} {r['cpu']['baseline']:9.1f} {r['cpu']['ratio']:6.2f}"
              f" | {tok['ours']:10.0f} {tok['baseline']:14.0f} {cpu_tok['ours']:14.0f}"
              f" {cpu_tok['baseline']:18.0f}")
    print(json.dumps(results))


if __name__ == "__main__":
    app.run(main)
