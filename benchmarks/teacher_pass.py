"""Throughput of task distillation's teacher pass against keras-hub's `BertBackbone.predict`.

Both label the same transfer sentences (IMDB review sentences drawn as `distill_task` draws
them) with the same MiniLM backbone at the same L:

- ours: `task_distillation.teacher_logits` on a task model around the backbone (a fresh
  2-label head: weights do not change the cost), no cache: input encoding, rows batched by
  length (`predict_by_length`), the head, shards;
- baseline: `BertBackbone.predict` on the same token ids padded to L (encoding not timed,
  no head), the way a keras-hub user runs a backbone over a list of texts.

Prints sentences and real (non-pad) tokens per wall and per CPU second of each side and the
ratio ours / baseline (> 1: ours is faster), one JSON line at the end.

Example:
  python benchmarks/teacher_pass.py --examples=4096 --sequence_length=64
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_integer("examples", 4096, "Transfer sentences labelled by each side.")
flags.DEFINE_integer("sequence_length", 64, "L of both sides.")
flags.DEFINE_integer("batch_size", 256, "Inference batch of both sides.")
flags.DEFINE_string("corpus", None, "Transfer text (default: the shared IMDB reviews).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np

    from mixvocab_tf import paths
    from mixvocab_tf.tasks import heads
    from mixvocab_tf.tasks import readers
    from mixvocab_tf.tasks import task_distillation
    from mixvocab_tf.models.encoders import load_encoder
    from mixvocab_tf.tasks.inputs import InputEncoder
    from mixvocab_tf.tasks.inputs import model_inputs
    from mixvocab_tf.tasks.task_model import load_task_model
    from mixvocab_tf.tasks.task_model import save_task_model
    from mixvocab_tf.tasks.transfer_text import TransferTextConfig
    from mixvocab_tf.tasks.transfer_text import read_transfer_texts

    corpus = FLAGS.corpus or os.path.join(paths.shared_data_dir(), "corpora",
                                          "imdb_reviews_en.txt.gz")
    texts, _, _ = read_transfer_texts([corpus], "classification",
                                      TransferTextConfig(max_lines=FLAGS.examples))
    examples = readers.Examples(texts=texts, source=corpus)
    backbone, vocabulary, lower_case = load_encoder(paths.minilm_teacher_path())
    model = heads.build_task_model(backbone, "classification", num_labels=2, pooling="mean")
    with tempfile.TemporaryDirectory() as folder:
        config = {"task": "sst2", "type": "classification", "lower_case": lower_case,
                  "normalization": "bert", "sequence_length": FLAGS.sequence_length,
                  "pooling": "mean", "inputs": list(heads.ENCODER_INPUTS)}
        save_task_model(folder, model, vocabulary, ["0", "1"], config)
        teacher = load_task_model(folder)
        features = InputEncoder.for_task_model(teacher).encode_texts(texts)
        inputs = model_inputs(features)
        tokens = int(np.asarray(inputs["padding_mask"]).sum())
        # Warm both sides (traces) on a slice first.
        warm = examples.take(512)
        task_distillation.teacher_logits(folder, "classification", warm, None, FLAGS.batch_size,
                                         teacher)
        backbone.predict({k: v[:512] for k, v in inputs.items()}, batch_size=FLAGS.batch_size,
                         verbose=0)
        results = {}
        for name, run in (
                ("ours", lambda: task_distillation.teacher_logits(
                    folder, "classification", examples, None, FLAGS.batch_size, teacher)),
                ("keras_hub", lambda: backbone.predict(inputs, batch_size=FLAGS.batch_size,
                                                       verbose=0))):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            results[name] = {
                "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                "sentences_per_s": round(len(texts) / wall, 1),
                "sentences_per_cpu_s": round(len(texts) / cpu, 1),
                "tokens_per_s": round(tokens / wall, 1),
                "tokens_per_cpu_s": round(tokens / cpu, 1)}
    ours, base = results["ours"], results["keras_hub"]
    for name, row in results.items():
        print(f"{name:10s} {row['sentences_per_s']:8.1f} sentences/s "
              f"({row['sentences_per_cpu_s']:.1f} a CPU s), {row['tokens_per_s']:9.1f} tokens/s "
              f"({row['tokens_per_cpu_s']:.1f} a CPU s)")
    ratio = {"wall": round(ours["sentences_per_s"] / base["sentences_per_s"], 2),
             "cpu": round(ours["sentences_per_cpu_s"] / base["sentences_per_cpu_s"], 2)}
    print(f"ratio ours / keras-hub: {ratio['wall']} per wall second, {ratio['cpu']} per CPU "
          f"second ({len(texts)} sentences, {tokens / len(texts):.1f} real tokens a sentence, "
          f"L={FLAGS.sequence_length})")
    print(json.dumps({"examples": len(texts), "sequence_length": FLAGS.sequence_length,
                      "real_tokens": tokens, **results, "ratio": ratio}))


if __name__ == "__main__":
    app.run(main)
