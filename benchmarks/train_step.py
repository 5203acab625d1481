"""Training throughput of Stage I and Stage II against keras-hub baselines, same run.

- Stage I: `MixedVocabTeacher` on mixed-vocabulary batches (p_sv=0.5) against
  keras-hub's `BertMaskedLM` training the same backbone on teacher-only batches.
- Stage II: `Distiller` (a `12x128` student, every loss on) against
  `BertMaskedLM` training a keras-hub `BertBackbone` of the student's shape
  plus a forward pass of the teacher on the same batch, timed separately.

Both sides train on the same in-memory batch, so only the step is timed.
Prints examples per second and the ratio (target >= 0.8), per wall second
and per CPU second of this process (the CPU figure hardly moves when other
processes share the machine; wall ratios then swing by 2x).

Example:
  python benchmarks/train_step.py --batch_size=16 --sequence_length=128 --steps=10
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


def _result(ours, base):
    """(wall, CPU) rates of both sides -> the printed record."""
    return {"ours": ours[0], "baseline": base[0], "ratio": ours[0] / base[0],
            "cpu": {"ours": ours[1], "baseline": base[1], "ratio": ours[1] / base[1]}}


def main(argv):
    del argv
    import keras
    import keras_hub
    import tensorflow as tf

    from mixvocab_tf import paths
    from mixvocab_tf.distillation.distiller import Distiller
    from mixvocab_tf.models.mixed_vocab_teacher import MixedVocabTeacher
    from mixvocab_tf.models.student_encoder import STUDENT_SIZES
    from mixvocab_tf.models.student_encoder import StudentEncoder
    from mixvocab_tf.models.teacher import load_teacher
    from mixvocab_tf.preprocessing import MixedVocabPreprocessor
    from mixvocab_tf.preprocessing import SingleVocabPreprocessor
    from mixvocab_tf.vocab import learn_vocabulary

    if FLAGS.mixed_precision:
        keras.mixed_precision.set_global_policy(FLAGS.mixed_precision)

    snips = os.path.join(paths.shared_data_dir(), "tasks", "snips", "train", "seq.in")
    with open(snips, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    # Longer inputs: join utterances so sequences fill the length.
    text = [" ".join(lines[i : i + 6]) for i in range(0, 6 * FLAGS.batch_size, 6)]
    teacher = load_teacher(paths.minilm_teacher_path())
    student_vocab = FLAGS.student_vocab or learn_vocabulary(lines[:5000], 2000, teacher.lower_case)
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
    results["stage1"] = _result(ours, base)

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
    results["stage2"] = _result(ours, base)

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(f"device: {device}, batch {FLAGS.batch_size}, length {FLAGS.sequence_length}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'stage':8} {'ours ex/s':>10} {'baseline ex/s':>14} {'ratio':>6}"
          f" | {'per CPU-s: ours':>16} {'baseline':>9} {'ratio':>6}")
    for stage, r in results.items():
        print(f"{stage:8} {r['ours']:10.1f} {r['baseline']:14.1f} {r['ratio']:6.2f}"
              f" | {r['cpu']['ours']:16.1f} {r['cpu']['baseline']:9.1f} {r['cpu']['ratio']:6.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    app.run(main)
